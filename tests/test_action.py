"""The composite action's steps, run with the environment action.yml gives them, on a
temporary git repo with a base and a head commit."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import responses

from controller.action.commands import run_action as run_in_process
from controller.adapters.github_api import make_github
from tests.action_harness import run_action
from tests.conftest import commit_change, git
from tests.github_fake import FakeEnvironments, FakeGitHub

D1 = "deployments/D1BRV40-CompanyA-ecommerce"
D2 = "deployments/D2K7Q1M-CompanyB-payments"


def simulated(repo: Path, work: Path, **given: str):
    """The action's steps with the simulated engine and no Pulumi CLI install."""
    return run_action(repo, work, engine="simulate", install_pulumi="false", **given)


def waves(run):
    return {n: json.loads(run.outputs[f"wave-{n}"]) for n in range(1, 5)}


def test_plan_emits_one_job_per_environment_with_work_in_promotion_waves(repo, work):
    commit_change(
        repo, "stacks/network/__main__.py", "import ipaddress\n", "import ipaddress\nimport os\n"
    )
    run = run_action(repo, work, command="plan", base_ref="HEAD~1", install_pulumi="false")
    assert run.code == 0, run.stderr
    assert run.outputs["changed"] == "true"
    by_wave = waves(run)
    # D1BRV40 deploys dev then stage (prod is disabled); D2K7Q1M dev then prod
    assert sorted(e["environments"] for e in by_wave[1]) == ["D1BRV40/dev", "D2K7Q1M/dev"]
    assert sorted(e["environments"] for e in by_wave[2]) == ["D1BRV40/stage", "D2K7Q1M/prod"]
    assert by_wave[3] == by_wave[4] == []
    prod, stage = sorted(by_wave[2], key=lambda e: e["environments"], reverse=True)
    assert stage["after"] == "D1BRV40/stage=D1BRV40/dev"
    assert stage["artifacts"] == "result-D1BRV40-dev"
    assert stage["githubEnvironment"] == "D1BRV40-stage" and not stage["protected"]
    assert prod["githubEnvironment"] == "D2K7Q1M-prod" and prod["protected"]
    assert prod["concurrency"] == "cloud-D2K7Q1M-prod"
    assert prod["name"] == "D2K7Q1M / prod"
    compact = json.loads(run.outputs["plan-json"])
    assert compact["deployJobs"] == 4 and compact["environments"] == 4
    assert compact["waves"] == 2 and compact["runnable"] == 16 * 2 + 13 * 2
    assert Path(run.outputs["plan-file"]).exists()
    assert run.outputs["ref"] == git(repo, "rev-parse", "HEAD").strip()
    assert "4 environment job(s) for 4 deployment environment(s)" in run.summary
    assert "cloud plan" not in run.summary  # in a pull request the summary step writes it, once
    summary = run_action(repo, work, command="summary", install_pulumi="false")
    assert summary.code == 0, summary.stderr
    assert "| `network` | 1 | update | not previewed |" in summary.summary
    assert (work / "runner-temp/cloud/plan.md").exists()


def test_plan_without_changes_has_no_jobs(repo, work):
    run = run_action(repo, work, command="plan", base_ref="HEAD", install_pulumi="false")
    assert run.code == 0, run.stderr
    assert run.outputs["changed"] == "false"
    assert all(entries == [] for entries in waves(run).values())
    assert json.loads(run.outputs["removals"]) == []


def test_a_dispatched_ref_that_is_not_on_the_default_branch_is_refused(repo, work):
    git(repo, "checkout", "-q", "-b", "side")
    commit_change(repo, f"{D2}/manifest.yaml", "vpcCidr: 10.20.0.0/16", "vpcCidr: 10.21.0.0/16")
    side = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "main")
    run = simulated(repo, work, command="plan", ref=side, default_branch="main")
    assert run.code == 1
    assert "is not on the default branch main" in run.stdout
    assert "nothing was deployed" in run.stdout
    assert "wave-1" not in run.outputs  # no job can start
    main_commit = git(repo, "rev-parse", "HEAD").strip()
    allowed = simulated(repo, work, command="plan", ref=main_commit, default_branch="main")
    assert allowed.code == 0, allowed.stdout + allowed.stderr
    assert allowed.outputs["ref"] == main_commit


