"""The composite action's steps, run with the environment action.yml gives them, on a
temporary git repo with a base and a head commit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import responses

from controller.action.commands import run_action as run_in_process
from controller.adapters.github_api import make_github
from tests.action_harness import run_action
from tests.conftest import commit_change, git
from tests.github_fake import FakeGitHub

D1 = "deployments/D1BRV40-CompanyA-ecommerce"
D2 = "deployments/D2K7Q1M-CompanyB-payments"


def simulated(repo: Path, work: Path, **given: str):
    """The action's steps with the simulated engine and no Pulumi CLI install."""
    return run_action(repo, work, engine="simulate", install_pulumi="false", **given)


def test_plan_against_the_base_outputs_the_layers_as_matrix_json(repo, work):
    commit_change(repo, "stacks/network/__main__.py", '"""', '"""Tuned. ')
    run = run_action(repo, work, command="plan", base_ref="HEAD~1", install_pulumi="false")
    assert run.code == 0, run.stderr
    assert run.outputs["changed"] == "true"
    layers = {n: json.loads(run.outputs[f"layer-{n}"]) for n in range(1, 9)}
    assert sorted((i["deployment"], i["environment"]) for i in layers[1]) == [
        ("D1BRV40", "dev"),
        ("D1BRV40", "stage"),
        ("D2K7Q1M", "dev"),
        ("D2K7Q1M", "prod"),
    ]
    assert {i["stack"] for i in layers[1]} == {"network"}
    # everything downstream of network runs too, to check at run time whether an output it
    # consumes changed (most will skip): the default template is 7 layers deep
    assert run.outputs["layer-count"] == "7"
    assert {i["stack"] for i in layers[7]} == {"monitoring"}
    assert layers[8] == []
    assert all(
        set(item) == {"deployment", "environment", "stack"}
        for items in layers.values()
        for item in items
    )
    compact = json.loads(run.outputs["plan-json"])
    assert compact == {
        "changed": True,
        "layerCount": 7,
        "runnable": 16 * 2 + 13 * 2,
        "removals": 0,
        "simulated": False,
    }
    assert Path(run.outputs["plan-file"]).exists()
    assert run.summary == ""  # the summary step writes it, once
    summary = run_action(repo, work, command="summary", install_pulumi="false")
    assert summary.code == 0, summary.stderr
    assert "| `network` | 1 | update | not previewed |" in summary.summary
    assert (work / "runner-temp/cloud/plan.md").exists()


def test_plan_without_changes_is_unchanged(repo, work):
    run = run_action(repo, work, command="plan", base_ref="HEAD", install_pulumi="false")
    assert run.code == 0, run.stderr
    assert run.outputs["changed"] == "false"
    assert all(json.loads(run.outputs[f"layer-{n}"]) == [] for n in range(1, 9))


def test_validate_annotates_and_fails_on_bad_input(repo, work):
    commit_change(repo, f"{D1}/manifest.yaml", 'dev: "111111111111"', 'dev: "1111"')
    run = run_action(repo, work, command="validate", install_pulumi="false")
    assert run.code == 1
    assert run.outputs["valid"] == "false"
    assert f"::error file={D1}/manifest.yaml,line=" in run.stdout
    assert "VALIDATION_INVALID_ACCOUNT_ID" in run.stdout


def test_run_stack_writes_the_result_and_holds_no_lock_afterwards(repo, work):
    run = simulated(
        repo,
        work,
        command="run-stack",
        deployment="D2K7Q1M",
        environment="dev",
        stack="network",
    )
    assert run.code == 0, run.stderr
    assert run.outputs["status"] == "succeeded"
    result = json.loads(Path(run.outputs["result-file"]).read_text())
    assert result["stack"] == "network" and result["simulated"] is True
    assert result["counts"]["create"] > 0
    assert result["outputs"]["vpcId"].startswith("vpc-")
    assert not list((work / "runner-temp/cloud/locks").glob("*.held"))


def test_a_stack_with_pending_operations_needs_repair_and_is_not_touched(repo, work):
    simulated(
        repo,
        work,
        command="run-stack",
        deployment="D2K7Q1M",
        environment="dev",
        stack="network",
    )
    state_file = repo / ".cloud/sim/D2K7Q1M/dev/network.json"
    state = json.loads(state_file.read_text())
    state["deployment"]["pending_operations"] = [{"type": "creating", "resource": {"urn": "urn:x"}}]
    state_file.write_text(json.dumps(state))
    commit_change(repo, f"{D2}/manifest.yaml", "vpcCidr: 10.20.0.0/16", "vpcCidr: 10.21.0.0/16")
    run = simulated(
        repo,
        work,
        command="run-stack",
        deployment="D2K7Q1M",
        environment="dev",
        stack="network",
    )
    assert run.code == 1
    result = json.loads(Path(run.outputs["result-file"]).read_text())
    assert result["status"] == "failed"
    assert result["error"].startswith("needs repair: an interrupted update left 1 pending")
    assert json.loads(state_file.read_text()) == state


