"""Two resource graphs compared, values included, secrets never shown."""

from __future__ import annotations

import pytest

from controller.core.resource_diffs import count_changes, diff_graphs, input_changes, show_value

SECRET_A = {"[secret]": "hash-a"}
SECRET_B = {"[secret]": "hash-b"}


def resource(name, **inputs):
    return {
        "urn": f"urn:pulumi:s::p::aws:x/y:Y::{name}",
        "type": "aws:x/y:Y",
        "name": name,
        "inputs": inputs,
    }


def test_resources_are_created_updated_deleted_or_the_same_by_urn():
    old = [resource("kept", size=1), resource("grown", size=1), resource("gone")]
    new = [resource("kept", size=1), resource("grown", size=2), resource("added")]
    changes = diff_graphs(old, new)
    assert [(c["name"], c["kind"]) for c in changes] == [
        ("kept", "same"),
        ("grown", "update"),
        ("added", "create"),
        ("gone", "delete"),
    ]
    assert changes[1]["inputs"] == [{"path": "size", "old": "1", "new": "2"}]
    assert count_changes(changes) == {
        "create": 1,
        "update": 1,
        "delete": 1,
        "replace": 0,
        "same": 1,
    }


def test_the_root_stack_resource_is_not_a_change():
    root = {"urn": "urn:pulumi:s::p::pulumi:pulumi:Stack::p-s", "type": "pulumi:pulumi:Stack"}
    assert diff_graphs([root], [root]) == []


@pytest.mark.parametrize(
    ("old", "new", "shown"),
    [
        pytest.param(
            {"tags": {"A": "1"}},
            {"tags": {"A": "1", "B": "2"}},
            [{"path": "tags.B", "old": "(none)", "new": '"2"'}],
            id="nested-added",
        ),
        pytest.param(
            {"ports": [80]},
            {"ports": [80, 443]},
            [{"path": "ports", "old": "[80]", "new": "[80, 443]"}],
            id="list-whole",
        ),
        pytest.param(
            {"password": SECRET_A},
            {"password": SECRET_B},
            [{"path": "password", "old": "[secret]", "new": "[secret] (changed)"}],
            id="secret",
        ),
        pytest.param(
            {"password": "plain"},
            {"password": SECRET_A},
            [{"path": "password", "old": '"plain"', "new": '"[secret]"'}],
            id="became-secret",
        ),
        pytest.param({"env": {"KEY": SECRET_A}}, {"env": {"KEY": SECRET_A}}, [], id="same-secret"),
        pytest.param(
            {"gone": True}, {}, [{"path": "gone", "old": "true", "new": "(none)"}], id="removed"
        ),
    ],
)
def test_changed_inputs_show_old_and_new_values(old, new, shown):
    assert input_changes(old, new) == shown


def test_long_values_are_cut_short():
    text = show_value("x" * 500)
    assert len(text) == 120 and text.endswith("…")