def test_validate_annotates_and_fails_on_bad_input(repo, work):
    commit_change(repo, f"{D1}/manifest.yaml", 'dev: "111111111111"', 'dev: "1111"')
    run = run_action(repo, work, command="validate", install_pulumi="false")
    assert run.code == 1
    assert run.outputs["valid"] == "false"
    assert f"::error file={D1}/manifest.yaml,line=" in run.stdout
    assert "VALIDATION_INVALID_ACCOUNT_ID" in run.stdout


def deploy_job(repo, work, environments, **given):
    return simulated(repo, work, command="run-environments", environments=environments, **given)


def result_of(work, key):
    deployment, environment = key.split("/")
    path = work / f"runner-temp/cloud/results/{deployment}-{environment}.json"
    return json.loads(path.read_text())


def test_an_environment_job_deploys_its_whole_dag_and_leaves_a_result(repo, work):
    run = deploy_job(repo, work, "D2K7Q1M/dev")
    assert run.code == 0, run.stdout + run.stderr
    assert run.outputs["status"] == "success"
    result = result_of(work, "D2K7Q1M/dev")
    assert result["status"] == "success" and result["simulated"] is True
    stacks = {s["stack"]: s for s in result["stacks"]}
    assert len(stacks) == 13 and all(s["status"] == "succeeded" for s in stacks.values())
    assert stacks["network"]["outputs"]["vpcId"].startswith("vpc-")
    assert "### deploy D2K7Q1M / dev: success (simulated)" in run.summary
    assert not list((work / "runner-temp/cloud/locks").glob("*.held"))
    again = deploy_job(repo, work, "D2K7Q1M/dev")
    assert again.code == 0
    assert {s["status"] for s in result_of(work, "D2K7Q1M/dev")["stacks"]} == {"skipped"}


def test_a_stack_with_pending_operations_needs_repair_and_is_not_touched(repo, work):
    deploy_job(repo, work, "D2K7Q1M/dev", stacks="network")
    state_file = repo / ".cloud/sim/D2K7Q1M/dev/network.json"
    state = json.loads(state_file.read_text())
    state["deployment"]["pending_operations"] = [{"type": "creating", "resource": {"urn": "urn:x"}}]
    state_file.write_text(json.dumps(state))
    commit_change(repo, f"{D2}/manifest.yaml", "vpcCidr: 10.20.0.0/16", "vpcCidr: 10.21.0.0/16")
    run = deploy_job(repo, work, "D2K7Q1M/dev", stacks="network")
    assert run.code == 1
    result = result_of(work, "D2K7Q1M/dev")
    assert result["status"] == "failed"
    network = next(s for s in result["stacks"] if s["stack"] == "network")
    assert network["error"].startswith("needs repair: an interrupted update left 1 pending")
    assert json.loads(state_file.read_text()) == state


def test_release_lock_releases_only_the_locks_this_job_held(repo, work, capsys):
    env = {
        **os.environ,
        "CLOUD_ROOT": str(repo),
        "RUNNER_TEMP": str(work / "runner-temp"),
        "CLOUD_COMMAND": "release-lock",
        "CLOUD_ENGINE": "simulate",
    }
    lock = repo / ".cloud/sim/D2K7Q1M/dev/network.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text("update by pid 1\n")
    assert run_in_process(env) == 0
    assert "no lock held by this job" in capsys.readouterr().out
    assert lock.exists()  # another run's lock: left alone
    marker = work / "runner-temp/cloud/locks/D2K7Q1M-network-dev.held"
    marker.parent.mkdir(parents=True)
    marker.write_text(
        json.dumps({"deploymentId": "D2K7Q1M", "environment": "dev", "stack": "network"})
    )
    assert run_in_process(env) == 0
    assert not lock.exists() and not marker.exists()


