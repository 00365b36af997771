"""Runtime placeholders: `{{RUNTIME:<stack>:<output>}}` inside config values.

A placeholder is both a value known only at run time (the upstream stack's output in the
same deployment and environment) and a dependency edge. A value that is exactly one
placeholder takes the output as it is (a list stays a list); placeholders inside a longer
string are replaced by the output as text. A purely computational module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{RUNTIME:([a-z][a-z0-9-]*):([A-Za-z][A-Za-z0-9_]*)\}\}")
_LOOSE = re.compile(r"\{\{\s*RUNTIME\b.*?\}\}|\{\{\s*RUNTIME\b[^}]*$", re.IGNORECASE)

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Placeholder:
    stack: str
    output: str
    path: Path = ()

    @property
    def text(self) -> str:
        return f"{{{{RUNTIME:{self.stack}:{self.output}}}}}"


class MissingOutputError(LookupError):
    """An upstream output a placeholder needs is not there at run time."""

    def __init__(self, placeholder: Placeholder) -> None:
        self.placeholder = placeholder
        super().__init__(
            f"upstream stack {placeholder.stack!r} has no output {placeholder.output!r} "
            f"(needed by {placeholder.text})"
        )


def find_placeholders(value: Any, path: Path = ()) -> Iterator[Placeholder]:
    """Every well-formed placeholder in a (nested) config value, with its path."""
    if isinstance(value, str):
        if "{{" not in value:
            return
        for match in _PLACEHOLDER.finditer(value):
            yield Placeholder(match.group(1), match.group(2), path)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from find_placeholders(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from find_placeholders(item, (*path, index))


def find_malformed(value: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """Text that looks like a placeholder but is not one (`{{RUNTIME:network}}`, spaces)."""
    if isinstance(value, str):
        for match in _LOOSE.finditer(value):
            if not _PLACEHOLDER.fullmatch(match.group(0)):
                yield path, match.group(0)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from find_malformed(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from find_malformed(item, (*path, index))


def whole_placeholder(value: Any) -> Placeholder | None:
    """The placeholder when `value` is exactly one (so it takes the output's own type)."""
    if isinstance(value, str):
        match = _PLACEHOLDER.fullmatch(value)
        if match:
            return Placeholder(match.group(1), match.group(2))
    return None


def substitute(value: Any, outputs: Mapping[str, Mapping[str, Any]]) -> Any:
    """Replace every placeholder in `value` by `outputs[stack][output]`.

    Raises `MissingOutputError` naming the first placeholder that cannot be filled.
    """
    if isinstance(value, str):
        whole = whole_placeholder(value)
        if whole is not None:
            return _lookup(whole, outputs)

        def replace(match: re.Match[str]) -> str:
            found = _lookup(Placeholder(match.group(1), match.group(2)), outputs)
            return found if isinstance(found, str) else json.dumps(found, sort_keys=True)

        return _PLACEHOLDER.sub(replace, value)
    if isinstance(value, Mapping):
        return {key: substitute(item, outputs) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, outputs) for item in value]
    return value


def _lookup(placeholder: Placeholder, outputs: Mapping[str, Mapping[str, Any]]) -> Any:
    stack_outputs = outputs.get(placeholder.stack)
    if stack_outputs is None or placeholder.output not in stack_outputs:
        raise MissingOutputError(placeholder)
    return stack_outputs[placeholder.output]
