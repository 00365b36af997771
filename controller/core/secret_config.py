"""Secret config values: masked wherever the service shows or writes them, and kept out of
Git by reference.

A stack declares a config key `secret: true` (services-api's `apiKeyValue`). Its value
is passed to Pulumi as secret config, and everything rendered from plans, runs and state
masks it; the manifest itself must not hand it out either. So a value of such a key is
`[secret]` in every view of a manifest, template or stack definition the API gives, in
the change lists it answers, and in the commit messages it writes. A change of it still
shows, as `[secret] → [secret] (changed)`, so a reviewer knows it moved. A manifest sent
back with `[secret]` in such a key keeps the value stored there (`restore_masked`).

Better still, the value never enters Git: `{{SECRET:<name>}}` is a reference, resolved
when the stack runs, from the job's environment (`CLOUD_SECRET_<name>`: a GitHub
environment secret) or, with the Pulumi engine, from the stack's own config secret
(`pulumi config set --secret <project>:<key>`). `cloud validate` warns about a literal in
a secret key. A purely computational module.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from controller.core.placeholders import find_placeholders

SECRET_MASK: Final = "[secret]"
CHANGED_MASK: Final = "[secret] (changed)"
ENVIRONMENT_PREFIX: Final = "CLOUD_SECRET_"
_REFERENCE = re.compile(r"\{\{SECRET:([A-Za-z][A-Za-z0-9_]{0,63})\}\}")
_LOOSE_REFERENCE = re.compile(r"\{\{\s*SECRET\b", re.IGNORECASE)

SecretKeys = Callable[[str], frozenset[str]]  # stack type -> its secret config keys


def secret_reference(value: Any) -> str | None:
    """The secret's name when `value` is exactly one `{{SECRET:<name>}}`."""
    if isinstance(value, str):
        match = _REFERENCE.fullmatch(value)
        if match:
            return match.group(1)
    return None


def mentions_secret_reference(value: Any) -> bool:
    """Whether a string value contains something meant as a reference (well-formed or not)."""
    return isinstance(value, str) and _LOOSE_REFERENCE.search(value) is not None


def is_literal(value: Any) -> bool:
    """Whether a value of a secret key is the secret itself (not empty, not a reference to
    a secret kept elsewhere, not a placeholder for an upstream output)."""
    if value is None or value == "" or value == SECRET_MASK:
        return False
    if secret_reference(value) is not None:
        return False
    return not any(find_placeholders(value))


def environment_name(secret: str) -> str:
    return ENVIRONMENT_PREFIX + secret


def secret_keys_of(configuration: Mapping[str, Any]) -> frozenset[str]:
    """The secret keys of a stack definition's `configuration` (models or file data)."""
    keys = set()
    for key, spec in configuration.items():
        flag = spec.get("secret") if isinstance(spec, Mapping) else getattr(spec, "secret", False)
        if flag:
            keys.add(key)
    return frozenset(keys)


def catalog_secret_keys(definitions: Mapping[str, Any]) -> SecretKeys:
    """`SecretKeys` over a catalog's stack definitions (`catalog.stacks`)."""

    def keys(stack: str) -> frozenset[str]:
        definition = definitions.get(stack)
        return secret_keys_of(definition.configuration) if definition is not None else frozenset()

    return keys


# --- masking -------------------------------------------------------------------------------


def mask_values(
    values: Any, keys: frozenset[str], before: Any = None, *, compare: bool = False
) -> Any:
    """`values` (a config mapping) with the literal of each secret key masked; with
    `compare`, a value that differs from `before`'s is `[secret] (changed)`."""
    if not isinstance(values, Mapping) or not keys:
        return values
    previous = before if isinstance(before, Mapping) else {}
    masked = {}
    for key, value in values.items():
        if key in keys and is_literal(value):
            changed = compare and key in previous and previous[key] != value
            masked[key] = CHANGED_MASK if changed else SECRET_MASK
        else:
            masked[key] = value
    return masked


ConfigFn = Callable[[Mapping[str, Any], frozenset[str], Mapping[str, Any], tuple[str, ...]], Any]


def map_manifest_configs(
    data: Mapping[str, Any], other: Mapping[str, Any], secret_keys: SecretKeys, fn: ConfigFn
) -> dict[str, Any]:
    """A manifest's file data with `fn(values, secret keys, the same mapping in other,
    path)` applied to each config mapping of a stack with secret keys: `stacks.<s>.config`
    and every `stacks.<s>.environments.<e>.config`."""
    stacks = data.get("stacks")
    if not isinstance(stacks, Mapping):
        return dict(data)
    other_stacks = _mapping(other.get("stacks"))
    mapped_stacks = {}
    for stack, entry in stacks.items():
        keys = secret_keys(stack)
        if not keys or not isinstance(entry, Mapping):
            mapped_stacks[stack] = entry
            continue
        old = _mapping(other_stacks.get(stack))
        mapped = dict(entry)
        if isinstance(entry.get("config"), Mapping):
            path = ("stacks", stack, "config")
            mapped["config"] = fn(entry["config"], keys, _mapping(old.get("config")), path)
        environments = entry.get("environments")
        if isinstance(environments, Mapping):
            old_environments = _mapping(old.get("environments"))
            mapped["environments"] = {}
            for name, override in environments.items():
                if isinstance(override, Mapping) and isinstance(override.get("config"), Mapping):
                    previous = _mapping(_mapping(old_environments.get(name)).get("config"))
                    path = ("stacks", stack, "environments", name, "config")
                    override = {**override, "config": fn(override["config"], keys, previous, path)}
                mapped["environments"][name] = override
        mapped_stacks[stack] = mapped
    return {**data, "stacks": mapped_stacks}


