"""CLOUD_DISPATCHER=github: dispatch through GitHub's API (faked by `responses`), then
GitHub's signed webhooks drive the operation; real payload shapes from tests/fixtures."""

from __future__ import annotations

import copy
import io
import json
import re
import zipfile
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import responses

from controller.adapters.github_actions import GitHubActions
from controller.adapters.github_api import RetryingCaller, make_github
from controller.core.webhooks import sign
from tests.conftest import REPO_ROOT
from tests.service.conftest import Harness, HarnessFactory

API = "https://api.github.com:443/repos/acme/infra"
RUN = json.loads((REPO_ROOT / "tests/fixtures/github/workflow_run.json").read_text())
JOB = json.loads((REPO_ROOT / "tests/fixtures/github/workflow_job.json").read_text())
RUN_ID = RUN["workflow_run"]["id"]
SECRET = "webhook-secret-for-tests"
D1 = "/api/v1/deployments/D1BRV40"


@pytest.fixture
def mock():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_passthru("http://testserver")
        yield rsps


class GitHub:
    """The harness, its fake GitHub and what the service asked GitHub."""

    def __init__(self, harness: Harness, mock: responses.RequestsMock, sleeps: list[float]):
        self.harness = harness
        self.mock = mock
        self.sleeps = sleeps
        self.results: dict[str, dict[str, Any]] = {}

    def deliver(self, event: str, payload: dict[str, Any], *, delivery: str, secret=SECRET):
        body = json.dumps(payload).encode()
        return self.harness.client.post(
            "/webhooks/github",
            content=body,
            headers={
                "X-GitHub-Event": event,
                "X-GitHub-Delivery": delivery,
                "X-Hub-Signature-256": sign(secret.encode(), body),
                "Content-Type": "application/json",
            },
        )

    def settle(self) -> None:
        self.harness.services.operations.dispatcher.drain(10)
        self.harness.services.webhooks.drain(10)


@pytest.fixture
def github(make_harness: HarnessFactory, mock) -> GitHub:
    sleeps: list[float] = []
    holder: dict[str, GitHub] = {}

    def download(url: str) -> bytes:
        key = url.rsplit("/", 1)[-1].removesuffix(".zip")
        result = holder["gh"].results[key]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(f"{key}.json", json.dumps(result))
        return buffer.getvalue()

    actions = GitHubActions(
        make_github("t", throttle=False),
        "acme/infra",
        ref="main",
        caller=RetryingCaller(sleep=sleeps.append, jitter=lambda: 1.0),
        download=download,
    )
    harness = make_harness(
        dispatcher="github",
        webhook_secret=SECRET,
        github_repository="acme/infra",
        github_token="t",
        reconcile_seconds=0,
        services_options={"github_actions": actions},
    )
    holder["gh"] = GitHub(harness, mock, sleeps)
    return holder["gh"]


def run_payload(operation: str, *, status: str, conclusion: str | None, run_id=RUN_ID):
    payload = copy.deepcopy(RUN)
    payload["action"] = "completed" if status == "completed" else "in_progress"
    run = payload["workflow_run"]
    run.update(
        id=run_id,
        display_title=f"deploy D1BRV40 dev [{operation}]",
        status=status,
        conclusion=conclusion,
    )
    return payload


def job_payload(job_id: int, *, status: str, conclusion: str | None, env="dev", name=None):
    payload = copy.deepcopy(JOB)
    payload["action"] = status if status != "in_progress" else "in_progress"
    job = payload["workflow_job"]
    job.update(
        id=job_id,
        run_id=RUN_ID,
        name=name or f"deploy D1BRV40 / {env}",
        status=status,
        conclusion=conclusion,
        completed_at=job["completed_at"] if status == "completed" else None,
    )
    return payload


def environment_result(*stacks: dict[str, Any], status="success", env="dev", **extra):
    """What an environment job uploads: its environment's report, every stack's outcome."""
    return {
        "deploymentId": "D1BRV40",
        "environment": env,
        "operation": "deploy",
        "status": status,
        "simulated": False,
        "stacks": list(stacks),
        **extra,
    }


