from __future__ import annotations

import ast

import pytest

from controller.core.programs import cloud_reads, read_program


def reads(source: str) -> list[tuple[str | None, int]]:
    return [(r.key, r.line) for r in cloud_reads(ast.parse(source))]


def test_reads_through_a_named_cloud_config_are_found_with_their_lines():
    source = (
        "import pulumi\n"
        'cloud = pulumi.Config("cloud")\n'
        'region = cloud.get("region", "us-east-1")\n'
        'tags = cloud.get_object("tags", {})\n'
        'own = pulumi.Config().get("domain")\n'  # the stack's own key, not cloud:domain
    )
    assert reads(source) == [("region", 3), ("tags", 4)]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param(
            'from pulumi import Config\nConfig(name="cloud").require("account")\n',
            [("account", 2)],
            id="inline",
        ),
        pytest.param(
            'import pulumi\npulumi.get_config("cloud:domain")\n', [("domain", 2)], id="raw-key"
        ),
        pytest.param(
            'import pulumi\nc = pulumi.Config("cloud")\nk = "domain"\nc.get(k)\n',
            [(None, 4)],
            id="not-a-literal",
        ),
        pytest.param(
            'import pulumi\nc = pulumi.Config("cloud")\nhelper(c)\n', [(None, 3)], id="handed-on"
        ),
    ],
)
def test_reads_the_check_cannot_follow_are_reported_not_guessed(source, expected):
    assert reads(source) == expected


def test_meaning_ignores_comments_formatting_and_docstrings_but_not_code():
    base = read_program('"""Doc."""\nx = 1\n')
    assert read_program("# note\nx  =  1\n").meaning == base.meaning
    assert read_program("x = 2\n").meaning != base.meaning


def test_a_program_that_does_not_parse_is_reported_and_compared_by_bytes():
    facts = read_program("def broken(:\n")
    assert facts.syntax_error and "line 1" in facts.syntax_error
    assert facts.meaning.startswith("text:")
