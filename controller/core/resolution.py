"""Run-time configuration: placeholders filled with the upstream stacks' real outputs.

At plan time a config value like `{{RUNTIME:network:vpcId}}` is symbolic; when the stack's
turn comes, the upstream stacks have run (or were skipped and still hold their outputs)
and the value is known. A key that receives a secret upstream output becomes secret
config itself, so a secret stays secret end to end. A purely computational module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.core.environments import Instance
from controller.core.placeholders import MissingOutputError, find_placeholders, substitute


@dataclass(frozen=True)
class ResolvedConfig:
    values: dict[str, Any]
    secret_keys: frozenset[str]


def resolve_runtime_config(
    instance: Instance,
    outputs: Mapping[str, Mapping[str, Any]],
    secret_outputs: Mapping[str, frozenset[str] | set[str]],
) -> ResolvedConfig:
    """Fill every placeholder; raise `MissingOutputError` naming the first that cannot be."""
    values: dict[str, Any] = {}
    secret = {key for key, spec in instance.definition.configuration.items() if spec.secret}
    for key, resolved in instance.config.items():
        values[key] = substitute(resolved.value, outputs)
        if any(
            p.output in secret_outputs.get(p.stack, ()) for p in find_placeholders(resolved.value)
        ):
            secret.add(key)
    return ResolvedConfig(values, frozenset(secret & set(values)))


__all__ = ["MissingOutputError", "ResolvedConfig", "resolve_runtime_config"]