def fake_run(gh: GitHub, operation: str, jobs: list[dict[str, Any]], conclusion: str) -> None:
    """What the runs, jobs and artifacts API answer about the run (at its end)."""
    run = run_payload(operation, status="completed", conclusion=conclusion)["workflow_run"]
    gh.mock.get(f"{API}/actions/runs/{RUN_ID}", json=run)
    gh.mock.get(
        re.compile(rf"{re.escape(API)}/actions/runs/{RUN_ID}/jobs.*"),
        json={"total_count": len(jobs), "jobs": jobs},
    )
    artifacts = [
        {
            "id": index,
            "node_id": f"A{index}",
            "name": f"result-{key}",
            "size_in_bytes": 100,
            "expired": False,
            "url": f"https://api.github.com/repos/acme/infra/actions/artifacts/{index}",
            "archive_download_url": f"https://api.github.com/repos/acme/infra/actions/artifacts/{index}/zip",
        }
        for index, key in enumerate(gh.results, 1)
    ]
    gh.mock.get(
        re.compile(rf"{re.escape(API)}/actions/runs/{RUN_ID}/artifacts.*"),
        json={"total_count": len(artifacts), "artifacts": artifacts},
    )
    for artifact in artifacts:
        key = artifact["name"].removeprefix("result-")
        gh.mock.get(
            artifact["archive_download_url"].replace(
                "https://api.github.com", "https://api.github.com:443"
            ),
            status=302,
            headers={"Location": f"https://pipelines.example/signed/{key}.zip"},
        )


def dispatch_ok(gh: GitHub, workflow: str = "deploy.yml") -> None:
    gh.mock.post(
        f"{API}/actions/workflows/{workflow}/dispatches",
        json={
            "workflow_run_id": RUN_ID,
            "run_url": f"https://api.github.com/repos/acme/infra/actions/runs/{RUN_ID}",
            "html_url": f"https://github.com/acme/infra/actions/runs/{RUN_ID}",
        },
    )


def start(gh: GitHub, body: dict[str, Any]) -> dict[str, Any]:
    answer = gh.harness.client.post(f"{D1}/deploy", json=body, headers=gh.harness.bearer())
    assert answer.status_code == 202, answer.text
    gh.settle()
    return answer.json()["data"]


def status(gh: GitHub, operation: str) -> dict[str, Any]:
    harness = gh.harness
    answer = harness.client.get(f"{D1}/operations/{operation}", headers=harness.bearer())
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


NETWORK = {
    "stack": "network",
    "status": "succeeded",
    "layer": 1,
    "counts": {"create": 9},
    "duration": 12.5,
    "outputs": {"vpcId": "vpc-1"},
}
SECURITY = {
    "stack": "security",
    "status": "succeeded",
    "layer": 2,
    "counts": {"create": 4},
    "duration": 3.0,
    "outputs": {"groupId": "sg-1"},
}


def test_webhooks_drive_a_dispatched_deploy_to_success(github: GitHub) -> None:
    dispatch_ok(github)
    data = start(github, {"environment": "dev", "stackFilter": ["network", "security"]})
    operation = data["operationId"]
    assert data["status"] == "pending" and data["dispatcher"] == "github"
    [call] = [c for c in github.mock.calls if c.request.method == "POST"]
    sent = json.loads(call.request.body)
    assert sent == {
        "ref": "main",
        "return_run_details": True,
        "inputs": {
            "deployment": "D1BRV40",
            "environment": "dev",
            "operation": "deploy",
            "stacks": "network,security",
            "operation-id": operation,
        },
    }
    assert status(github, operation)["runId"] == RUN_ID

    started = github.deliver(
        "workflow_run",
        run_payload(operation, status="in_progress", conclusion=None),
        delivery="d-1",
    )
    assert started.status_code == 202, started.text
    github.settle()
    assert status(github, operation)["status"] == "in_progress"

    github.results = {"D1BRV40-dev": environment_result(NETWORK, SECURITY)}
    job = job_payload(11, status="completed", conclusion="success")
    fake_run(github, operation, [job["workflow_job"]], "success")
    github.deliver("workflow_job", job, delivery="d-job-1")
    github.settle()
    middle = status(github, operation)
    assert {s["name"]: s["status"] for s in middle["completedStacks"]} == {
        "network": "deployed",
        "security": "deployed",
    }
    assert middle["status"] == "in_progress"
    done = github.deliver(
        "workflow_run",
        run_payload(operation, status="completed", conclusion="success"),
        delivery="d-2",
    )
    assert done.status_code == 202
    github.settle()
    final = status(github, operation)
    assert final["status"] == "success" and final["progress"]["percentage"] == 100
    network = next(s for s in final["completedStacks"] if s["name"] == "network")
    assert network["resourcesCreated"] == 9 and network["duration"] == 12.5
    assert github.harness.store.get_lock("D1BRV40", "dev") is None
    types = [e.type for e in github.harness.store.list_events(operation_id=operation)]
    assert types.count("operation.completed") == 1


