"""A stack instance's configuration: where each value comes from, and whether it fits.

Values are layered: the stack definition's defaults, then the template's `defaultConfig`,
then the manifest's `stacks.<name>.config`, then its per-environment override. Each
resolved value remembers its layer, so a problem (or a plan reason) can point at the file
and line that set it. A purely computational module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.core import problems as codes
from controller.core.models import ConfigSpec, StackDefinition, ValueType
from controller.core.placeholders import find_placeholders, whole_placeholder
from controller.core.secret_config import (
    SECRET_MASK,
    mentions_secret_reference,
    secret_reference,
)

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class ConfigLayer:
    """One mapping of config values for one stack, and where it sits in which file."""

    label: str
    file: str
    path: Path
    values: Mapping[str, Any]


@dataclass(frozen=True)
class ResolvedValue:
    value: Any
    layer: ConfigLayer | None  # None: the stack definition's default

    @property
    def source(self) -> str:
        return self.layer.label if self.layer else "stack default"


def resolve_config(
    definition: StackDefinition,
    layers: list[ConfigLayer],
    *,
    defaults: Mapping[str, ResolvedValue] | None = None,
) -> dict[str, ResolvedValue]:
    """Defaults overlaid by each layer in order; unknown keys are kept (validation flags).

    `defaults` may be passed precomputed (`stack_defaults`): it is the same for every
    instance of a stack.
    """
    resolved = dict(stack_defaults(definition) if defaults is None else defaults)
    for layer in layers:
        for key, value in layer.values.items():
            resolved[key] = ResolvedValue(value, layer)
    return dict(sorted(resolved.items()))


def stack_defaults(definition: StackDefinition) -> dict[str, ResolvedValue]:
    return {
        key: ResolvedValue(spec.default, None)
        for key, spec in definition.configuration.items()
        if spec.has_default
    }


def plain_config(resolved: Mapping[str, ResolvedValue]) -> dict[str, Any]:
    return {key: item.value for key, item in resolved.items()}


def missing_required(
    definition: StackDefinition, resolved: Mapping[str, ResolvedValue]
) -> list[str]:
    return [
        key
        for key, spec in definition.configuration.items()
        if spec.required and (key not in resolved or resolved[key].value is None)
    ]


_PYTHON_TYPES: dict[ValueType, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def type_of(value: Any) -> str:
    for name, types in _PYTHON_TYPES.items():
        if isinstance(value, bool) != (name == "boolean"):
            continue
        if isinstance(value, types):
            return name
    return "null" if value is None else type(value).__name__


def matches_type(value: Any, expected: ValueType) -> bool:
    if isinstance(value, bool) and expected != "boolean":
        return False
    return isinstance(value, _PYTHON_TYPES[expected])


def check_value(key: str, spec: ConfigSpec, value: Any) -> list[tuple[str, str]]:
    """What is wrong with `value` for `spec`, as (code, message) pairs; empty when it fits.

    Placeholder values are checked for shape only here; whether the upstream output exists
    and has the right type is the placeholder check's job.
    """
    if whole_placeholder(value) is not None:
        return []
    if secret_reference(value) is not None:
        if spec.type != "string":
            return [
                (
                    codes.INVALID_FORMAT,
                    f"config {key!r} is {_article(spec.type)} {spec.type}; a "
                    "{{SECRET:<name>}} reference gives a string",
                )
            ]
        return []
    if mentions_secret_reference(value):
        return [
            (
                codes.INVALID_FORMAT,
                f"config {key!r} holds a malformed secret reference: the whole value must be "
                "{{SECRET:<name>}}, the name a letter then letters, digits or '_'",
            )
        ]
    shown = SECRET_MASK if spec.secret else None  # a secret's value is never echoed
    if value is None:
        if spec.required:
            return [(codes.REQUIRED_FIELD, f"config {key!r} is required and cannot be null")]
        return []
    if isinstance(value, str) and spec.type != "string" and any(find_placeholders(value)):
        return [
            (
                codes.INVALID_FORMAT,
                f"config {key!r} must be {_article(spec.type)} "
                f"{spec.type}; a placeholder inside a longer text always gives a string",
            )
        ]
    if not matches_type(value, spec.type):
        return [
            (
                codes.INVALID_FORMAT,
                f"config {key!r} must be {_article(spec.type)} "
                f"{spec.type}, got {type_of(value)} {shown or repr(value)}",
            )
        ]
    found: list[tuple[str, str]] = []
    if spec.enum is not None and value not in spec.enum:
        found.append(
            (
                codes.INVALID_FORMAT,
                f"config {key!r} must be one of {spec.enum}, got {shown or repr(value)}",
            )
        )
    measured = len(value) if spec.type == "array" else value
    what = "number of items" if spec.type == "array" else "value"
    if spec.min is not None and isinstance(measured, int | float) and measured < spec.min:
        found.append(
            (
                codes.OUT_OF_RANGE,
                f"config {key!r}: {what} {shown or measured} is below the minimum {_num(spec.min)}",
            )
        )
    if spec.max is not None and isinstance(measured, int | float) and measured > spec.max:
        found.append(
            (
                codes.OUT_OF_RANGE,
                f"config {key!r}: {what} {shown or measured} is above the maximum {_num(spec.max)}",
            )
        )
    return found


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