def test_an_interrupted_job_releases_the_lock_its_stack_held(repo, work):
    """The composite action's `if: always()` step runs after a failed run step."""
    marker = work / "runner-temp/cloud/locks/D2K7Q1M-network-dev.held"
    marker.parent.mkdir(parents=True)
    marker.write_text(
        json.dumps({"deploymentId": "D2K7Q1M", "environment": "dev", "stack": "network"})
    )
    lock = repo / ".cloud/sim/D2K7Q1M/dev/network.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text("update by pid 1\n")
    run = deploy_job(repo, work, "D9ZZZZZ/dev")  # fails: no such deployment
    assert run.code == 1
    assert "released the lock this job held on D2K7Q1M-network-dev" in run.stdout
    assert not lock.exists()


def test_a_later_wave_runs_only_after_its_earlier_environment_succeeded(repo, work):
    upstream = work / "runner-temp/cloud/upstream"
    upstream.mkdir(parents=True)
    (upstream / "D2K7Q1M-dev.json").write_text(
        json.dumps({"deploymentId": "D2K7Q1M", "environment": "dev", "status": "failed"})
    )
    (upstream / "D1BRV40-dev.json").write_text(
        json.dumps({"deploymentId": "D1BRV40", "environment": "dev", "status": "success"})
    )
    run = deploy_job(
        repo,
        work,
        "D1BRV40/stage,D2K7Q1M/prod",
        after="D1BRV40/stage=D1BRV40/dev,D2K7Q1M/prod=D2K7Q1M/dev",
        stacks="network,security",
    )
    assert run.code == 1  # one of its environments did not run
    prod = result_of(work, "D2K7Q1M/prod")
    assert prod["status"] == "blocked" and "D2K7Q1M/dev" in prod["reason"]
    assert "ended failed in this run" in prod["reason"]
    assert not (repo / ".cloud/sim/D2K7Q1M/prod").exists()  # prod untouched
    stage = result_of(work, "D1BRV40/stage")
    assert stage["status"] == "success" and stage["stacks"]  # the other deployment went on
    assert (repo / ".cloud/sim/D1BRV40/stage/network.json").exists()
    missing = deploy_job(repo, work, "D2K7Q1M/prod", after="D2K7Q1M/prod=D2K7Q1M/stage")
    assert missing.code == 1
    assert "did not finish in this run" in result_of(work, "D2K7Q1M/prod")["reason"]


PROTECTED = {"github_environment": "D2K7Q1M-prod", "protected": "true", "github_token": "t"}


def protected_job(repo, work, monkeypatch, fake_rules):
    env = {"GITHUB_REPOSITORY": "acme/infra"}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru("http://127.0.0.1")
        environments = FakeEnvironments(mock)
        fake_rules(environments)
        return run_in_process(
            {
                **os.environ,
                **env,
                "CLOUD_ROOT": str(repo),
                "RUNNER_TEMP": str(work / "runner-temp"),
                "GITHUB_OUTPUT": str(work / "out"),
                "GITHUB_STEP_SUMMARY": str(work / "summary"),
                "CLOUD_COMMAND": "run-environments",
                "CLOUD_ENVIRONMENTS": "D2K7Q1M/prod",
                "CLOUD_STACKS": "network",
                "CLOUD_GITHUB_ENVIRONMENT": PROTECTED["github_environment"],
                "CLOUD_PROTECTED": "true",
                "CLOUD_ENGINE": "simulate",
                "GITHUB_TOKEN": "t",
            }
        ), environments