def test_a_webhook_sequence_of_environment_jobs_replays_end_to_end(github: GitHub) -> None:
    """The new shape: a plan job, then one environment job whose runner reports its
    stacks as they run; the callbacks miss one stack, the job's result artifact fills it
    in; queued, in_progress and completed deliveries of the job, the run's end."""
    dispatch_ok(github)
    github.harness.services.operations.dispatcher.service_url = "https://cloud.example.com"
    operation = start(github, {"environment": "dev", "stackFilter": ["network", "security"]})[
        "operationId"
    ]
    sent = json.loads(next(c for c in github.mock.calls if c.request.method == "POST").request.body)
    token = sent["inputs"]["service-token"]
    client = github.harness.client
    deliveries = iter(range(1000))

    def deliver(event: str, payload: dict[str, Any]) -> None:
        answer = github.deliver(event, payload, delivery=f"seq-{next(deliveries)}")
        assert answer.status_code in (200, 202), answer.text
        github.settle()

    deliver("workflow_run", run_payload(operation, status="in_progress", conclusion=None))
    plan = job_payload(10, status="completed", conclusion="success", name="plan")
    deliver("workflow_job", plan)  # not an environment job: ignored
    assert status(github, operation)["completedStacks"] == []
    deliver("workflow_job", job_payload(11, status="queued", conclusion=None))
    deliver("workflow_job", job_payload(11, status="in_progress", conclusion=None))
    current = status(github, operation)
    assert current["status"] == "in_progress"
    record = github.harness.store.get_operation(operation)
    assert record.payload["jobId"] == 11
    assert record.payload["jobUrl"] == JOB["workflow_job"]["html_url"]
    callbacks = {
        "events": [
            {"type": "stack.started", "stackName": "network", "data": {"layer": 1}},
            {
                "type": "stack.completed",
                "stackName": "network",
                "status": "deployed",
                "data": {"layer": 1, "duration": 12.5, "counts": {"create": 9}},
            },
            {"type": "stack.started", "stackName": "security", "data": {"layer": 2}},
        ]
    }
    url = f"/api/v1/operations/{operation}/events"
    answer = client.post(url, json=callbacks, headers={"X-Cloud-Runner-Token": token})
    assert answer.status_code == 202, answer.text
    running = status(github, operation)
    assert [s["name"] for s in running["currentStacks"]] == ["security"]
    # the runner's last callback was lost; its result artifact says how security ended
    github.results = {"D1BRV40-dev": environment_result(NETWORK, SECURITY)}
    job = job_payload(11, status="completed", conclusion="success")
    fake_run(github, operation, [plan["workflow_job"], job["workflow_job"]], "success")
    deliver("workflow_job", job)
    deliver("workflow_job", job)  # a redelivery under another id: nothing new
    deliver("workflow_run", run_payload(operation, status="completed", conclusion="success"))
    final = status(github, operation)
    assert final["status"] == "success"
    assert {s["name"]: s["status"] for s in final["completedStacks"]} == {
        "network": "deployed",
        "security": "deployed",
    }
    events = github.harness.store.list_events(operation_id=operation)
    completed = [e.payload["stackName"] for e in events if e.type == "stack.completed"]
    assert sorted(completed) == ["network", "security"]  # network once: from the callback
    assert [e.type for e in events].count("operation.completed") == 1


def job_then_run_fail(gh: GitHub, operation: str, job_id: int, result: dict[str, Any]) -> None:
    """The environment job ends failed with `result` uploaded, then the run ends failed."""
    failed = job_payload(job_id, status="completed", conclusion="failure")
    gh.results = {"D1BRV40-dev": result}
    fake_run(gh, operation, [failed["workflow_job"]], "failure")
    gh.deliver("workflow_job", failed, delivery=f"fail-{job_id}-job")
    gh.deliver(
        "workflow_run",
        run_payload(operation, status="completed", conclusion="failure"),
        delivery=f"fail-{job_id}-run",
    )
    gh.settle()