def test_release_lock_releases_only_the_lock_this_job_held(repo, work):
    lock = repo / ".cloud/sim/D2K7Q1M/dev/network.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text("update by pid 1\n")
    run = simulated(
        repo,
        work,
        command="release-lock",
        deployment="D2K7Q1M",
        environment="dev",
        stack="network",
    )
    assert run.code == 0 and "no lock held by this job" in run.stdout
    assert lock.exists()  # another run's lock: left alone
    marker = work / "runner-temp/cloud/locks/D2K7Q1M-network-dev.held"
    marker.parent.mkdir(parents=True)
    marker.write_text("held")
    run = simulated(
        repo,
        work,
        command="release-lock",
        deployment="D2K7Q1M",
        environment="dev",
        stack="network",
    )
    assert run.code == 0
    assert not lock.exists() and not marker.exists()


def test_a_removed_deployment_is_planned_for_destroy_with_its_resources(repo, work):
    deployed = simulated(
        repo,
        work,
        command="run-stack",
        deployment="D2K7Q1M",
        environment="dev",
        stack="network",
    )
    assert deployed.code == 0
    shutil.rmtree(repo / D2)
    git(repo, "commit", "-qam", "remove payments")
    run = simulated(
        repo,
        work,
        command="destroy-plan",
        base_ref="HEAD~1",
    )
    assert run.code == 0, run.stderr
    removals = json.loads(run.outputs["removals"])
    assert {(r["deployment"], r["environment"]) for r in removals} == {
        ("D2K7Q1M", "dev"),
        ("D2K7Q1M", "prod"),
    }
    dev = next(r for r in removals if r["environment"] == "dev")
    assert "network" in dev["stacks"].split(",")
    plan = json.loads((work / "runner-temp/cloud/destroy-plan.json").read_text())
    network = next(
        r
        for env in plan["environments"]
        if env["environment"] == "dev"
        for r in env["removals"]
        if r["stack"] == "network"
    )
    assert "aws:ec2/vpc:Vpc vpc" in network["resources"]
    removed = simulated(
        repo,
        work,
        command="remove",
        deployment="D2K7Q1M",
        environment="dev",
        stacks=dev["stacks"],
        base_ref="HEAD~1",
    )
    assert removed.code == 0, removed.stderr
    assert not (repo / ".cloud/sim/D2K7Q1M").exists()


def test_a_dispatched_destroy_plans_the_deployed_stacks_in_reverse(repo, work):
    for stack in ("network", "security"):
        assert (
            simulated(
                repo,
                work,
                command="run-stack",
                deployment="D2K7Q1M",
                environment="dev",
                stack=stack,
            ).code
            == 0
        )
    run = simulated(
        repo,
        work,
        command="plan",
        deployment="D2K7Q1M",
        environment="dev",
        operation="destroy",
    )
    assert run.code == 0, run.stderr
    assert [i["stack"] for i in json.loads(run.outputs["layer-1"])] == ["security"]
    assert [i["stack"] for i in json.loads(run.outputs["layer-2"])] == ["network"]


def test_comment_posts_the_plan_on_the_pull_request(repo, work, monkeypatch):
    commit_change(repo, "stacks/network/__main__.py", '"""', '"""Tuned. ')
    event = work / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    env = {
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": "acme/infra",
        "GITHUB_RUN_ID": "99",
        "GITHUB_TOKEN": "t",
        "CLOUD_ROOT": str(repo),
        "RUNNER_TEMP": str(work / "runner-temp"),
        "GITHUB_OUTPUT": str(work / "out"),
        "CLOUD_BASE_REF": "HEAD~1",
        "CLOUD_COMMAND": "plan",
    }
    assert run_in_process(env) == 0
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake = FakeGitHub(mock)
        monkeypatch.setattr("controller.action.plan_comments.make_github", _unthrottled)
        assert run_in_process(env | {"CLOUD_COMMAND": "comment"}) == 0
        [body] = fake.bodies()
        assert "| 🟡 | `D1BRV40` / `dev` | 1 | 15 | 0 | not previewed | `network` |" in body
        assert "| `network` | 1 | update | not previewed |" in body
        assert "[run](https://github.com/acme/infra/actions/runs/99)" in body
        assert run_in_process(env | {"CLOUD_COMMAND": "comment"}) == 0
        assert len(fake.bodies()) == 1


def test_a_gone_pull_request_is_reported_not_crashed_on(repo, work, capsys, monkeypatch):
    event = work / "event.json"
    event.write_text(json.dumps({"number": 7}))
    env = {
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": "acme/infra",
        "GITHUB_TOKEN": "t",
        "CLOUD_ROOT": str(repo),
        "CLOUD_COMMAND": "comment",
        "RUNNER_TEMP": str(work / "runner-temp"),
    }
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake = FakeGitHub(mock)
        fake.fail_next = [(404, {}, "Not Found")]
        monkeypatch.setattr("controller.action.plan_comments.make_github", _unthrottled)
        assert run_in_process(env) == 0
    assert "::warning title=cloud::pull request #7 is gone (404)" in capsys.readouterr().out


def _unthrottled(token, *, base_url="https://api.github.com"):
    """make_github without PyGithub's pauses between requests (a test needs no politeness)."""
    return make_github(token, base_url=base_url, throttle=False)
