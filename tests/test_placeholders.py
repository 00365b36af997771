from __future__ import annotations

import pytest

from controller.core.placeholders import (
    MissingOutputError,
    Placeholder,
    find_malformed,
    find_placeholders,
    substitute,
    whole_placeholder,
)

OUTPUTS = {"net": {"vpcId": "vpc-1", "subnetIds": ["s-1", "s-2"], "port": 5432}}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("{{RUNTIME:net:subnetIds}}", ["s-1", "s-2"], id="whole-keeps-type"),
        pytest.param("vpc={{RUNTIME:net:vpcId}}", "vpc=vpc-1", id="inline-text"),
        pytest.param("{{RUNTIME:net:port}}/{{RUNTIME:net:vpcId}}", "5432/vpc-1", id="two-inline"),
        pytest.param("ids {{RUNTIME:net:subnetIds}}", 'ids ["s-1", "s-2"]', id="inline-json"),
        pytest.param({"a": ["{{RUNTIME:net:vpcId}}"]}, {"a": ["vpc-1"]}, id="nested"),
        pytest.param(7, 7, id="non-text"),
    ],
)
def test_substitute(value, expected):
    assert substitute(value, OUTPUTS) == expected


def test_missing_output_names_the_placeholder():
    with pytest.raises(MissingOutputError) as caught:
        substitute("{{RUNTIME:net:nope}}", OUTPUTS)
    assert caught.value.placeholder == Placeholder("net", "nope")
    assert "{{RUNTIME:net:nope}}" in str(caught.value)


def test_find_placeholders_reports_paths():
    found = list(find_placeholders({"x": ["a", "{{RUNTIME:net:vpcId}}"]}))
    assert found == [Placeholder("net", "vpcId", ("x", 1))]


@pytest.mark.parametrize(
    "text",
    ["{{RUNTIME:net}}", "{{ RUNTIME:net:vpcId }}", "{{runtime:net:vpcId}}", "{{RUNTIME:net:vpcId"],
)
def test_malformed_placeholders_are_found(text):
    assert [found for _, found in find_malformed(text)]


def test_whole_placeholder_only_when_exact():
    assert whole_placeholder("{{RUNTIME:net:vpcId}}") == Placeholder("net", "vpcId")
    assert whole_placeholder(" {{RUNTIME:net:vpcId}}") is None