def test_a_failed_job_and_run_fail_the_operation(github: GitHub) -> None:
    dispatch_ok(github)
    operation = start(github, {"environment": "dev", "stackFilter": ["network"]})["operationId"]
    job_then_run_fail(
        github,
        operation,
        21,
        environment_result(
            {"stack": "network", "status": "failed", "error": "aws: AccessDenied creating VPC"},
            status="failed",
        ),
    )
    final = status(github, operation)
    assert final["status"] == "failed"
    assert "ended failure" in final["error"]["message"]
    [network] = final["completedStacks"]
    assert network["status"] == "failed" and "AccessDenied" in network["error"]


def test_a_job_that_refused_to_apply_says_why_for_each_stack(github: GitHub) -> None:
    dispatch_ok(github)
    operation = start(github, {"environment": "dev", "stackFilter": ["network"]})["operationId"]
    job_then_run_fail(
        github,
        operation,
        22,
        environment_result(
            status="blocked",
            reason="GitHub environment 'D1BRV40-dev' has no required reviewers and no wait timer",
        ),
    )
    final = status(github, operation)
    assert final["status"] == "failed"
    [network] = final["completedStacks"]
    assert network["status"] == "cancelled"


def test_a_bad_signature_is_refused_and_changes_nothing(github: GitHub) -> None:
    dispatch_ok(github)
    operation = start(github, {"environment": "dev", "stackFilter": ["network"]})["operationId"]
    store = github.harness.store
    before = (len(store.list_events(operation_id=operation)), store.get_operation(operation))
    payload = run_payload(operation, status="completed", conclusion="success")
    for secret in ("wrong-secret", ""):
        answer = github.deliver("workflow_run", payload, delivery="bad-1", secret=secret)
        assert answer.status_code == 401, answer.text
        assert "X-Hub-Signature-256" in answer.json()["error"]["message"]
    unsigned = github.harness.client.post(
        "/webhooks/github",
        json=payload,
        headers={"X-GitHub-Event": "workflow_run", "X-GitHub-Delivery": "bad-2"},
    )
    assert unsigned.status_code == 401
    github.settle()
    assert (
        len(store.list_events(operation_id=operation)),
        store.get_operation(operation),
    ) == before
    assert store.record_delivery("bad-1", event="x", at="now")  # never recorded


def test_a_redelivery_has_one_effect_sequential_or_concurrent(github: GitHub) -> None:
    dispatch_ok(github)
    operation = start(github, {"environment": "dev", "stackFilter": ["network", "security"]})[
        "operationId"
    ]
    github.results = {"D1BRV40-dev": environment_result(NETWORK, SECURITY)}
    done = job_payload(31, status="completed", conclusion="success")
    fake_run(github, operation, [done["workflow_job"]], "success")
    answers = [github.deliver("workflow_job", done, delivery="same-1") for _ in range(10)]
    with ThreadPoolExecutor(10) as pool:
        answers += list(
            pool.map(lambda _: github.deliver("workflow_job", done, delivery="same-2"), range(10))
        )
    github.settle()
    codes = [a.status_code for a in answers]
    assert codes.count(202) == 2 and codes.count(200) == 18, codes
    assert all(a.json()["data"]["duplicate"] for a in answers if a.status_code == 200)
    events = github.harness.store.list_events(operation_id=operation)
    completed = [e.payload["stackName"] for e in events if e.type == "stack.completed"]
    assert sorted(completed) == ["network", "security"]


def test_ping_and_unknown_events_are_acknowledged(github: GitHub) -> None:
    assert github.deliver("ping", {"zen": "hi"}, delivery="p-1").json()["data"]["pong"] is True
    ignored = github.deliver("issues", {"action": "opened"}, delivery="p-2")
    assert ignored.status_code == 200 and ignored.json()["data"]["ignored"] == "issues"
    huge = github.harness.client.post(
        "/webhooks/github",
        content=b"x" * (6 * 1024 * 1024),
        headers={"X-GitHub-Event": "push", "X-GitHub-Delivery": "p-3"},
    )
    assert huge.status_code == 413


