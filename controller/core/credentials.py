"""Which cloud role a job assumes for a deployment environment, per phase.

Least privilege per phase: a deploy (apply, destroy, removal) assumes the environment's
*deploy* role; a preview, a plan that reads the backend, or a drift check assumes its
*plan* role, a separate read-only one, never the deploy role. Both live in the
environment's own AWS account, so a job for one tenant's `prod` can reach that account and
no other (and Pulumi refuses any other account: the stack config carries
`aws:allowedAccountIds`).

A role is written in the manifest (`environments.<env>.roleArn`, `planRoleArn`) or built
by the repository's naming convention from the environment's account:
`arn:<partition>:iam::<account>:role/<name>`, where the name is the repository variable
`CLOUD_DEPLOY_ROLE_NAME` (default `cloud-deploy`) or `CLOUD_PLAN_ROLE_NAME` (default
`cloud-plan`). A purely computational module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from controller.core.models import Manifest

Phase = Literal["deploy", "plan"]
PHASES: tuple[Phase, ...] = ("deploy", "plan")
ROLE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9+=,.@_/-]{1,64}$")
CONVENTION_VARIABLES = {"deploy": "CLOUD_DEPLOY_ROLE_NAME", "plan": "CLOUD_PLAN_ROLE_NAME"}
DEFAULT_ROLE_NAMES = {"deploy": "cloud-deploy", "plan": "cloud-plan"}


class ConventionError(ValueError):
    """A role naming convention that cannot name a role (bad repository variable)."""


@dataclass(frozen=True)
class RoleConvention:
    """The role names the repository's convention gives every account."""

    deploy_name: str = DEFAULT_ROLE_NAMES["deploy"]
    plan_name: str = DEFAULT_ROLE_NAMES["plan"]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RoleConvention:
        """The convention from `CLOUD_DEPLOY_ROLE_NAME` / `CLOUD_PLAN_ROLE_NAME`."""
        names = {
            phase: (env.get(variable) or "").strip() or DEFAULT_ROLE_NAMES[phase]
            for phase, variable in CONVENTION_VARIABLES.items()
        }
        for phase, name in names.items():
            if not ROLE_NAME_PATTERN.match(name):
                raise ConventionError(
                    f"{CONVENTION_VARIABLES[phase]}={name!r} is not an IAM role name "
                    "(letters, digits and +=,.@_/-, at most 64)"
                )
        if names["deploy"] == names["plan"]:
            raise ConventionError(
                f"{CONVENTION_VARIABLES['deploy']} and {CONVENTION_VARIABLES['plan']} are both "
                f"{names['deploy']!r}: previews must not run with the deploy role"
            )
        return cls(names["deploy"], names["plan"])

    def name(self, phase: Phase) -> str:
        return self.deploy_name if phase == "deploy" else self.plan_name


@dataclass(frozen=True)
class EnvironmentRoles:
    """The account of a deployment environment and the role of each phase there."""

    account: str
    deploy: str
    plan: str
    explicit: frozenset[Phase] = frozenset()  # phases whose role the manifest names

    def role(self, phase: Phase) -> str:
        return self.deploy if phase == "deploy" else self.plan


def partition_of(region: str) -> str:
    """The AWS partition of a region (`aws`, `aws-us-gov`, `aws-cn`)."""
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws"


def arn_account(arn: str) -> str:
    return arn.split(":")[4]


def convention_arn(account: str, name: str, *, region: str) -> str:
    return f"arn:{partition_of(region)}:iam::{account}:role/{name}"


def resolve_roles(
    manifest: Manifest, environment: str, convention: RoleConvention = RoleConvention()
) -> EnvironmentRoles | None:
    """The roles of one environment, or None when neither an account nor a role is known."""
    settings = manifest.environments.get(environment)
    account = manifest.account_for(environment)
    if settings is None or account is None:
        return None
    region = manifest.region_for(environment)
    written: dict[Phase, str | None] = {"deploy": settings.role_arn, "plan": settings.plan_role_arn}
    roles = {
        phase: written[phase] or convention_arn(account, convention.name(phase), region=region)
        for phase in PHASES
    }
    explicit = frozenset(phase for phase in PHASES if written[phase])
    return EnvironmentRoles(account, roles["deploy"], roles["plan"], explicit)


def role_mistakes(manifest: Manifest, environment: str) -> list[tuple[str, str]]:
    """(field, message) for each role of an environment that cannot be used as written."""
    settings = manifest.environments.get(environment)
    account = manifest.account_for(environment)
    if settings is None or account is None:
        return []
    mistakes: list[tuple[str, str]] = []
    for field, arn, what in (
        ("roleArn", settings.role_arn, "deploy role"),
        ("planRoleArn", settings.plan_role_arn, "plan role"),
    ):
        if arn and arn_account(arn) != account:
            mistakes.append(
                (
                    field,
                    f"environments.{environment}.{field}: the {what} {arn} is in account "
                    f"{arn_account(arn)}, but the environment's account is {account}; "
                    "a job must only reach the environment's own account",
                )
            )
    if settings.role_arn and settings.role_arn == settings.plan_role_arn:
        mistakes.append(
            (
                "planRoleArn",
                f"environments.{environment}.planRoleArn is the deploy role: previews run "
                "pull-request code and must use a separate, read-only role",
            )
        )
    return mistakes
