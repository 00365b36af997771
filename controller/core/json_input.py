"""JSON from outside (request bodies, GitHub's deliveries, WebSocket frames), with limits
checked before anything is built from it.

`json.loads` recurses once per nesting level: a body of 100,000 `[` ends in a
`RecursionError` (a 500), and one 900 levels deep parses but breaks whatever walks it
next (validation, rendering, YAML). An integer of 5,001 digits trips Python's int
conversion limit (another 500), and `1e999` or `NaN` become values no manifest can hold.
So the nesting depth is measured on the text first (strings removed, brackets counted:
no recursion, no objects built), then the text is parsed with every number checked as it
is read. Each refusal is a `JsonInputError` whose message says which limit, and the
edges answer it as 400 `VALIDATION_INVALID_FORMAT`. A purely computational module.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from typing import Any, Final

MAX_DEPTH: Final = 64  # a manifest's config values sit at depth 7; GitHub's payloads ~10
MAX_NUMBER_CHARS: Final = 100  # far past any count, size or id; far below int's limit
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class JsonInputError(ValueError):
    """The text is not JSON we accept; the message is safe to show to the sender."""


def nesting_depth(text: str) -> int:
    """How deep arrays and objects nest in JSON `text` (0 for a scalar), without parsing it."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(itertools.accumulate(_STEP[char] for char in brackets), default=0)


def parse_json(
    raw: bytes | str, *, max_depth: int = MAX_DEPTH, max_number_chars: int = MAX_NUMBER_CHARS
) -> Any:
    """The value of `raw`, or `JsonInputError` (not UTF-8, not JSON, too deep, a number too
    long or not finite)."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise JsonInputError("is not UTF-8 text") from None
    else:
        text = raw
    openers = text.count("[") + text.count("{")  # no deeper than that: most bodies stop here
    depth = nesting_depth(text) if openers > max_depth else openers
    if depth > max_depth:
        raise JsonInputError(f"nests {depth} levels deep; at most {max_depth} are accepted")

    def number(literal: str, convert: type[int] | type[float]) -> int | float:
        if len(literal) > max_number_chars:
            raise JsonInputError(
                f"has a number of {len(literal)} characters; at most {max_number_chars} "
                "are accepted"
            )
        value = convert(literal)
        if not math.isfinite(value):
            raise JsonInputError(f"has a number out of range ({literal})")
        return value

    def constant(name: str) -> Any:
        raise JsonInputError(f"has {name}, which is not a JSON number")

    try:
        return json.loads(
            text,
            parse_int=lambda literal: number(literal, int),
            parse_float=lambda literal: number(literal, float),
            parse_constant=constant,
        )
    except json.JSONDecodeError as error:
        raise JsonInputError(
            f"is not valid JSON at line {error.lineno} column {error.colno}"
        ) from None
    except RecursionError:  # pragma: no cover - the depth check comes first
        raise JsonInputError("nests too deep") from None
