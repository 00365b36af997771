"""Drift end to end with the simulated engine, as a new user tries it: deploy, change the
simulated cloud by hand (`cloud sim edit|delete`), `cloud drift` finds exactly that (exit 3),
`cloud deploy --refresh` brings the cloud back, `cloud drift` is clean again (exit 0)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from controller.cli.main import main
from controller.engines.base import SECRET
from controller.engines.simulated_cloud import (
    SimulatedCloudError,
    compare,
    find_resource,
    parse_assignment,
    refreshed,
)
from controller.store.sqlite import open_store
from tests.conftest import copy_catalog

VPC = "aws:ec2/vpc:Vpc"


def cloud(capsys, root: Path, *argv: str) -> tuple[int, Any, str]:
    code = main(["--root", str(root), *argv])
    out, err = capsys.readouterr()
    try:
        return code, json.loads(out), err
    except json.JSONDecodeError:
        return code, out, err


@pytest.fixture(scope="module")
def deployed(tmp_path_factory) -> Path:
    """A repo copy where network and security of D1BRV40 dev are deployed (simulated)."""
    root = copy_catalog(tmp_path_factory.mktemp("drift") / "repo")
    argv = ["deploy", "D1BRV40", "-e", "dev", "--engine", "simulate", "--stacks",
            "network,security", "--format", "json"]  # fmt: skip
    assert main(["--root", str(root), *argv]) == 0
    return root


@pytest.fixture
def repo(deployed: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    shutil.copytree(deployed, copy)
    return copy


def vpc_state(root: Path) -> dict[str, Any]:
    state = json.loads((root / ".cloud/sim/D1BRV40/dev/network.json").read_text())
    return next(r for r in state["deployment"]["resources"] if r["type"] == VPC)


def test_the_simulated_drift_round_trip(capsys, repo: Path) -> None:
    code, report, _ = cloud(capsys, repo, "drift", "--engine", "simulate", "--format", "json")
    assert code == 0 and report["driftDetected"] is False and report["simulated"] is True
    recorded_name = vpc_state(repo)["inputs"]["tags"]["Name"]

    code, out, err = cloud(capsys, repo, "sim", "edit", "D1BRV40", "network", "-e", "dev",
                           "vpc", "tags.Name=hand-edited")  # fmt: skip
    assert code == 0, err
    assert "simulated cloud: edited aws:ec2/vpc:Vpc vpc" in out
    assert vpc_state(repo)["inputs"]["tags"]["Name"] == recorded_name  # the state is as it was

    code, report, _ = cloud(capsys, repo, "drift", "--engine", "simulate", "--format", "json")
    assert code == 3
    [entry] = report["environments"]
    assert (entry["deploymentId"], entry["environment"], entry["status"]) == (
        "D1BRV40", "dev", "drifted")  # fmt: skip
    assert entry["driftedStacks"] == ["network"]
    network = next(s for s in entry["stacks"] if s["stack"] == "network")
    [resource] = network["resources"]
    assert (resource["type"], resource["name"], resource["kind"]) == (VPC, "vpc", "updated")
    assert resource["properties"] == [
        {"name": "tags.Name", "old": recorded_name, "new": "hand-edited"}
    ]
    code, text, _ = cloud(capsys, repo, "drift", "--engine", "simulate")
    assert code == 3
    assert f'tags.Name: "{recorded_name}" → "hand-edited"' in text
    assert "drift (simulated): 1 of 1 environment(s) drifted" in text

    code, deployed, err = cloud(capsys, repo, "deploy", "D1BRV40", "-e", "dev", "--engine",
                                "simulate", "--refresh", "--format", "json")  # fmt: skip
    assert code == 0, err
    stacks = {s["stack"]: s for s in deployed["stacks"]}
    assert stacks["network"]["status"] == "succeeded"
    assert stacks["network"]["reason"].startswith("drift found by the refresh")
    assert [c["changedInputs"] for c in stacks["network"]["changes"]] == [["tags"]]
    assert stacks["security"]["status"] == "skipped"  # its inputs from network are unchanged
    assert vpc_state(repo)["inputs"]["tags"]["Name"] == recorded_name

    code, report, _ = cloud(capsys, repo, "drift", "--engine", "simulate", "--format", "json")
    assert code == 0 and report["driftDetected"] is False
    assert report["summary"] == {"environments": 1, "drifted": 0, "inSync": 1, "failed": 0,
                                 "skipped": 0}  # fmt: skip


def test_a_deleted_resource_is_gone_and_a_refreshed_deploy_creates_it_again(
    capsys, repo: Path
) -> None:
    code, _, err = cloud(capsys, repo, "sim", "delete", "D1BRV40", "network", "-e", "dev",
                         "aws:ec2/internetGateway:InternetGateway::igw")  # fmt: skip
    assert code == 0, err
    code, report, _ = cloud(capsys, repo, "refresh", "D1BRV40", "-e", "dev", "--engine",
                            "simulate", "--format", "json")  # fmt: skip
    assert code == 0
    network = next(s for s in report["stacks"] if s["stack"] == "network")
    assert network["drift"]["status"] == "drifted"
    assert [(r["name"], r["kind"]) for r in network["drift"]["resources"]] == [("igw", "deleted")]
    state = json.loads((repo / ".cloud/sim/D1BRV40/dev/network.json").read_text())
    assert not any(r["urn"].endswith("::igw") for r in state["deployment"]["resources"])
    code, deployed, _ = cloud(capsys, repo, "deploy", "D1BRV40", "-e", "dev", "--engine",
                              "simulate", "--stacks", "network", "--format", "json")  # fmt: skip
    assert code == 0
    [network] = [s for s in deployed["stacks"] if s["stack"] == "network"]
    assert {c["name"]: c["kind"] for c in network["changes"]}["igw"] == "create"


def test_every_refresh_is_an_operation_with_its_drift_events(capsys, repo: Path) -> None:
    cloud(capsys, repo, "sim", "edit", "D1BRV40", "network", "-e", "dev", "vpc",
          "enableDnsHostnames=false")  # fmt: skip
    code, report, _ = cloud(capsys, repo, "refresh", "D1BRV40", "-e", "dev", "--engine",
                            "simulate", "--preview-only", "--format", "json")  # fmt: skip
    assert code == 0 and report["previewOnly"] is True and report["type"] == "refresh"
    store = open_store(repo / ".cloud" / "cloud.db")
    try:
        operation = store.get_operation(report["operationId"])
        kinds = [e.type for e in store.list_events(operation_id=operation.id)]
        detected = store.list_events(operation_id=operation.id, stack="network")
    finally:
        store.close()
    assert (operation.type, operation.status, operation.payload["dispatcher"]) == (
        "refresh", "success", "cli")  # fmt: skip
    assert kinds[0] == "operation.started" and kinds[-1] == "operation.completed"
    [drift] = [e for e in detected if e.type == "drift.detected"]
    assert drift.payload["resources"][0]["properties"] == [
        {"name": "enableDnsHostnames", "old": True, "new": False}
    ]
    # preview only: the state still holds what was deployed
    assert vpc_state(repo)["inputs"]["enableDnsHostnames"] is True


def test_status_shows_each_stacks_last_deploy_resources_and_drift(capsys, repo: Path) -> None:
    code, data, _ = cloud(capsys, repo, "status", "D1BRV40", "-e", "dev", "--engine",
                          "simulate", "--format", "json")  # fmt: skip
    assert code == 0
    [dev] = data["environments"]
    rows = {s["stackName"]: s for s in dev["stacks"]}
    assert rows["network"]["status"] == "deployed" and rows["network"]["resourceCount"] > 5
    assert rows["network"]["lastDeployedBy"].endswith("(cli)")
    assert rows["network"]["driftDetected"] is None and dev["drift"]["driftDetected"] is None
    assert rows["storage"]["status"] == "not_deployed"
    cloud(
        capsys,
        repo,
        "sim",
        "edit",
        "D1BRV40",
        "network",
        "-e",
        "dev",
        "vpc",
        "cidrBlock=10.9.0.0/16",
    )
    assert cloud(capsys, repo, "drift", "--engine", "simulate")[0] == 3
    code, data, _ = cloud(capsys, repo, "status", "D1BRV40", "-e", "dev", "--engine",
                          "simulate", "--format", "json")  # fmt: skip
    [dev] = data["environments"]
    rows = {s["stackName"]: s for s in dev["stacks"]}
    assert rows["network"]["driftDetected"] is True and rows["network"]["driftCheckedAt"]
    assert rows["security"]["driftDetected"] is False
    assert dev["drift"]["driftedStacks"] == ["network"]
    code, text, _ = cloud(capsys, repo, "status", "D1BRV40", "-e", "dev", "--engine", "simulate")
    assert "DRIFT in network" in text and "not_deployed" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["edit", "D1BRV40", "network", "-e", "dev", "nope", "a=1"],
                     "no resource 'nope' in the simulated cloud", id="unknown-resource"),
        pytest.param(["edit", "D1BRV40", "network", "-e", "dev", "vpc", "novalue"],
                     "expected PROPERTY=VALUE", id="bad-assignment"),
        pytest.param(["delete", "D1BRV40", "storage", "-e", "dev", "bucket"],
                     "D1BRV40-storage-dev is not deployed (simulated engine)", id="not-deployed"),
        pytest.param(["show", "D1BRV40", "network", "-e", "qa"], "no environment 'qa'",
                     id="unknown-environment"),
    ],
)  # fmt: skip
def test_sim_refuses_what_does_not_exist_with_exit_2(capsys, repo: Path, argv, message) -> None:
    code, _, err = cloud(capsys, repo, "sim", *argv)
    assert code == 2 and message in err


def test_drift_says_which_environments_it_could_not_check(capsys, repo: Path) -> None:
    (repo / ".cloud/sim/D1BRV40/dev/network.json").write_text("{not json")
    code, report, _ = cloud(capsys, repo, "drift", "--engine", "simulate", "--format", "json")
    assert code == 1  # incomplete: never read as "no drift"
    [entry] = report["environments"]
    assert entry["status"] == "failed"
    network = next(s for s in entry["stacks"] if s["stack"] == "network")
    assert network["status"] == "failed" and "corrupt" in network["reason"]


# --- the comparison, table by table -------------------------------------------------------

STATE = [
    {"urn": "urn::root", "type": "pulumi:pulumi:Stack", "outputs": {"x": 1}},
    {"urn": "urn::a::web", "type": "t:A", "inputs": {"size": 1, "tags": {"Name": "web"}}},
    {"urn": "urn::b::db", "type": "t:B", "inputs": {"password": {"[secret]": "h1"}}},
]


def cloud_of(**changes: Any) -> dict[str, Any]:
    found = {r["urn"]: {"type": r["type"], "properties": json.loads(json.dumps(r["inputs"]))}
             for r in STATE[1:]}  # fmt: skip
    for urn, properties in changes.items():
        if properties is None:
            del found[urn]
        else:
            found[urn]["properties"].update(properties)
    return found


@pytest.mark.parametrize(
    ("cloud_state", "expected"),
    [
        pytest.param(cloud_of(), [], id="in-sync"),
        pytest.param(cloud_of(**{"urn::a::web": {"tags": {"Name": "x"}}}),
                     [("web", "updated", [("tags.Name", "web", "x")])], id="nested-property"),
        pytest.param(cloud_of(**{"urn::b::db": {"password": {"[secret]": "h2"}}}),
                     [("db", "updated", [("password", SECRET, SECRET)])], id="secret-masked"),
        pytest.param(cloud_of(**{"urn::a::web": None}), [("web", "deleted", [])], id="gone"),
        pytest.param(cloud_of(**{"urn::a::web": {"extra": True}}),
                     [("web", "updated", [("extra", None, True)])], id="added-property"),
    ],
)  # fmt: skip
def test_compare_finds_what_differs_secrets_masked(cloud_state, expected) -> None:
    drift, same = compare(STATE, cloud_state)
    found = [(d.name, d.kind, [(p.name, p.old, p.new) for p in d.properties]) for d in drift]
    assert found == expected
    assert same == 2 - len(expected)


def test_a_refresh_takes_the_clouds_values_and_drops_what_is_gone() -> None:
    state = {"version": 3, "deployment": {"resources": STATE}}
    after = refreshed(state, cloud_of(**{"urn::a::web": {"size": 2}, "urn::b::db": None}))
    resources = {r["urn"]: r for r in after["deployment"]["resources"]}
    assert set(resources) == {"urn::root", "urn::a::web"}
    assert resources["urn::a::web"]["inputs"]["size"] == 2
    assert resources["urn::root"]["outputs"] == {"x": 1}
    assert state["deployment"]["resources"][1]["inputs"]["size"] == 1  # a copy, not an edit


def test_resources_are_named_by_name_type_and_name_or_urn() -> None:
    found = cloud_of()
    assert find_resource(found, "web") == "urn::a::web"
    assert find_resource(found, "t:B::db") == "urn::b::db"
    assert find_resource(found, "urn::a::web") == "urn::a::web"
    found["urn::c::web"] = {"type": "t:C", "properties": {}}
    with pytest.raises(SimulatedCloudError, match="names 2 resources"):
        find_resource(found, "web")
    assert parse_assignment("tags.Name=web") == (["tags", "Name"], "web")
    assert parse_assignment("size=3") == (["size"], 3)
    assert parse_assignment('list=["a"]') == (["list"], ["a"])
