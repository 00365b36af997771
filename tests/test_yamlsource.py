from __future__ import annotations

import pytest

from controller.core import problems as codes
from controller.core.problems import ProblemError
from controller.core.yamlsource import MAX_NODES, parse_yaml


def test_every_key_and_item_knows_its_line():
    document = parse_yaml("a: 1\nb:\n  c: [x, y]\n  d:\n    - 3\n", file="f.yaml")
    assert document.data == {"a": 1, "b": {"c": ["x", "y"], "d": [3]}}
    assert document.line_of(("a",)) == 1
    assert document.line_of(("b", "c")) == 3
    assert document.line_of(("b", "d", 0)) == 5
    assert document.line_of(("b", "missing", "deeper")) == 2


def test_duplicate_key_is_reported_on_the_second_occurrence():
    with pytest.raises(ProblemError) as caught:
        parse_yaml("a: 1\nb: 2\na: 3\n", file="f.yaml")
    [problem] = caught.value.problems
    assert (problem.code, problem.line) == (codes.DUPLICATE_KEY, 3)
    assert "first at line 1" in problem.message


def test_syntax_error_names_file_and_line():
    with pytest.raises(ProblemError) as caught:
        parse_yaml("a: 1\nb: [unclosed\nc: 2\n", file="bad.yaml")
    [problem] = caught.value.problems
    assert problem.code == codes.YAML_SYNTAX
    assert problem.file == "bad.yaml"
    assert problem.line in (2, 3)


def test_alias_bomb_is_refused_before_expansion():
    bomb = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 10):
        previous = chr(ord("a") + level - 1)
        current = chr(ord("a") + level)
        bomb.append(f"{current}: &{current} [" + ",".join([f"*{previous}"] * 9) + "]")
    with pytest.raises(ProblemError) as caught:
        parse_yaml("\n".join(bomb) + "\n", file="bomb.yaml")
    [problem] = caught.value.problems
    assert problem.code == codes.YAML_TOO_COMPLEX
    assert str(MAX_NODES) in problem.message


def test_modest_aliases_and_merge_keys_still_work():
    text = "base: &base {region: us-east-1, enabled: true}\nprod:\n  <<: *base\n  enabled: false\n"
    document = parse_yaml(text, file="f.yaml")
    assert document.data["prod"] == {"region": "us-east-1", "enabled": False}


def test_recursive_alias_is_refused():
    with pytest.raises(ProblemError) as caught:
        parse_yaml("a: &a [*a]\n", file="f.yaml")
    assert caught.value.problems[0].code == codes.YAML_TOO_COMPLEX


def test_python_object_tags_are_refused():
    with pytest.raises(ProblemError) as caught:
        parse_yaml("a: !!python/object/apply:os.system ['true']\n", file="f.yaml")
    assert caught.value.problems[0].code == codes.YAML_SYNTAX


def test_timestamps_stay_text_and_keys_are_text():
    document = parse_yaml("on: 2024-01-01\n1: x\n", file="f.yaml")
    assert document.data == {"on": "2024-01-01", "1": "x"}


def test_empty_document_is_none():
    assert parse_yaml("", file="f.yaml").data is None
