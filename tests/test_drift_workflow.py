"""The drift workflow: its jobs' matrix (GitHub's limits planned for), its check step run as
GitHub runs action.yml, its issue and remediation steps against GitHub's API played by
`responses`, and the workflow file itself (schedule, read-only roles, least privilege)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import responses

from controller.action.commands import run_action as run_in_process
from controller.cli.main import main
from controller.core.catalog import load_snapshot
from controller.core.drift import drift_targets
from tests.action_harness import run_action
from tests.conftest import MANIFEST, REPO_ROOT, copy_catalog, git
from tests.github_issues_fake import FakeIssues
from tests.test_workflows import load

API = "https://api.github.com:443/repos/acme/infra"
DRIFT = REPO_ROOT / ".github/workflows/drift.yml"


# --- the matrix -----------------------------------------------------------------------------


def deployments(mini_files: dict[str, str], count: int) -> list[Any]:
    """`count` copies of the mini deployment, accounts spread over three."""
    files = dict(mini_files)
    text = files.pop(MANIFEST)
    for n in range(count):
        account = f"{n % 3 + 1}" * 12
        files[f"deployments/D{n:06d}-Acme-shop{n}/manifest.yaml"] = (
            text.replace("D000001", f"D{n:06d}")
            .replace("project: shop", f"project: shop{n}")
            .replace('dev: "111111111111"', f'dev: "{account}"')
        )
    return list(load_snapshot(files).deployments.values())


def test_jobs_hold_at_most_forty_environments_and_stay_under_the_matrix_limit(mini_files):
    found = deployments(mini_files, 100)
    jobs = drift_targets(found, per_job=40)
    targets = [t for job in jobs for t in job["targets"].split()]
    assert len(targets) == 100 and all(t.endswith("/dev") for t in targets)  # prod disabled
    assert [len(job["targets"].split()) for job in jobs] == [40, 40, 20]
    assert drift_targets(found, environment="prod") == []
    with pytest.raises(ValueError, match="needs 100 jobs, more than GitHub's"):
        drift_targets(found, per_job=1, limit=85)


# --- the steps --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def drifted(tmp_path_factory) -> Path:
    """A checkout where network of D1BRV40 dev is deployed (simulated) and then drifted."""
    root = copy_catalog(tmp_path_factory.mktemp("workflow") / "repo")
    deploy = ["deploy", "D1BRV40", "-e", "dev", "--engine", "simulate", "--stacks", "network"]
    assert main(["--root", str(root), *deploy]) == 0
    edit = ["sim", "edit", "D1BRV40", "network", "-e", "dev", "vpc", "tags.Name=by-hand"]
    assert main(["--root", str(root), *edit]) == 0
    return root


def test_targets_and_check_run_as_github_runs_them(drifted: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    targets = run_action(drifted, work, command="drift-targets", install_pulumi="false")
    assert targets.code == 0, targets.stderr
    jobs = json.loads(targets.outputs["targets"])
    assert any("D1BRV40/dev" in job["targets"].split() for job in jobs)
    reports = tmp_path / "reports"
    check = run_action(
        drifted,
        work,
        command="drift-check",
        targets="D1BRV40/dev D1BRV40/stage",
        reports=str(reports),
        engine="simulate",
        install_pulumi="false",
    )
    assert check.code == 0, check.stdout + check.stderr
    assert check.outputs["drift"] == "true"
    [report_file] = list(reports.glob("drift-*.json"))
    report = json.loads(report_file.read_text())
    assert report["simulated"] is True and report["summary"]["drifted"] == 1
    assert [e["environment"] for e in report["environments"]] == ["dev"]  # stage: nothing deployed
    assert "D1BRV40     dev" in check.summary and "tags.Name" in check.summary


def report_dir(tmp_path: Path, *, drifted: bool) -> Path:
    folder = tmp_path / ("drifted" if drifted else "clean")
    folder.mkdir()
    stacks = [
        {
            "stack": "network",
            "status": "drifted" if drifted else "in_sync",
            "resources": [
                {
                    "urn": "u",
                    "type": "aws:ec2/vpc:Vpc",
                    "name": "vpc",
                    "kind": "updated",
                    "properties": [{"name": "tags.Name", "old": "a", "new": "b"}],
                }
            ]
            if drifted
            else [],
        }
    ]
    entry = {
        "deploymentId": "D1BRV40",
        "environment": "dev",
        "status": "drifted" if drifted else "in_sync",
        "checkedAt": "2026-12-01T05:23:00Z",
        "driftedStacks": ["network"] if drifted else [],
        "stacks": stacks,
    }
    document = {"simulated": True, "environments": [entry]}
    (folder / "drift-0").mkdir()
    (folder / "drift-0" / "drift-D1BRV40-dev-1.json").write_text(json.dumps(document))
    return folder


def step_env(command: str, reports: Path, tmp_path: Path, **more: str) -> dict[str, str]:
    return {
        "CLOUD_COMMAND": command,
        "CLOUD_ROOT": str(REPO_ROOT),
        "CLOUD_WORK_DIR": str(tmp_path / "work"),
        "CLOUD_DRIFT_REPORTS": str(reports),
        "GITHUB_TOKEN": "t0ken",
        "GITHUB_REPOSITORY": "acme/infra",
        "GITHUB_RUN_ID": "42",
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
        **more,
    }


def test_the_issues_step_opens_then_closes_the_environments_issue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("controller.adapters.github_api.time.sleep", lambda _: None)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        github = FakeIssues(mock)
        env = step_env("drift-issues", report_dir(tmp_path, drifted=True), tmp_path)
        assert run_in_process(env) == 0
        [issue] = github.open_ones()
        assert "https://github.com/acme/infra/actions/runs/42" in issue["body"]
        assert "(simulated engine)" in issue["body"]
        clean = step_env("drift-issues", report_dir(tmp_path, drifted=False), tmp_path)
        assert run_in_process(clean) == 0
        assert github.open_ones() == [] and len(github.issues) == 1
    assert "closed [#1]" in (tmp_path / "summary").read_text()


def test_remediate_dispatches_a_refreshing_deploy_the_deploy_workflow_accepts(
    tmp_path: Path, capsys
) -> None:
    reports = report_dir(tmp_path, drifted=True)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(
            f"{API}/actions/workflows/deploy.yml/dispatches",
            status=200,
            json={
                "workflow_run_id": 7,
                "run_url": "https://api.github.com/repos/acme/infra/actions/runs/7",
                "html_url": "https://github.com/acme/infra/actions/runs/7",
            },
        )
        refused = run_in_process(step_env("drift-remediate", reports, tmp_path))
        assert refused == 1 and "remediate needs a deployment" in capsys.readouterr().out
        env = step_env("drift-remediate", reports, tmp_path, CLOUD_DEPLOYMENT="D1BRV40")
        assert run_in_process(env) == 0
        [call] = [c for c in mock.calls if c.request.method == "POST"]
    sent = json.loads(call.request.body)["inputs"]
    assert sent["deployment"] == "D1BRV40" and sent["environment"] == "dev"
    assert sent["refresh"] == "true" and sent["operation"] == "deploy"
    declared = load(REPO_ROOT / ".github/workflows/deploy.yml")["on"]["workflow_dispatch"]["inputs"]
    assert set(sent) <= set(declared) and len(declared) <= 10
    assert "actions/runs/7" in (tmp_path / "summary").read_text()


# --- the workflow file ----------------------------------------------------------------------


def test_the_drift_workflow_runs_on_a_schedule_with_read_only_roles() -> None:
    workflow = load(DRIFT)
    assert workflow["on"]["schedule"][0]["cron"]
    assert set(workflow["on"]["workflow_dispatch"]["inputs"]) == {
        "deployment",
        "environment",
        "remediate",
    }
    jobs = workflow["jobs"]
    check = jobs["check"]
    assert (
        check["strategy"]["matrix"]["include"] == "${{ fromJSON(needs.targets.outputs.targets) }}"
    )
    assert check["permissions"] == {"contents": "read", "id-token": "write"}
    assert check["environment"] == "${{ vars.CLOUD_PLAN_ENVIRONMENT || 'cloud-plan' }}"
    [run] = [s for s in check["steps"] if s.get("id") == "check"]
    assert run["with"]["plan-role-name"] == "${{ vars.CLOUD_PLAN_ROLE_NAME }}"
    text = DRIFT.read_text()
    assert "DEPLOY_ROLE" not in text and "deploy-role-name" not in text  # never a deploy role
    assert "secrets: inherit" not in text
    assert jobs["issues"]["permissions"] == {"contents": "read", "issues": "write"}
    assert "!cancelled()" in jobs["issues"]["if"]
    assert jobs["remediate"]["permissions"] == {"contents": "read", "actions": "write"}
    assert "inputs.deployment != ''" in jobs["remediate"]["if"]
    assert workflow["concurrency"]["cancel-in-progress"] is False
    uses = {step.get("with", {}).get("command") for job in jobs.values() for step in job["steps"]}
    assert {"drift-targets", "drift-check", "drift-issues", "drift-remediate"} <= uses


def test_the_deploy_workflow_passes_refresh_to_the_plan_and_to_each_environment_job() -> None:
    deploy = load(REPO_ROOT / ".github/workflows/deploy.yml")
    plan_steps = {s.get("name"): s for s in deploy["jobs"]["plan"]["steps"]}
    assert plan_steps["Plan"]["with"]["refresh"] == "${{ inputs.refresh || 'false' }}"
    for wave in ("wave-1", "wave-2", "wave-3", "wave-4"):
        [run] = [
            s
            for s in deploy["jobs"][wave]["steps"]
            if s.get("with", {}).get("command") == "run-environments"
        ]
        assert run["with"]["refresh"] == "${{ inputs.refresh || 'false' }}"


def test_a_refreshing_plan_and_environment_job_bring_a_drifted_stack_back(
    drifted: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(drifted, repo)
    (repo / ".gitignore").write_text(".cloud/\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    work = tmp_path / "work"
    work.mkdir()
    common = {
        "deployment": "D1BRV40",
        "environment": "dev",
        "engine": "simulate",
        "install_pulumi": "false",
    }

    def network_in(run: Any) -> dict[str, Any]:
        assert run.code == 0, run.stdout + run.stderr
        [entry] = json.loads(run.outputs["wave-1"])
        assert entry["environments"] == "D1BRV40/dev"
        document = json.loads(Path(run.outputs["plan-file"]).read_text())
        [env] = document["environments"]
        return next(e for e in env["entries"] if e["stack"] == "network")

    plain = network_in(run_action(repo, work, command="plan", **common))
    assert plain["status"] == "skipped"  # Git did not change it
    refreshing = network_in(run_action(repo, work, command="plan", refresh="true", **common))
    assert (
        refreshing["status"] == "changed" and "drift found by the refresh" in refreshing["reason"]
    )
    job = run_action(
        repo,
        work,
        command="run-environments",
        environments="D1BRV40/dev",
        refresh="true",
        engine="simulate",
        install_pulumi="false",
    )
    assert job.code == 0, job.stdout + job.stderr
    result = json.loads((work / "runner-temp/cloud/results/D1BRV40-dev.json").read_text())
    network = next(s for s in result["stacks"] if s["stack"] == "network")
    assert network["status"] == "succeeded" and "drift found by the refresh" in network["reason"]
    check = ["--root", str(repo), "drift", "--engine", "simulate", "--deployment", "D1BRV40"]
    assert main(check) == 0
