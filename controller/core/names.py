"""Names and ids: the one check every entry point runs on them.

A deployment id, a stack, an environment or a project name ends up in a folder name, a
Pulumi stack name, a git path and a job name, so it must match its pattern exactly:
`re.match` with `$` lets a trailing newline through (`"network\n"` matches
`^[a-z]…$`), which is how a stack called `"network\n"` once got stored. Every check here
is `fullmatch`, and the patterns keep their `^…$` form only because the JSON Schemas
generated from the models carry them to editors, where `$` means the very end.

The models (`core.models`), the API's path parameters, the WebSocket channels, the CLI
arguments and the action's inputs all call `name_problem` / `is_name`. A purely
computational module.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Final

DEPLOYMENT_ID_PATTERN: Final = r"^D[0-9A-Z]{6}$"
ACCOUNT_ID_PATTERN: Final = r"^[0-9]{12}$"
ENVIRONMENT_PATTERN: Final = r"^[a-z][a-z0-9-]{0,19}$"
STACK_NAME_PATTERN: Final = r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$"
CONFIG_KEY_PATTERN: Final = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.]{0,49}$"
PROJECT_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$"
REGION_PATTERN: Final = r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$"
DOMAIN_PATTERN: Final = (
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
EMAIL_PATTERN: Final = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
API_KEY_ID_PATTERN: Final = r"^key-[0-9a-f]{16}$"
OPERATION_ID_PATTERN: Final = r"^op-[0-9a-f]{6,32}$"
SECRET_NAME_PATTERN: Final = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
ROLE_ARN_PATTERN: Final = r"^arn:aws(-us-gov|-cn)?:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$"

# kind -> (pattern, what a person reads when a value does not fit)
NAMES: Final[dict[str, tuple[str, str]]] = {
    "deployment_id": (
        DEPLOYMENT_ID_PATTERN,
        "deploymentId must be 'D' followed by 6 digits or capital letters (e.g. D1BRV40)",
    ),
    "account_id": (ACCOUNT_ID_PATTERN, "AWS account id must be exactly 12 digits"),
    "environment_name": (
        ENVIRONMENT_PATTERN,
        "environment name must be lowercase letters, digits and '-', starting with a letter, "
        "at most 20 characters",
    ),
    "stack_name": (
        STACK_NAME_PATTERN,
        "stack name must be lowercase letters, digits and '-', 2 to 40 characters",
    ),
    "config_key": (
        CONFIG_KEY_PATTERN,
        "config key must be a letter followed by letters, digits or '_'",
    ),
    "organization": (NAME_PATTERN, "organization must be 1-50 letters, digits, '_' or '.'"),
    "project": (PROJECT_PATTERN, "project must be 1-50 letters, digits, '_', '.' or '-'"),
    "region": (REGION_PATTERN, "region must be an AWS region like us-east-1"),
    "domain": (DOMAIN_PATTERN, "domain must be a DNS name"),
    "email": (EMAIL_PATTERN, "email must look like name@example.com"),
    "key_id": (API_KEY_ID_PATTERN, "an API key id is 'key-' and 16 hex digits"),
    "operation_id": (OPERATION_ID_PATTERN, "an operation id is 'op-' and 6 to 32 hex digits"),
    "role_arn": (
        ROLE_ARN_PATTERN,
        "role ARN must look like arn:aws:iam::<12-digit account>:role/<name>",
    ),
    "secret_name": (
        SECRET_NAME_PATTERN,
        "a secret name must be a letter followed by letters, digits or '_'",
    ),
}


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def matches(pattern: str, value: str) -> bool:
    """Whether the whole of `value` matches `pattern` (a trailing newline does not)."""
    return _compiled(pattern).fullmatch(value) is not None


def is_name(kind: str, value: object) -> bool:
    return isinstance(value, str) and matches(NAMES[kind][0], value)


def name_problem(kind: str, value: object) -> str | None:
    """What is wrong with `value` as a `kind` (its explanation), or None when it fits."""
    return None if is_name(kind, value) else NAMES[kind][1]
