"""JSON from outside is measured before it is parsed, and its numbers as they are read."""

from __future__ import annotations

import pytest

from controller.core.json_input import MAX_DEPTH, JsonInputError, nesting_depth, parse_json


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        pytest.param("1", 0, id="scalar"),
        pytest.param("[]", 1, id="empty-array"),
        pytest.param('{"a": [1, {"b": []}]}', 4, id="mixed"),
        pytest.param('["[[[[[[", "{{{{"]', 1, id="brackets-in-strings-do-not-count"),
        pytest.param('["\\"[[[["]', 1, id="escaped-quote-inside-a-string"),
    ],
)
def test_nesting_depth_is_measured_on_the_text(text: str, depth: int) -> None:
    assert nesting_depth(text) == depth


def test_json_at_the_depth_limit_parses_and_one_deeper_does_not() -> None:
    assert parse_json("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    with pytest.raises(JsonInputError, match=f"nests {MAX_DEPTH + 1} levels deep"):
        parse_json("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        pytest.param(b"[" * 100_000 + b"]" * 100_000, "nests 100000 levels", id="deep-array"),
        pytest.param('{"a":' * 5000 + "1" + "}" * 5000, "nests 5000 levels", id="deep-object"),
        pytest.param("9" * 5001, "a number of 5001 characters", id="huge-integer"),
        pytest.param("0." + "1" * 200, "a number of 202 characters", id="long-float"),
        pytest.param("1e999", "out of range", id="infinite-float"),
        pytest.param("[NaN]", "has NaN", id="nan"),
        pytest.param("-Infinity", "has -Infinity", id="infinity"),
        pytest.param("{", "not valid JSON at line 1 column 2", id="truncated"),
        pytest.param(b"\xff\xfe", "not UTF-8", id="not-utf8"),
    ],
)
def test_what_is_refused_says_which_limit(raw: bytes | str, fragment: str) -> None:
    with pytest.raises(JsonInputError, match=fragment):
        parse_json(raw)


def test_ordinary_documents_parse_as_json_loads_would() -> None:
    text = '{"n": 12, "x": -1.5e3, "s": "[{", "l": [true, null, {"k": "v"}]}'
    assert parse_json(text) == {"n": 12, "x": -1500.0, "s": "[{", "l": [True, None, {"k": "v"}]}