def test_github_errors_are_retried_then_fail_the_operation_clearly(github: GitHub) -> None:
    url = f"{API}/actions/workflows/deploy.yml/dispatches"
    github.mock.post(url, status=502, json={"message": "Server Error"})
    operation = start(github, {"environment": "dev", "stackFilter": ["network"]})["operationId"]
    final = status(github, operation)
    assert final["status"] == "failed"
    assert final["error"]["code"] == "GITHUB_DISPATCH_FAILED"
    assert "gave up after 5 attempt(s)" in final["error"]["message"]
    assert "502" in final["error"]["message"]
    assert github.sleeps == [1.0, 2.0, 4.0, 8.0]  # capped exponential backoff
    assert github.harness.store.get_lock("D1BRV40", "dev") is None

    github.sleeps.clear()
    github.mock.replace(
        responses.POST,
        url,
        status=403,
        json={"message": "You have exceeded a secondary rate limit. Please wait."},
    )
    operation = start(github, {"environment": "dev", "stackFilter": ["network"]})["operationId"]
    final = status(github, operation)
    assert final["status"] == "failed" and "secondary rate limit" in final["error"]["message"]
    assert github.sleeps == [60.0, 120.0, 240.0, 480.0]  # at least a minute, then doubling
    health = github.harness.client.get("/health")
    assert health.status_code == 200  # the service carries on


def test_without_run_details_the_run_is_found_and_a_quiet_run_is_reconciled(github) -> None:
    github.mock.post(f"{API}/actions/workflows/deploy.yml/dispatches", status=204)
    dispatcher = github.harness.services.operations.dispatcher
    dispatcher.find_wait = 0.0
    listed: dict[str, Any] = {"runs": []}
    github.mock.add_callback(
        responses.GET,
        re.compile(rf"{re.escape(API)}/actions/workflows/deploy.yml/runs\?.*"),
        callback=lambda request: (
            200,
            {},
            json.dumps({"total_count": len(listed["runs"]), "workflow_runs": listed["runs"]}),
        ),
    )
    operation = start(github, {"environment": "dev", "stackFilter": ["network"]})["operationId"]
    assert status(github, operation)["runId"] is None  # not found yet: GitHub lists it late
    listed["runs"] = [run_payload(operation, status="in_progress", conclusion=None)["workflow_run"]]

    services = github.harness.services
    from controller.operations.github import Reconciler

    just_now = Reconciler(
        services.store,
        services.intake,
        dispatcher,
        clock=services.clock,
        iso=services.operations.iso,
        every=0,
        quiet=60,
    )
    assert just_now.run_once() == []  # its events are recent: not quiet, not read
    reconciler = Reconciler(
        services.store,
        services.intake,
        dispatcher,
        clock=lambda: services.clock() + 3600,
        iso=services.operations.iso,
        every=0,
        quiet=60,
    )
    github.results = {
        "D1BRV40-dev": environment_result(
            {"stack": "network", "status": "succeeded", "counts": {"create": 3}}
        )
    }
    job = job_payload(41, status="completed", conclusion="success")["workflow_job"]
    fake_run(github, operation, [job], "success")
    assert reconciler.run_once() == [operation]  # heard nothing for an hour
    final = status(github, operation)
    assert final["runId"] == RUN_ID and final["status"] == "success"
    assert [s["status"] for s in final["completedStacks"]] == ["deployed"]
    assert reconciler.run_once() == []  # nothing left to reconcile


def test_cancel_goes_through_the_runs_api(github: GitHub) -> None:
    dispatch_ok(github)
    operation = start(github, {"environment": "dev", "stackFilter": ["network"]})["operationId"]
    github.mock.get(
        f"{API}/actions/runs/{RUN_ID}",
        json=run_payload(operation, status="in_progress", conclusion=None)["workflow_run"],
    )
    cancel = github.mock.post(f"{API}/actions/runs/{RUN_ID}/cancel", status=202, json={})
    answer = github.harness.client.post(
        f"/api/v1/operations/{operation}/cancel", headers=github.harness.bearer()
    )
    assert answer.status_code == 202, answer.text
    github.settle()
    assert cancel.call_count == 1
    fake_run(github, operation, [], "cancelled")
    github.deliver(
        "workflow_run",
        run_payload(operation, status="completed", conclusion="cancelled"),
        delivery="c-1",
    )
    github.settle()
    final = status(github, operation)
    assert final["status"] == "cancelled"
    assert [s["status"] for s in final["completedStacks"]] == ["cancelled"]