def mask_manifest(
    data: Mapping[str, Any], secret_keys: SecretKeys, *, before: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A manifest's file data with every secret config value masked (`stacks.<s>.config`
    and each `stacks.<s>.environments.<e>.config`); `before` marks changed ones."""
    compare = before is not None
    return map_manifest_configs(
        data,
        before or {},
        secret_keys,
        lambda values, keys, old, _path: mask_values(values, keys, old, compare=compare),
    )


def mask_template(
    data: Mapping[str, Any], secret_keys: SecretKeys, *, before: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A template's file data with the secret values of `defaultConfig` masked."""
    defaults = data.get("defaultConfig")
    if not isinstance(defaults, Mapping):
        return dict(data)
    old = _mapping((before or {}).get("defaultConfig"))
    return {
        **data,
        "defaultConfig": {
            stack: mask_values(
                values, secret_keys(stack), old.get(stack), compare=before is not None
            )
            for stack, values in defaults.items()
        },
    }


def mask_definition(
    data: Mapping[str, Any], *, before: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A stack definition's file data with the default of each secret key masked."""
    configuration = data.get("configuration")
    if not isinstance(configuration, Mapping):
        return dict(data)
    old = _mapping((before or {}).get("configuration"))
    masked = {}
    for key, spec in configuration.items():
        if isinstance(spec, Mapping) and spec.get("secret") and is_literal(spec.get("default")):
            previous = _mapping(old.get(key)).get("default")
            changed = before is not None and key in old and previous != spec.get("default")
            masked[key] = {**spec, "default": CHANGED_MASK if changed else SECRET_MASK}
        else:
            masked[key] = spec
    return {**data, "configuration": masked}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


# --- writing back what was read masked ------------------------------------------------------


@dataclass(frozen=True)
class MaskedWithoutValue:
    """`[secret]` sent for a secret key that has no stored value to stand for."""

    path: tuple[str, ...]

    @property
    def field(self) -> str:
        return ".".join(self.path)


def restore_masked(
    data: Mapping[str, Any], current: Mapping[str, Any], secret_keys: SecretKeys
) -> tuple[dict[str, Any], list[MaskedWithoutValue]]:
    """A manifest's new file data with each `[secret]` in a secret key replaced by the value
    stored at the same place in `current`, and the places where there is none."""
    missing: list[MaskedWithoutValue] = []

    def restore(values: Mapping[str, Any], keys: frozenset[str], old: Mapping[str, Any],
                path: tuple[str, ...]) -> dict[str, Any]:  # fmt: skip
        return _restore(values, keys, old, path, missing)

    return map_manifest_configs(data, current, secret_keys, restore), missing


def _restore(
    values: Mapping[str, Any],
    keys: frozenset[str],
    previous: Mapping[str, Any],
    path: tuple[str, ...],
    missing: list[MaskedWithoutValue],
) -> dict[str, Any]:
    restored = dict(values)
    for key, value in values.items():
        if key in keys and value == SECRET_MASK:
            if key in previous and previous[key] != SECRET_MASK:
                restored[key] = previous[key]
            else:
                missing.append(MaskedWithoutValue((*path, key)))
    return restored


# --- run time --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedSecrets:
    values: dict[str, Any]  # the config with every reference found replaced by its value
    secret_keys: frozenset[str]  # keys whose value came from a reference (secret config)
    unresolved: dict[str, str]  # key -> secret name not in the environment


def resolve_secret_references(
    config: Mapping[str, Any], environ: Mapping[str, str]
) -> ResolvedSecrets:
    """Replace each `{{SECRET:<name>}}` value by `environ["CLOUD_SECRET_<name>"]`; those
    not set there are left out of `values` and named in `unresolved`."""
    values: dict[str, Any] = {}
    secret: set[str] = set()
    unresolved: dict[str, str] = {}
    for key, value in config.items():
        name = secret_reference(value)
        if name is None:
            values[key] = value
            continue
        secret.add(key)
        found = environ.get(environment_name(name))
        if found is None:
            unresolved[key] = name
        else:
            values[key] = found
    return ResolvedSecrets(values, frozenset(secret), unresolved)