@pytest.mark.parametrize(
    ("rules", "why"),
    [
        pytest.param(
            lambda f: f.add("D2K7Q1M-prod", reviewers=False), "no required reviewers", id="no-rules"
        ),
        pytest.param(lambda f: None, "does not exist", id="missing"),
    ],
)
def test_a_protected_environment_without_protection_refuses_to_apply(
    repo, work, monkeypatch, rules, why
):
    monkeypatch.setattr("controller.action.environments.make_github", _unthrottled)
    code, environments = protected_job(repo, work, monkeypatch, rules)
    assert code == 1
    assert environments.reads == ["D2K7Q1M-prod"]
    result = result_of(work, "D2K7Q1M/prod")
    assert result["status"] == "blocked" and why in result["reason"]
    assert not (repo / ".cloud/sim/D2K7Q1M/prod").exists()  # nothing applied


@pytest.mark.parametrize(
    "rules",
    [
        pytest.param(lambda f: f.add("D2K7Q1M-prod"), id="reviewers"),
        pytest.param(lambda f: f.add("D2K7Q1M-prod", reviewers=False, wait_timer=True), id="wait"),
    ],
)
def test_a_protected_environment_with_reviewers_or_a_wait_timer_deploys(
    repo, work, monkeypatch, rules
):
    monkeypatch.setattr("controller.action.environments.make_github", _unthrottled)
    code, _ = protected_job(repo, work, monkeypatch, rules)
    assert code == 0
    assert result_of(work, "D2K7Q1M/prod")["status"] == "success"


def test_a_protected_job_without_a_token_fails_closed(repo, work):
    run = deploy_job(
        repo, work, "D2K7Q1M/prod", github_environment="D2K7Q1M-prod", protected="true"
    )
    assert run.code == 1
    assert "could not be checked" in result_of(work, "D2K7Q1M/prod")["reason"]
    assert not (repo / ".cloud/sim/D2K7Q1M/prod").exists()


def test_a_removed_deployment_is_removed_after_its_plan_and_approval(repo, work):
    deployed = deploy_job(repo, work, "D2K7Q1M/dev")
    assert deployed.code == 0
    shutil.rmtree(repo / D2)
    git(repo, "commit", "-qam", "remove payments")
    run = simulated(repo, work, command="plan", removals_base="HEAD~1")
    assert run.code == 0, run.stdout + run.stderr
    removals = json.loads(run.outputs["removals"])
    [entry] = [r for r in removals if r["environments"] == "D2K7Q1M/dev"]
    assert entry["githubEnvironment"] == "destroy-D2K7Q1M-dev" and entry["protected"]
    assert entry["after"] == ""  # nothing of it deploys in this run
    assert "network" in entry["stacks"].split("=")[1].split("+")
    plan = json.loads((work / "runner-temp/cloud/plan.json").read_text())
    network = next(
        r
        for env in plan["environments"]
        if env["deploymentId"] == "D2K7Q1M" and env["environment"] == "dev"
        for r in env["removals"]
        if r["stack"] == "network"
    )
    assert "aws:ec2/vpc:Vpc vpc" in network["resources"]
    removed = simulated(
        repo,
        work,
        command="remove",
        environments=entry["environments"],
        stacks=entry["stacks"],
        removals_base="HEAD~1",
    )
    assert removed.code == 0, removed.stdout + removed.stderr
    assert not list((repo / ".cloud/sim/D2K7Q1M").rglob("*.json"))


def test_a_removal_waits_for_its_environments_deploy_in_the_same_run(repo, work):
    deploy_job(repo, work, "D2K7Q1M/dev", stacks="network")
    upstream = work / "runner-temp/cloud/upstream"
    upstream.mkdir(parents=True)
    (upstream / "D2K7Q1M-dev.json").write_text(
        json.dumps({"deploymentId": "D2K7Q1M", "environment": "dev", "status": "failed"})
    )
    removed = simulated(
        repo,
        work,
        command="remove",
        environments="D2K7Q1M/dev",
        stacks="D2K7Q1M/dev=network",
        after="D2K7Q1M/dev=D2K7Q1M/dev",
    )
    assert removed.code == 1
    assert result_of(work, "D2K7Q1M/dev")["status"] == "blocked"
    assert (repo / ".cloud/sim/D2K7Q1M/dev/network.json").exists()  # not destroyed


