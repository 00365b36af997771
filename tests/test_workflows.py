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
        "deploy.yml",
        "destroy.yml",
        "stack.yml",
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


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_permissions_start_empty_and_each_job_asks_for_what_it_needs(path):
    data = load(path)
    assert data["permissions"] == {}
    assert "pull_request_target" not in data["on"]
    for name, job in data["jobs"].items():
        assert "permissions" in job, f"{path.name}: job {name} inherits permissions"
        fetches_credentials = any(
            "configure-aws-credentials" in str(step.get("uses", ""))
            for step in job.get("steps", [])
        ) or str(job.get("uses", "")).startswith("./.github/workflows/")
        if job["permissions"].get("id-token") == "write":
            assert fetches_credentials, f"{path.name}: {name} gets id-token without using it"
        assert job["permissions"].get("contents") in (None, "read")


def test_plan_only_comments_with_write_on_pull_requests():
    plan = load(REPO_ROOT / ".github/workflows/plan.yml")
    assert list(plan["on"]) == ["pull_request"]
    [job] = plan["jobs"].values()
    assert job["permissions"] == {"contents": "read", "pull-requests": "write", "id-token": "write"}
    steps = {step.get("name"): step for step in job["steps"]}
    assert (
        "SAME_REPO == 'true'"
        in steps["Cloud credentials (OIDC, same-repository pull requests only)"]["if"]
    )
    assert "'simulate'" in steps["Plan"]["with"]["engine"]


def test_deploy_runs_eight_layers_each_after_the_one_before_despite_skips():
    deploy = load(REPO_ROOT / ".github/workflows/deploy.yml")
    layers = [name for name in deploy["jobs"] if name.startswith("layer-")]
    assert layers == [f"layer-{n}" for n in range(1, 9)]
    for number, name in enumerate(layers, 1):
        job = deploy["jobs"][name]
        expected = ["plan"] if number == 1 else ["plan", f"layer-{number - 1}"]
        assert job["needs"] == expected
        assert job["if"].startswith("${{ !failure() && !cancelled() &&")
        assert f"needs.plan.outputs.layer-{number} != '[]'" in job["if"]
        assert (
            job["strategy"]["matrix"]["include"]
            == f"${{{{ fromJSON(needs.plan.outputs.layer-{number}) }}}}"
        )
        assert job["uses"] == "./.github/workflows/stack.yml"
    assert deploy["concurrency"]["cancel-in-progress"] is False
    assert "inputs.operation-id" in deploy["run-name"]
    assert set(deploy["on"]) == {"push", "workflow_dispatch", "workflow_call"}
    assert deploy["on"]["workflow_dispatch"]["inputs"]["operation"]["options"] == [
        "deploy",
        "destroy",
    ]


def test_removals_run_only_behind_a_protected_environment():
    remove = load(REPO_ROOT / ".github/workflows/deploy.yml")["jobs"]["remove"]
    assert remove["environment"] == "destroy-${{ matrix.environment }}"
    assert remove["needs"] == ["plan"]


def test_a_stack_job_is_named_for_the_service_and_uploads_its_result():
    stack = load(REPO_ROOT / ".github/workflows/stack.yml")
    [job] = stack["jobs"].values()
    assert job["name"] == "${{ inputs.operation }} ${{ inputs.stack }} (${{ inputs.environment }})"
    assert job["environment"] == "${{ inputs.environment }}"
    assert job["concurrency"]["cancel-in-progress"] is False
    steps = job["steps"]
    upload = next(s for s in steps if "upload-artifact" in s.get("uses", ""))
    assert upload["if"] == "always()"
    release = steps[-1]
    assert release["if"] == "always()" and release["with"]["command"] == "release-lock"


def test_destroy_asks_for_confirmation_and_reuses_the_deploy_layers():
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
