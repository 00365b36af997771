from __future__ import annotations

import subprocess

import pytest

from controller.core.catalog import load_snapshot
from controller.core.environments import environment_view
from controller.core.fingerprints import (
    blob_id,
    explain_difference,
    fingerprint_instance,
    instance_context,
)
from tests.conftest import MANIFEST

FILES = {
    "stacks/net/__main__.py": "a1",
    "stacks/net/stack.yaml": "b1",
    "stacks/db/__main__.py": "c1",
    "stacks/requirements.lock": "d1",
}


def fingerprints(files, file_ids=FILES, environment="dev"):
    snapshot = load_snapshot(files)
    deployment = snapshot.deployments["D000001"]
    view = environment_view(deployment, snapshot.catalog, environment)
    context = instance_context(deployment, environment)
    return {name: fingerprint_instance(i, context, file_ids) for name, i in view.instances.items()}


def test_blob_id_is_what_git_computes(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"hello\nworld\n")
    expected = subprocess.run(
        ["git", "hash-object", str(path)], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert blob_id(b"hello\nworld\n") == expected


def test_same_inputs_give_the_same_fingerprint(mini_files):
    assert fingerprints(mini_files) == fingerprints(dict(mini_files))


def test_a_config_change_changes_only_that_stack(mini_files):
    before = fingerprints(mini_files)
    mini_files[MANIFEST] = mini_files[MANIFEST].replace("size: 40", "size: 50")
    after = fingerprints(mini_files)
    changed = {name for name in before if before[name].value != after[name].value}
    assert changed == {"db"}
    assert explain_difference(before["db"].components, after["db"].components) == [
        "config key size changed"
    ]


def test_a_placeholder_value_is_symbolic_not_resolved(mini_files):
    fp = fingerprints(mini_files)["sec"]
    assert "vpcId" in fp.components["config"]
    assert "{{" not in str(fp.components)  # digests only, no values in clear


def test_a_program_file_change_changes_only_that_stack(mini_files):
    before = fingerprints(mini_files)
    after = fingerprints(mini_files, {**FILES, "stacks/net/__main__.py": "a2"})
    changed = {name for name in before if before[name].value != after[name].value}
    assert changed == {"net"}
    assert explain_difference(before["net"].components, after["net"].components) == [
        "program file stacks/net/__main__.py changed"
    ]


def test_toolchain_pins_change_every_stack(mini_files):
    before = fingerprints(mini_files)
    after = fingerprints(mini_files, {**FILES, "stacks/requirements.lock": "d2"})
    assert all(before[name].value != after[name].value for name in before)
    assert explain_difference(before["app"].components, after["app"].components) == [
        "toolchain pins stacks/requirements.lock changed"
    ]


def test_tags_are_a_deployment_setting_of_every_stack(mini_files):
    before = fingerprints(mini_files)
    mini_files[MANIFEST] += "tags:\n  Team: x\n"
    after = fingerprints(mini_files)
    assert all(before[name].value != after[name].value for name in before)
    assert explain_difference(before["net"].components, after["net"].components) == [
        "deployment setting tags changed"
    ]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ({"files": {"stacks/a/x.py": "1"}}, {"files": {}}, ["program file stacks/a/x.py removed"]),
        (
            {"files": {}},
            {"files": {"stacks/a/stack.yaml": "1"}},
            ["stack definition stacks/a/stack.yaml added"],
        ),
        ({"config": {"k": "1"}}, {"config": {}}, ["config key k removed"]),
        ({"context": {}}, {"context": {"region": "1"}}, ["deployment setting region added"]),
    ],
)
def test_explain_difference(old, new, expected):
    assert explain_difference(old, new) == expected