def test_a_dispatched_destroy_is_one_job_running_the_layers_in_reverse(repo, work):
    assert deploy_job(repo, work, "D2K7Q1M/dev", stacks="network,security").code == 0
    run = simulated(
        repo, work, command="plan", deployment="D2K7Q1M", environment="dev", operation="destroy"
    )
    assert run.code == 0, run.stderr
    [entry] = waves(run)[1]
    assert entry["environments"] == "D2K7Q1M/dev"
    plan = json.loads(Path(run.outputs["plan-file"]).read_text())
    assert [i["stack"] for i in plan["matrix"]["layer-1"]] == ["security"]
    assert [i["stack"] for i in plan["matrix"]["layer-2"]] == ["network"]
    destroyed = deploy_job(repo, work, "D2K7Q1M/dev", operation="destroy")
    assert destroyed.code == 0, destroyed.stdout
    stacks = result_of(work, "D2K7Q1M/dev")["stacks"]
    assert [s["stack"] for s in stacks if s["status"] == "succeeded"] == ["security", "network"]
    assert {s["reason"] for s in stacks if s["status"] == "skipped"} == {"nothing deployed"}
    assert not (repo / ".cloud/sim/D2K7Q1M/dev/network.json").exists()


def test_comment_posts_the_plan_on_the_pull_request(repo, work, monkeypatch):
    commit_change(
        repo, "stacks/network/__main__.py", "import ipaddress\n", "import ipaddress\nimport os\n"
    )
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


def test_the_deploy_plan_fails_before_any_job_when_a_protected_environment_is_unprotected(
    repo, work, monkeypatch, capsys
):
    monkeypatch.setattr("controller.action.plans.make_github", _unthrottled)
    env = {
        **os.environ,
        "GITHUB_REPOSITORY": "acme/infra",
        "GITHUB_TOKEN": "t",
        "CLOUD_ROOT": str(repo),
        "RUNNER_TEMP": str(work / "runner-temp"),
        "GITHUB_OUTPUT": str(work / "out"),
        "CLOUD_COMMAND": "plan",
        "CLOUD_ENGINE": "simulate",
    }
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        environments = FakeEnvironments(mock)
        for name in ("D1BRV40-dev", "D1BRV40-stage", "D2K7Q1M-dev"):
            environments.add(name, reviewers=False)
        environments.add("D2K7Q1M-prod", reviewers=False)  # protected by default, unprotected here
        assert run_in_process(env) == 1
        out = capsys.readouterr().out
        assert "nothing was deployed: D2K7Q1M / prod: GitHub environment 'D2K7Q1M-prod'" in out
        assert not (work / "out").exists() or "wave-1" not in (work / "out").read_text()
        environments.add("D2K7Q1M-prod", reviewers=True)
        assert run_in_process(env) == 0
    assert "wave-1" in (work / "out").read_text()


def test_a_run_that_cannot_be_planned_within_the_limits_fails_before_any_job(repo, work):
    """GitHub ends a job after 6 hours: a half-applied environment. The plan says so first."""
    commit_change(
        repo, "stacks/network/stack.yaml", "estimatedDuration:", "estimatedDuration: 30000 #"
    )
    commit_change(
        repo, "stacks/network/__main__.py", "import ipaddress\n", "import ipaddress\nimport os\n"
    )
    run = run_action(repo, work, command="plan", base_ref="HEAD~2", install_pulumi="false")
    assert run.code == 1
    assert "nothing was deployed" in run.stdout
    assert "over the 6 h a GitHub-hosted job may run" in run.stdout
    assert not any(name.startswith("wave-") for name in run.outputs)  # no deploy job starts
