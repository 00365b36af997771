"""action.yml and the workflows: valid, injection-safe, pinned, least-privilege, layered."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml

from tests.conftest import REPO_ROOT

WORKFLOWS = sorted((REPO_ROOT / ".github/workflows").glob("*.yml"))
ACTION = REPO_ROOT / "action.yml"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def load(path):
    # PyYAML reads the key `on:` as True; GitHub reads it as "on".
    data = yaml.safe_load(path.read_text())
    if True in data:
        data["on"] = data.pop(True)
    return data


def steps_of(data):
    if "runs" in data:
        yield from data["runs"]["steps"]
    for job in data.get("jobs", {}).values():
        yield from job.get("steps", [])


def test_the_workflows_we_ship():
    assert {path.name for path in WORKFLOWS} == {
        "ci.yml",
        "plan.yml",
        "plan-comment.yml",
        "deploy.yml",
        "destroy.yml",
        "drift.yml",
    }


@pytest.mark.parametrize("path", [ACTION, *WORKFLOWS], ids=lambda p: p.name)
def test_valid_against_the_schemas_check_jsonschema_vendors(path):
    schema = "vendor.github-actions" if path == ACTION else "vendor.github-workflows"
    completed = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


@pytest.mark.parametrize("path", [ACTION, *WORKFLOWS], ids=lambda p: p.name)
def test_no_expression_is_interpolated_into_a_script(path):
    for step in steps_of(load(path)):
        script = step.get("run", "")
        assert "${{" not in script, f"{path.name}: {step.get('name')} interpolates into run:"


@pytest.mark.parametrize("path", [ACTION, *WORKFLOWS], ids=lambda p: p.name)
def test_every_remote_action_is_pinned_to_a_full_commit_sha(path):
    for step in steps_of(load(path)):
        uses = step.get("uses")
        if uses and not uses.startswith("./"):
            assert PINNED.match(uses), f"{path.name}: {uses} is not pinned to a commit SHA"


ASSUMES_ROLES = {"plan", "run-environments", "remove", "drift-check"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_permissions_start_empty_and_each_job_asks_for_what_it_needs(path):
    data = load(path)
    assert data["permissions"] == {}
    assert "pull_request_target" not in data["on"]
    for name, job in data["jobs"].items():
        assert "permissions" in job, f"{path.name}: job {name} inherits permissions"
        assumes = any(
            step.get("uses") == "./" and step.get("with", {}).get("command") in ASSUMES_ROLES
            for step in job.get("steps", [])
        ) or str(job.get("uses", "")).startswith("./.github/workflows/")
        if job["permissions"].get("id-token") == "write":
            assert assumes, f"{path.name}: {name} gets id-token without assuming a role"
        assert job["permissions"].get("contents") in (None, "read")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_no_workflow_hands_its_secrets_down(path):
    for name, job in load(path)["jobs"].items():
        assert "secrets" not in job, f"{path.name}: {name} passes secrets (use environments)"
    assert "secrets: inherit" not in path.read_text()


def test_pull_request_previews_use_only_plan_roles_and_an_environments_secrets():
    plan = load(REPO_ROOT / ".github/workflows/plan.yml")
    assert list(plan["on"]) == ["pull_request"]
    [job] = plan["jobs"].values()
    assert job["permissions"] == {"contents": "read", "id-token": "write"}  # no write token
    text = (REPO_ROOT / ".github/workflows/plan.yml").read_text()
    assert "DEPLOY_ROLE" not in text and "deploy-role" not in text and "AWS_ROLE_ARN" not in text
    assert "configure-aws-credentials" not in text  # no role reaches the job itself
    steps = {step.get("name"): step for step in job["steps"]}
    preview = steps["Plan"]["with"]
    assert preview["plan-role-name"] == "${{ vars.CLOUD_PLAN_ROLE_NAME }}"
    assert "'simulate'" in preview["engine"]
    # the passphrase only for a same-repository preview, from the environment it names
    assert "REAL_PREVIEW == 'true' && secrets." in steps["Plan"]["env"]["PULUMI_CONFIG_PASSPHRASE"]
    assert (
        "github.event.pull_request.head.repo.full_name == github.repository" in job["environment"]
    )
    assert job["environment"].endswith("|| '' }}")  # a fork's job names no environment
    for step in job["steps"]:  # the pull request's code runs here: no token, no fork secret
        assert "github-token" not in (step.get("with") or {}), step.get("name")
        for name, value in (step.get("env") or {}).items():
            if "secrets." in str(value):
                assert str(value).startswith("${{ env.REAL_PREVIEW == 'true' && secrets."), name
    assert "secrets." not in str(job.get("env", ""))
    assert "head.repo.full_name == github.repository" in job["env"]["REAL_PREVIEW"]


def test_the_plan_uploads_what_the_relay_reads():
    from controller.action.plan_comments import ARTIFACT, FULL_PLAN_FILE, PLAN_FILE

    [job] = load(REPO_ROOT / ".github/workflows/plan.yml")["jobs"].values()
    steps = {step.get("name"): step for step in job["steps"]}
    summary = steps["Job summary and the full plan"]
    assert summary["if"] == "always()" and summary["with"]["command"] == "summary"
    upload = steps["Upload the plan for the comment relay (plan-comment.yml)"]
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert upload["with"]["name"] == ARTIFACT and upload["with"]["overwrite"] is True
    paths = upload["with"]["path"].splitlines()
    assert "${{ runner.temp }}/cloud/*.json" in paths  # the work folder: $RUNNER_TEMP/cloud
    assert f"${{{{ runner.temp }}}}/cloud/{FULL_PLAN_FILE}" in paths and PLAN_FILE.endswith(".json")
    assert [s.get("with", {}).get("command") for s in job["steps"]].count("summary") == 1


def test_the_comment_relay_never_runs_pull_request_code():
    relay = load(REPO_ROOT / ".github/workflows/plan-comment.yml")
    assert relay["on"] == {
        "workflow_run": {"workflows": ["plan"], "types": ["requested", "completed"]}
    }
    [job] = relay["jobs"].values()
    assert job["if"] == "github.event.workflow_run.event == 'pull_request'"
    assert job["permissions"] == {"contents": "read", "actions": "read", "pull-requests": "write"}
    checkout, action = job["steps"]
    assert checkout["uses"].startswith("actions/checkout@")
    assert checkout["with"] == {"persist-credentials": False}  # no ref: the default branch
    assert action["uses"] == "./" and action["with"]["command"] == "relay"
    text = (REPO_ROOT / ".github/workflows/plan-comment.yml").read_text()
    steps_text = text.split("steps:", 1)[1]
    for untrusted in ("head_sha", "head_branch", "pull_requests", "head_repository"):
        assert untrusted not in steps_text  # read by the relay from the event, as data


def deploy_jobs():
    return load(REPO_ROOT / ".github/workflows/deploy.yml")["jobs"]


def test_deploy_runs_one_job_per_environment_in_the_promotion_waves():
    from controller.core.waves import MAX_WAVES

    jobs = deploy_jobs()
    waves = [name for name in jobs if name.startswith("wave-")]
    assert waves == [f"wave-{n}" for n in range(1, MAX_WAVES + 1)]
    for number, name in enumerate(waves, 1):
        job = jobs[name]
        assert job["needs"] == ["plan", *[f"wave-{n}" for n in range(1, number)]]
        # a failed environment must stop only its own later waves: never success()
        assert job["if"].startswith("${{ !cancelled() && needs.plan.result == 'success' &&")
        assert f"needs.plan.outputs.wave-{number} != '[]'" in job["if"]
        assert (
            job["strategy"]["matrix"]["include"]
            == f"${{{{ fromJSON(needs.plan.outputs.wave-{number}) }}}}"
        )
        assert job["strategy"]["fail-fast"] is False
        assert job["name"] == "${{ inputs.operation || 'deploy' }} ${{ matrix.name }}"
        assert job["environment"] == "${{ matrix.githubEnvironment }}"
        assert job["concurrency"] == {
            "group": "${{ matrix.concurrency }}",
            "cancel-in-progress": False,
        }
        uses = [step for step in job["steps"] if step.get("uses") == "./"]
        assert len(uses) == 1, f"{name} runs the composite action {len(uses)} times"
        assert uses[0]["with"]["command"] == "run-environments"
        assert uses[0]["with"]["protected"] == "${{ matrix.protected }}"
        checkout = job["steps"][0]
        assert checkout["with"]["ref"] == "${{ needs.plan.outputs.ref }}"
        upload = next(s for s in job["steps"] if "upload-artifact" in s.get("uses", ""))
        assert upload["if"] == "always()" and upload["with"]["name"] == "${{ matrix.artifact }}"
    deploy = load(REPO_ROOT / ".github/workflows/deploy.yml")
    assert "concurrency" not in deploy  # per deployment environment, in the jobs
    assert "inputs.operation-id" in deploy["run-name"]
    assert set(deploy["on"]) == {"push", "workflow_dispatch", "workflow_call"}
    plan = jobs["plan"]["steps"][1]["with"]
    assert plan["ref"] == "${{ inputs.ref || github.sha }}"
    assert plan["default-branch"] == "${{ github.event.repository.default_branch }}"


def test_removals_run_after_every_wave_behind_a_protected_environment():
    remove = deploy_jobs()["remove"]
    assert remove["needs"] == ["plan", "wave-1", "wave-2", "wave-3", "wave-4"]
    assert remove["if"].startswith("${{ !cancelled() && needs.plan.result == 'success'")
    assert remove["environment"] == "${{ matrix.githubEnvironment }}"
    assert remove["concurrency"]["group"] == "${{ matrix.concurrency }}"
    [step] = [s for s in remove["steps"] if s.get("uses") == "./"]
    assert step["with"]["command"] == "remove" and step["with"]["after"] == "${{ matrix.after }}"


def test_every_job_that_changes_an_environment_shares_its_concurrency_group():
    """Push deploys, dispatched deploys, destroys (deploy.yml via destroy.yml) and removals."""
    for name, job in deploy_jobs().items():
        if name == "plan":
            continue
        assert job["concurrency"]["group"] == "${{ matrix.concurrency }}", name
        assert job["concurrency"]["cancel-in-progress"] is False
    destroy = load(REPO_ROOT / ".github/workflows/destroy.yml")
    assert destroy["jobs"]["destroy"]["uses"] == "./.github/workflows/deploy.yml"


def test_the_composite_action_installs_from_a_cache_keyed_on_the_lock():
    steps = load(ACTION)["runs"]["steps"]
    key = next(s for s in steps if s.get("id") == "install-key")
    assert "stacks/requirements.lock" in key["run"]
    assert '"$ACTION_PATH/requirements.txt"' in key["run"]  # the controller's own lock
    cache = next(s for s in steps if "actions/cache@" in s.get("uses", ""))
    assert cache["with"]["key"] == "${{ steps.install-key.outputs.key }}"
    install = next(s for s in steps if s.get("name", "").startswith("Install cloud"))
    assert "--require-hashes -r stacks/requirements.lock" in install["run"]
    assert '--require-hashes -r "$ACTION_PATH/requirements.txt"' in install["run"]
    assert "CACHE_HIT" in install["env"]


def test_destroy_asks_for_confirmation_and_reuses_the_deploy_job():
    destroy = load(REPO_ROOT / ".github/workflows/destroy.yml")
    job = destroy["jobs"]["destroy"]
    assert job["uses"] == "./.github/workflows/deploy.yml"
    assert job["with"]["operation"] == "destroy"
    assert job["needs"] == ["confirm"]
    assert "inputs.operation-id" in destroy["run-name"]


@pytest.mark.parametrize(
    ("kind", "workflow", "stacks", "commit"),
    [
        ("deploy", "deploy.yml", ("network", "dns"), "0" * 40),
        ("destroy", "destroy.yml", (), None),
    ],
)
def test_what_the_service_dispatches_is_what_the_workflow_declares(kind, workflow, stacks, commit):
    """GitHub refuses a dispatch with an undeclared input (422) or more than 10 inputs."""
    from types import SimpleNamespace

    from controller.operations.github import GitHubDispatcher
    from controller.store.base import OperationRecord

    dispatcher = GitHubDispatcher.__new__(GitHubDispatcher)
    dispatcher.service_url = "https://cloud.example.com"
    dispatcher.runner_token = lambda operation: "token"
    operation = OperationRecord("op-123456", "D1BRV40", "dev", kind, "pending", "t", "t", "me")
    prepared = SimpleNamespace(request=SimpleNamespace(commit=commit, patterns=stacks))
    sent = dispatcher.inputs(operation, prepared)
    declared = load(REPO_ROOT / ".github/workflows" / workflow)["on"]["workflow_dispatch"]["inputs"]
    assert set(sent) <= set(declared) and len(declared) <= 10
    required = {name for name, spec in declared.items() if spec.get("required")}
    assert required <= set(sent)
