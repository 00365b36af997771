"""Deploy, plan and destroy end to end, as a new user would, with the simulated engine
running the catalog's real programs under Pulumi's mock runtime."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest

from controller.cli.main import main
from tests.conftest import REPO_ROOT, git

D1 = "deployments/D1BRV40-CompanyA-ecommerce/manifest.yaml"


def cloud(capsys, root: Path, *argv: str) -> tuple[int, str, str]:
    code = main(["--root", str(root), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def deploy_json(capsys, root, *argv):
    code, out, err = cloud(
        capsys, root, "deploy", *argv, "--engine", "simulate", "--format", "json"
    )
    return code, json.loads(out), err


def by_stack(report):
    return {entry["stack"]: entry for entry in report["stacks"]}


def state(root, stack, env="dev"):
    return json.loads((root / ".cloud/sim/D1BRV40" / env / f"{stack}.json").read_text())


def resources(root, stack, type_):
    return [r for r in state(root, stack)["deployment"]["resources"] if r["type"] == type_]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """A repo copy where D1BRV40 dev was deployed once (with the report of that run)."""
    root = tmp_path_factory.mktemp("deployed") / "repo"
    for folder in ("stacks", "deployments"):
        shutil.copytree(
            REPO_ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    code = main(
        [
            "--root",
            str(root),
            "deploy",
            "D1BRV40",
            "-e",
            "dev",
            "--engine",
            "simulate",
            "--format",
            "json",
            "--events",
            str(root / "events.jsonl"),
        ]
    )
    assert code == 0
    return root


@pytest.fixture
def repo(deployed, tmp_path):
    copy = tmp_path / "repo"
    shutil.copytree(deployed, copy)
    return copy


def test_deploy_runs_every_stack_in_dependency_order(deployed):
    events = [json.loads(line) for line in (deployed / "events.jsonl").read_text().splitlines()]
    completed = [e["data"]["stackName"] for e in events if e["type"] == "stack.completed"]
    started = {
        e["data"]["stackName"]: i for i, e in enumerate(events) if e["type"] == "stack.started"
    }
    done = {
        e["data"]["stackName"]: i for i, e in enumerate(events) if e["type"] == "stack.completed"
    }
    assert len(completed) == 16 and all(
        e["data"]["status"] == "deployed" for e in events if e["type"] == "stack.completed"
    )
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert (
            main(["--root", str(deployed), "layers", "D1BRV40", "-e", "dev", "--format", "json"])
            == 0
        )
    layers = json.loads(printed.getvalue())
    for name, entry in layers["stacks"].items():
        for dependency in entry["dependencies"]:
            assert done[dependency] < started[name], (dependency, name)
    assert events[-1]["type"] == "operation.completed"
    assert events[-1]["data"]["status"] == "success"


def test_outputs_flow_into_dependents(deployed):
    network = state(deployed, "network")["deployment"]["resources"][0]["outputs"]
    groups = resources(deployed, "security", "aws:ec2/securityGroup:SecurityGroup")
    assert len(groups) == 3
    assert {group["inputs"]["vpcId"] for group in groups} == {network["vpcId"]}
    [cluster] = resources(deployed, "database-rds", "aws:rds/subnetGroup:SubnetGroup")
    assert cluster["inputs"]["subnetIds"] == network["privateSubnetIds"]
    [pool_client] = resources(
        deployed, "authentication", "aws:cognito/userPoolClient:UserPoolClient"
    )
    zone = state(deployed, "dns")["deployment"]["resources"][0]["outputs"]["zoneName"]
    assert pool_client["inputs"]["callbackUrls"] == [f"https://shop.{zone}/oauth2/callback"]


def test_a_second_deploy_skips_everything_as_unchanged(capsys, repo):
    code, report, _ = deploy_json(capsys, repo, "D1BRV40", "-e", "dev")
    assert code == 0
    assert {s["status"] for s in report["stacks"]} == {"skipped"}
    assert all(s["reason"].startswith("unchanged") for s in report["stacks"])
    assert report["simulated"] is True


def test_one_config_change_plans_one_stack_and_its_dependents_pending(capsys, repo):
    manifest = repo / D1
    manifest.write_text(
        manifest.read_text().replace("instanceClass: db.t3.small", "instanceClass: db.t3.large")
    )
    code, out, _ = cloud(
        capsys,
        repo,
        "plan",
        "--deployment",
        "D1BRV40",
        "-e",
        "dev",
        "--engine",
        "simulate",
        "--format",
        "json",
    )
    assert code == 0
    plan = json.loads(out)
    entries = {e["stack"]: e for e in plan["environments"][0]["entries"]}
    assert {s for s, e in entries.items() if e["status"] == "changed"} == {"database-rds"}
    assert entries["database-rds"]["reason"] == (
        "config key instanceClass changed: db.t3.small → db.t3.large"
    )
    assert {s for s, e in entries.items() if e["status"] == "pending-upstream"} == {
        "containers-apps",
        "services-api",
        "monitoring",
    }
    assert plan["matrix"]["layer-4"] == [
        {
            "deployment": "D1BRV40",
            "environment": "dev",
            "stack": "database-rds",
            "status": "changed",
        }
    ]
    code, report, _ = deploy_json(capsys, repo, "D1BRV40", "-e", "dev")
    stacks = by_stack(report)
    assert stacks["database-rds"]["status"] == "succeeded"
    assert stacks["database-rds"]["counts"]["update"] == 1
    assert [c["changedInputs"] for c in stacks["database-rds"]["changes"]] == [["instanceClass"]]
    for dependent in ("containers-apps", "services-api", "monitoring"):
        assert stacks[dependent]["status"] == "skipped"
        assert stacks[dependent]["reason"].startswith("upstream outputs it consumes are unchanged")


def test_a_dependent_runs_when_an_output_it_consumes_changes(capsys, repo):
    manifest = repo / D1
    manifest.write_text(
        manifest.read_text().replace(
            "  security:\n    config:\n", "  security:\n    config:\n      appPort: 9090\n"
        )
    )
    code, report, _ = deploy_json(capsys, repo, "D1BRV40", "-e", "dev")
    assert code == 0
    stacks = by_stack(report)
    assert stacks["security"]["reason"] == "config key appPort changed: 8080 → 9090"
    assert stacks["services-ecs"]["status"] == "succeeded"
    assert stacks["services-ecs"]["reason"] == "upstream output security.appPort changed"
    assert stacks["containers-apps"]["reason"] == (
        "upstream output services-ecs.targetGroupPort changed"
    )
    assert stacks["database-rds"]["status"] == "skipped"  # consumes security, not appPort
    assert stacks["network"]["status"] == "skipped"


def test_changing_a_stack_file_changes_it_everywhere_and_nothing_else(capsys, repo):
    git(repo, "init", "-q")
    git(repo, "add", "stacks", "deployments")
    git(repo, "commit", "-qm", "base")
    program = repo / "stacks/network/__main__.py"
    program.write_text(program.read_text() + "\nTUNED = True\n")  # a comment would not count
    code, out, err = cloud(capsys, repo, "plan", "--base", "HEAD", "--format", "json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["mode"] == "git"
    changed = {
        (e["deploymentId"], e["environment"], e["stack"])
        for env in plan["environments"]
        for e in env["entries"]
        if e["status"] in ("changed", "new")
    }
    assert changed == {
        ("D1BRV40", "dev", "network"),
        ("D1BRV40", "stage", "network"),
        ("D2K7Q1M", "dev", "network"),
        ("D2K7Q1M", "prod", "network"),
    }
    entry = next(
        e for env in plan["environments"] for e in env["entries"] if e["stack"] == "network"
    )
    assert entry["reason"] == "program stacks/network/__main__.py changed"
    assert [item["stack"] for item in plan["matrix"]["layer-1"]] == ["network"] * 4
    assert plan["changed"] is True


def test_a_failing_program_blocks_dependents_and_independents_finish(capsys, repo):
    shutil.rmtree(repo / ".cloud")
    program = repo / "stacks/secrets/__main__.py"
    program.write_text("raise RuntimeError('KMS key is pending deletion')\n")
    code, report, _ = deploy_json(capsys, repo, "D1BRV40", "-e", "dev", "--continue-on-error")
    assert code == 1 and report["status"] == "failed"
    stacks = by_stack(report)
    assert stacks["secrets"]["status"] == "failed"
    assert "RuntimeError: KMS key is pending deletion" in stacks["secrets"]["error"]
    for blocked in (
        "authentication",
        "database-rds",
        "compute-lambda",
        "containers-apps",
        "services-api",
        "monitoring",
    ):
        assert stacks[blocked]["status"] == "blocked", blocked
        assert stacks[blocked]["reason"] == "upstream secrets failed"
    for independent in (
        "network",
        "security",
        "dns",
        "storage",
        "services-ecr",
        "containers-images",
        "services-ecs",
        "services-eks",
        "compute-ec2",
    ):
        assert stacks[independent]["status"] == "succeeded", independent


def test_destroy_removes_in_reverse_order_and_leaves_no_state(capsys, repo):
    code, out, _ = cloud(
        capsys,
        repo,
        "destroy",
        "D1BRV40",
        "-e",
        "dev",
        "--engine",
        "simulate",
        "--yes",
        "--format",
        "json",
        "--events",
        str(repo / "destroy.jsonl"),
    )
    assert code == 0, out
    events = [json.loads(line) for line in (repo / "destroy.jsonl").read_text().splitlines()]
    done = [e["data"]["stackName"] for e in events if e["type"] == "stack.completed"]
    started = {
        e["data"]["stackName"]: i for i, e in enumerate(events) if e["type"] == "stack.started"
    }
    finished = {
        e["data"]["stackName"]: i for i, e in enumerate(events) if e["type"] == "stack.completed"
    }
    assert len(done) == 16 and done[-1] == "network"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        main(["--root", str(repo), "layers", "D1BRV40", "-e", "dev", "--format", "json"])
    for name, entry in json.loads(printed.getvalue())["stacks"].items():
        for dependency in entry["dependencies"]:  # a dependency goes only after its dependents
            assert finished[name] < started[dependency], (name, dependency)
    assert not (repo / ".cloud/sim/D1BRV40").exists()


def test_destroying_one_stack_with_deployed_dependents_is_refused(capsys, repo):
    code, _, err = cloud(
        capsys,
        repo,
        "destroy-stack",
        "D1BRV40",
        "network",
        "-e",
        "dev",
        "--engine",
        "simulate",
        "--yes",
    )
    assert code == 2
    assert "would break deployed dependents" in err
    assert (repo / ".cloud/sim/D1BRV40/dev/network.json").exists()


def test_state_export_then_import_round_trips_exactly(capsys, repo, tmp_path):
    exported = tmp_path / "network.json"
    assert (
        cloud(
            capsys,
            repo,
            "state",
            "export",
            "D1BRV40",
            "network",
            "-e",
            "dev",
            "--engine",
            "simulate",
            "--file",
            str(exported),
        )[0]
        == 0
    )
    original = exported.read_text()
    (repo / ".cloud/sim/D1BRV40/dev/network.json").unlink()
    assert (
        cloud(
            capsys,
            repo,
            "state",
            "import",
            "D1BRV40",
            "network",
            "-e",
            "dev",
            "--engine",
            "simulate",
            "--file",
            str(exported),
        )[0]
        == 0
    )
    code, out, _ = cloud(
        capsys, repo, "state", "export", "D1BRV40", "network", "-e", "dev", "--engine", "simulate"
    )
    assert code == 0 and out == original


def test_outputs_mask_secrets_unless_asked(capsys, repo):
    code, out, _ = cloud(
        capsys, repo, "outputs", "D1BRV40", "-e", "dev", "--engine", "simulate", "--format", "json"
    )
    outputs = json.loads(out)["outputs"]
    assert code == 0 and outputs["authentication"]["clientSecret"] == "[secret]"
    shown = json.loads(
        cloud(
            capsys,
            repo,
            "outputs",
            "D1BRV40",
            "-e",
            "dev",
            "--engine",
            "simulate",
            "--stack",
            "authentication",
            "--show-secrets",
            "--format",
            "json",
        )[1]
    )
    assert shown["outputs"]["authentication"]["clientSecret"] != "[secret]"


def test_run_stack_writes_a_masked_result_for_ci(capsys, repo, tmp_path):
    result_file = tmp_path / "result.json"
    code, _, _ = cloud(
        capsys,
        repo,
        "run-stack",
        "D1BRV40",
        "authentication",
        "-e",
        "dev",
        "--engine",
        "simulate",
        "--result-file",
        str(result_file),
    )
    result = json.loads(result_file.read_text())
    assert code == 0
    assert result["stack"] == "authentication" and result["status"] == "skipped"
    assert result["simulated"] is True


def test_the_pulumi_engine_without_its_cli_is_a_usage_error(capsys, repo, monkeypatch):
    monkeypatch.setenv("PATH", str(repo))
    monkeypatch.delenv("CLOUD_ENGINE", raising=False)
    code, _, err = cloud(capsys, repo, "deploy", "D1BRV40", "-e", "dev")
    assert code == 2
    assert "the pulumi CLI is not on PATH" in err
    assert not (repo / ".cloud/pulumi/state").exists()


def test_deploying_a_disabled_environment_is_refused(capsys, repo):
    code, _, err = cloud(capsys, repo, "deploy", "D1BRV40", "-e", "prod", "--engine", "simulate")
    assert code == 2 and "disabled" in err


def test_a_stack_filter_that_matches_nothing_is_refused_before_anything_runs(capsys, repo):
    def states():
        return {p: p.read_bytes() for p in (repo / ".cloud/sim").rglob("*") if p.is_file()}

    before = states()
    code, _, err = cloud(
        capsys, repo, "deploy", "D1BRV40", "-e", "dev", "--stacks", "nope-*", "--engine",
        "simulate",
    )  # fmt: skip
    assert code == 2
    assert "--stacks nope-* matches no stack of D1BRV40 in dev (" in err and "network" in err
    assert states() == before


def test_a_stack_filter_leaving_out_a_never_deployed_upstream_is_refused_up_front(capsys, tmp_path):
    """seeds/001's own stackFilter ["network", "security", "compute-*"] on a deployment
    where nothing ran: compute-lambda consumes secrets.appSecretArn, which no run has made;
    refused before anything runs, naming the upstream and the output."""
    root = tmp_path / "repo"
    for folder in ("stacks", "deployments"):
        shutil.copytree(
            REPO_ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    code, _, err = cloud(
        capsys, root, "deploy", "D1BRV40", "-e", "dev", "--stacks", "network,security,compute-*",
        "--engine", "simulate",
    )  # fmt: skip
    assert code == 2, err
    assert "secrets" in err and "appSecretArn" in err and "compute-lambda" in err
    assert not (root / ".cloud/sim").exists() or not list((root / ".cloud/sim").rglob("*.json"))
