"""Fingerprints: a stable hash of what can change what `pulumi up` does, and nothing else.

For one instance (deployment, stack, environment), five parts, each kept with its
components so two fingerprints can be compared part by part and the difference said in
words:

- `config`: the instance's resolved config (stack default → template → manifest →
  environment; placeholders still symbolic, so an upstream redeploy alone changes
  nothing). A default the instance overrides is not in it.
- `settings`: the deployment settings (`cloud:*`) that reach the program: region and
  account always (they set where the AWS provider works), the others only when the stack
  definition declares them in `reads` (validated against the program's source).
- `definition`: the stack definition's fields that affect a deploy (config schema and
  outputs by type and secrecy, dependencies, reads), not descriptions, estimates or
  comments; defaults count through `config`.
- `program`: the other files of the stack folder by meaning (Python by syntax tree).
- `toolchain`: the resolved set of pinned packages (`{name: version}`).

Components are digests, except toolchain versions, which are public. Next to them,
`values` keeps the short, non-secret values in clear so a reason can say "db.t3.small →
db.t3.medium"; a secret config value is never kept: its digest is a salted PBKDF2, so
the record in the backend cannot be used to guess it. A purely computational module.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from controller.core.differences import explain_difference as explain_difference
from controller.core.programs import IDENTITY_SETTINGS, PROVIDER_SETTINGS
from controller.core.stack_files import StackFiles
from controller.core.stack_files import blob_id as blob_id

if TYPE_CHECKING:  # the models are imported where they are built, not here: plans from
    # the plan index need this module without pydantic
    from controller.core.catalog import Deployment
    from controller.core.environments import EnvironmentView, Instance
    from controller.core.models import StackDefinition

FORMAT = 2  # of the fingerprint; records without a format are format 1 (by blob ids)
STACK_PARTS = ("definition", "program", "toolchain")
SHOWN_LIMIT = 80  # longer values are compared, not shown
_SECRET_ROUNDS = 10_000


def digest(value: Any) -> str:
    """A short, stable digest of a JSON-like value."""
    if value is None or isinstance(value, str | int | float | bool):
        return _scalar_digest(value)  # the same few values recur across thousands of stacks
    return _json_digest(value)


@lru_cache(maxsize=1 << 16, typed=True)
def _scalar_digest(value: Any) -> str:
    return _json_digest(value)


def _json_digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


@lru_cache(maxsize=4096)
def secret_digest(stack: str, key: str, text: str) -> str:
    """A secret value's digest: salted and stretched, so a recorded digest reveals nothing
    a guess could confirm cheaply."""
    salt = f"cloud-secret:{stack}:{key}".encode()
    return "pbkdf2:" + hashlib.pbkdf2_hmac("sha256", text.encode(), salt, _SECRET_ROUNDS)[:10].hex()


def shown(value: Any) -> str | None:
    """How a value reads in a reason, or None when it is too long to show."""
    text = value if isinstance(value, str) and value else json.dumps(value, sort_keys=True)
    return text if len(text) <= SHOWN_LIMIT else None


@dataclass(frozen=True)
class Fingerprint:
    """`value` digests the digests of the parts, so a part can be swapped (another
    commit's stack files) without hashing the others again."""

    value: str
    components: Mapping[str, Mapping[str, str]]
    parts: Mapping[str, str]
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    format: int = FORMAT


def instance_context(deployment: Deployment, environment: str) -> dict[str, Any]:
    """The `cloud:*` config every program receives (see docs/catalog-format.md)."""
    manifest = deployment.manifest
    return {
        "deploymentId": manifest.deployment_id,
        "environment": environment,
        "organization": manifest.organization,
        "project": manifest.project,
        "domain": manifest.domain or "",
        "region": manifest.region_for(environment),
        "account": manifest.account_for(environment) or "",
        "tags": dict(manifest.tags),
    }


def settings_read(definition: StackDefinition) -> tuple[str, ...]:
    """The deployment settings in an instance's fingerprint (identity ones never change)."""
    wanted = set(PROVIDER_SETTINGS) | set(definition.reads)
    return tuple(sorted(wanted - set(IDENTITY_SETTINGS)))


@dataclass(frozen=True)
class Part:
    """One component map with its own digest (over its sorted `key digest` lines)."""

    values: Mapping[str, str]
    digest: str
    shown: Mapping[str, str] = field(default_factory=dict)


def make_part(values: Mapping[str, str], shown_values: Mapping[str, str] | None = None) -> Part:
    text = "\n".join(f"{key}\t{value}" for key, value in sorted(values.items()))
    return Part(dict(values), hashlib.sha256(text.encode()).hexdigest()[:20], shown_values or {})


def combine(parts: Mapping[str, str]) -> str:
    text = "\n".join(f"{name}\t{parts[name]}" for name in sorted(parts))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def assemble(parts: Mapping[str, Part]) -> Fingerprint:
    digests = {name: part.digest for name, part in parts.items()}
    return Fingerprint(
        combine(digests),
        {name: part.values for name, part in parts.items()},
        digests,
        {name: part.shown for name, part in parts.items() if part.shown},
    )


# --- the parts ----------------------------------------------------------------------------


def config_part(instance: Instance) -> Part:
    values: dict[str, str] = {}
    texts: dict[str, str] = {}
    specs = instance.definition.configuration
    for key, item in instance.config.items():
        spec = specs.get(key)
        if spec is not None and spec.secret:
            values[key] = secret_digest(instance.stack, key, json.dumps(item.value))
            continue
        values[key] = digest(item.value)
        text = shown(item.value)
        if text is not None:
            texts[key] = text
    return make_part(values, texts)


def settings_part(context: Mapping[str, Any], keys: tuple[str, ...]) -> Part:
    values = {key: digest(context.get(key)) for key in keys}
    texts = {key: text for key in keys if (text := shown(context.get(key))) is not None}
    return make_part(values, texts)


def definition_part(definition: StackDefinition) -> Part:
    fields = {
        "configuration": {
            key: {"type": spec.type, "secret": spec.secret}
            for key, spec in definition.configuration.items()
        },
        "outputs": {
            key: {"type": spec.type, "secret": spec.secret}
            for key, spec in definition.outputs.items()
        },
        "dependencies": sorted(definition.dependencies),
        "reads": sorted(definition.reads),
    }
    texts = {
        name: text
        for name in ("dependencies", "reads")
        if (text := shown(fields[name])) is not None
    }
    return make_part({name: digest(value) for name, value in fields.items()}, texts)


def program_part(stack: str, files: StackFiles) -> Part:
    return make_part(
        {
            path: item.meaning
            for path, item in files.folder(stack).items()
            if item.kind != "definition"
        }
    )


def toolchain_part(files: StackFiles) -> Part:
    pins = files.toolchain()
    return make_part(pins, pins)


def stack_parts(stack: str, definition: StackDefinition, files: StackFiles) -> dict[str, Part]:
    """The parts every instance of a stack shares at one commit (memoized on `files`)."""
    key = ("stack-parts", stack, id(definition))
    cached = files.memo.get(key)
    if cached is None or cached[0] is not definition:
        if "toolchain" not in files.memo:
            files.memo["toolchain"] = toolchain_part(files)
        parts = {
            "definition": definition_part(definition),
            "program": program_part(stack, files),
            "toolchain": files.memo["toolchain"],
        }
        cached = files.memo[key] = (definition, parts)  # holding it keeps the id unique
    return cached[1]


def fingerprint_view(
    view: EnvironmentView, files: StackFiles | Mapping[str, str]
) -> dict[str, Fingerprint]:
    """The fingerprint of every instance of a deployment environment."""
    files = StackFiles.of(files)
    context = instance_context(view.deployment, view.environment)
    settings: dict[tuple[str, ...], Part] = {}
    found: dict[str, Fingerprint] = {}
    for name, instance in view.instances.items():
        keys = settings_read(instance.definition)
        if keys not in settings:
            settings[keys] = settings_part(context, keys)
        found[name] = assemble(
            {
                "config": config_part(instance),
                "settings": settings[keys],
                **stack_parts(name, instance.definition, files),
            }
        )
    return found