def test_options_the_run_cannot_honour_are_refused(github: GitHub) -> None:
    admin = github.harness.bearer()
    for body, field in (
        ({"environment": "dev", "preview": True}, "preview"),
        ({"environment": "dev", "force": True}, "force"),
        ({"environment": "dev", "smartSkip": False}, "smartSkip"),
    ):
        answer = github.harness.client.post(f"{D1}/deploy", json=body, headers=admin)
        assert answer.status_code == 400 and answer.json()["error"]["details"]["field"] == field
    assert github.harness.store.list_operations() == []


def test_a_runner_reports_steps_with_its_operations_token_only(github: GitHub) -> None:
    dispatch_ok(github)
    services = github.harness.services
    services.operations.dispatcher.service_url = "https://cloud.example.com"
    operation = start(github, {"environment": "dev", "stackFilter": ["network"]})["operationId"]
    sent = json.loads(next(c for c in github.mock.calls if c.request.method == "POST").request.body)
    token = sent["inputs"]["service-token"]
    assert sent["inputs"]["service-url"] == "https://cloud.example.com"
    url = f"/api/v1/operations/{operation}/events"
    steps = {
        "events": [
            {"type": "stack.started", "stackName": "network", "data": {"layer": 1}},
            {
                "type": "stack.progress",
                "stackName": "network",
                "progress": 40,
                "data": {"resourcesProcessed": 4, "resourcesTotal": 10},
            },
            {"type": "log", "stackName": "network", "level": "info", "message": "creating vpc"},
        ]
    }
    client = github.harness.client
    answer = client.post(url, json=steps, headers={"X-Cloud-Runner-Token": token})
    assert answer.status_code == 202, answer.text
    assert answer.json()["data"]["accepted"] == 3
    current = status(github, operation)
    assert current["currentStacks"][0]["progress"] == 40
    assert current["logs"][-1]["message"] == "creating vpc"

    other = services.runner_tokens.issue("op-aaaaaaaaaaaa", "D1BRV40", "dev")
    for headers in (
        {},
        {"X-Cloud-Runner-Token": other},
        {"X-Cloud-Runner-Token": github.harness.bearer()["Authorization"][7:]},
    ):
        refused = client.post(url, json=steps, headers=headers)
        assert refused.status_code == 401, refused.text
    wrong = client.post(
        url,
        json={"events": [{"type": "stack.started", "stackName": "dns"}]},
        headers={"X-Cloud-Runner-Token": token},
    )
    assert wrong.status_code == 400 and "not a stack of" in wrong.text

    fake_run(github, operation, [], "success")
    github.deliver(
        "workflow_run",
        run_payload(operation, status="completed", conclusion="success"),
        delivery="r-1",
    )
    github.settle()
    spent = client.post(url, json=steps, headers={"X-Cloud-Runner-Token": token})
    assert spent.status_code == 409 and "spent" in spent.text


def test_a_push_makes_the_service_read_the_branch_head_again(github: GitHub) -> None:
    source = github.harness.services.repo.source
    forgotten = []
    source.forget_head = lambda: forgotten.append(True)
    answer = github.deliver("push", {"ref": "refs/heads/main", "after": "abc"}, delivery="push-1")
    assert answer.status_code == 202
    github.settle()
    assert forgotten == [True]


def test_with_several_replicas_one_reconciler_holds_the_lease_until_it_lapses(store) -> None:
    """Both backends (`store` is parametrized): the lease is the store's."""
    from controller.operations.github import Reconciler
    from controller.service.http.envelope import iso_at

    now = [1_760_000_000.0]

    def replica(owner: str) -> Reconciler:
        return Reconciler(
            store,
            None,
            None,
            clock=lambda: now[0],
            iso=iso_at,
            every=60,
            owner=owner,  # type: ignore[arg-type]
        )

    first, second = replica("replica-a"), replica("replica-b")
    assert first.lead() and not second.lead()
    now[0] += 100
    assert first.lead() and not second.lead()  # renewed by its holder
    now[0] += 151  # the holder stopped (died): 2.5 rounds later the lease is free
    assert second.lead() and not first.lead()
