"""Dispatching and following runs through PyGithub against GitHub's Actions REST API."""

from __future__ import annotations

import copy
import io
import json
import re
import zipfile
from datetime import UTC, datetime

import pytest
import responses

from controller.adapters.github_actions import GitHubActions
from controller.adapters.github_api import GitHubApiError, RetryingCaller, make_github
from tests.conftest import REPO_ROOT

API = "https://api.github.com:443/repos/acme/infra"
RUN = json.loads((REPO_ROOT / "tests/fixtures/github/workflow_run.json").read_text())
JOB = json.loads((REPO_ROOT / "tests/fixtures/github/workflow_job.json").read_text())
RUN_ID = RUN["workflow_run"]["id"]
OPERATION = "op-3f2a9c1b7d4e"


@pytest.fixture
def mock():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def actions(sleeps=None, download=None):
    caller = RetryingCaller(
        sleep=(sleeps.append if sleeps is not None else lambda s: None), jitter=lambda: 1.0
    )
    return GitHubActions(
        make_github("t", throttle=False), "acme/infra", ref="main", caller=caller, download=download
    )


def test_dispatch_sends_the_inputs_and_returns_the_run_github_names(mock):
    mock.post(
        f"{API}/actions/workflows/deploy.yml/dispatches",
        status=200,
        json={
            "workflow_run_id": RUN_ID,
            "run_url": f"https://api.github.com/repos/acme/infra/actions/runs/{RUN_ID}",
            "html_url": f"https://github.com/acme/infra/actions/runs/{RUN_ID}",
        },
    )
    inputs = {
        "deployment": "D1BRV40",
        "environment": "dev",
        "operation": "deploy",
        "stacks": "",
        "operation-id": OPERATION,
    }
    run = actions().dispatch("deploy.yml", inputs, operation_id=OPERATION)
    assert run.run_id == RUN_ID
    body = json.loads(mock.calls[-1].request.body)
    assert body == {"ref": "main", "inputs": inputs, "return_run_details": True}


def test_without_run_details_the_run_is_found_by_its_run_name(mock):
    mock.post(f"{API}/actions/workflows/deploy.yml/dispatches", status=204)
    other = copy.deepcopy(RUN["workflow_run"]) | {"id": 1, "display_title": "deploy [op-000000]"}
    ours = RUN["workflow_run"]
    mock.get(
        re.compile(rf"{re.escape(API)}/actions/workflows/deploy.yml/runs\?.*"),
        json={"total_count": 2, "workflow_runs": [other, ours]},
    )
    client = actions()
    assert client.dispatch("deploy.yml", {}, operation_id=OPERATION) is None
    found = client.find_run("deploy.yml", OPERATION, since=datetime(2026, 11, 27, 10, tzinfo=UTC))
    assert found.run_id == RUN_ID
    listed = mock.calls[-1].request.url
    assert (
        "event=workflow_dispatch" in listed and "created=%3E%3D2026-11-27T09%3A59%3A00Z" in listed
    )


def test_run_status_maps_the_run_and_its_environment_jobs(mock):
    mock.get(f"{API}/actions/runs/{RUN_ID}", json=RUN["workflow_run"])
    plan_job = copy.deepcopy(JOB["workflow_job"]) | {"id": 2, "name": "plan"}
    failed = copy.deepcopy(JOB["workflow_job"]) | {
        "id": 3,
        "name": "deploy D1BRV40 / stage",
        "conclusion": "failure",
    }
    mock.get(
        re.compile(rf"{re.escape(API)}/actions/runs/{RUN_ID}/jobs.*"),
        json={"total_count": 3, "jobs": [plan_job, JOB["workflow_job"], failed]},
    )
    run, jobs = actions().run_status(RUN_ID)
    assert (run.operation_id, run.state) == (OPERATION, "success")
    assert [(j.deployment_id, j.environment, j.state) for j in jobs] == [
        ("D1BRV40", "dev", "succeeded"),
        ("D1BRV40", "stage", "failed"),
    ]


def test_run_status_asks_again_conditionally_and_uses_the_last_answer_on_304(mock):
    """A 304 does not count against the rate limit: the reconciler's repeated reads of a
    quiet run send the ETag of the last answer, and a 304 means the last answer holds."""
    running = copy.deepcopy(JOB["workflow_job"]) | {"status": "in_progress", "conclusion": None}
    answers = {
        "run": [(200, {"ETag": 'W/"run-1"'}, RUN["workflow_run"]), (304, {}, None)],
        "jobs": [
            (200, {"ETag": 'W/"jobs-1"'}, {"total_count": 1, "jobs": [running]}),
            (304, {}, None),
            (200, {"ETag": 'W/"jobs-2"'}, {"total_count": 1, "jobs": [JOB["workflow_job"]]}),
        ],
    }
    seen: list[tuple[str, str | None]] = []

    def answer(kind):
        def callback(request):
            seen.append((kind, request.headers.get("If-None-Match")))
            status, headers, body = (
                answers[kind].pop(0) if len(answers[kind]) > 1 else (answers[kind][0])
            )
            return status, headers, json.dumps(body) if body is not None else ""

        return callback

    mock.add_callback(responses.GET, f"{API}/actions/runs/{RUN_ID}", callback=answer("run"))
    mock.add_callback(
        responses.GET,
        re.compile(rf"{re.escape(API)}/actions/runs/{RUN_ID}/jobs.*"),
        callback=answer("jobs"),
    )
    client = actions()
    _, first = client.run_status(RUN_ID)
    assert [(j.deployment_id, j.state) for j in first] == [("D1BRV40", "running")]
    run, second = client.run_status(RUN_ID)  # both unchanged: 304, the last answers hold
    assert run.operation_id == OPERATION and second == first
    _, third = client.run_status(RUN_ID)  # the job finished: a new answer, a new ETag
    assert [(j.deployment_id, j.state) for j in third] == [("D1BRV40", "succeeded")]
    assert seen == [
        ("run", None),
        ("jobs", None),
        ("run", 'W/"run-1"'),
        ("jobs", 'W/"jobs-1"'),
        ("run", 'W/"run-1"'),
        ("jobs", 'W/"jobs-1"'),
    ]


def test_run_status_reads_every_page_of_a_large_run(mock):
    jobs = [
        copy.deepcopy(JOB["workflow_job"]) | {"id": 100 + n, "name": f"deploy D{n:06d} / dev"}
        for n in range(130)
    ]
    mock.get(f"{API}/actions/runs/{RUN_ID}", json=RUN["workflow_run"])

    def page(request):
        number = int(re.search(r"page=(\d+)", request.url).group(1))
        chunk = jobs[(number - 1) * 100 : number * 100]
        return 200, {}, json.dumps({"total_count": len(jobs), "jobs": chunk})

    mock.add_callback(
        responses.GET, re.compile(rf"{re.escape(API)}/actions/runs/{RUN_ID}/jobs.*"), callback=page
    )
    _, found = actions().run_status(RUN_ID)
    assert [j.deployment_id for j in found] == [f"D{n:06d}" for n in range(130)]


def test_run_status_errors_go_through_the_retry_policy(mock):
    sleeps: list[float] = []
    mock.get(f"{API}/actions/runs/{RUN_ID}", status=502, json={"message": "Bad gateway"})
    with pytest.raises(GitHubApiError, match=r"reading run .*gave up after 5 attempt\(s\).*502"):
        actions(sleeps).run_status(RUN_ID)
    assert sleeps == [1.0, 2.0, 4.0, 8.0]


def result_zip(*results):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for result in results:
            name = f"{result['deploymentId']}-{result['environment']}.json"
            archive.writestr(name, json.dumps(result))
    return buffer.getvalue()


def test_results_are_read_from_the_environment_artifacts(mock):
    mock.get(f"{API}/actions/runs/{RUN_ID}", json=RUN["workflow_run"])
    artifact = {
        "id": 5,
        "node_id": "MDg6",
        "name": "result-D1BRV40-dev",
        "size_in_bytes": 300,
        "expired": False,
        "url": "https://api.github.com/repos/acme/infra/actions/artifacts/5",
        "archive_download_url": "https://api.github.com/repos/acme/infra/actions/artifacts/5/zip",
    }
    mock.get(
        re.compile(rf"{re.escape(API)}/actions/runs/{RUN_ID}/artifacts.*"),
        json={"total_count": 1, "artifacts": [artifact]},
    )
    mock.get(
        f"{API}/actions/artifacts/5/zip",
        status=302,
        headers={"Location": "https://pipelines.example/signed/5.zip"},
    )
    result = {
        "deploymentId": "D1BRV40",
        "environment": "dev",
        "status": "success",
        "stacks": [
            {
                "stack": "network",
                "status": "succeeded",
                "counts": {"create": 16},
                "outputs": {"vpcId": "vpc-1", "token": "[secret]"},
            }
        ],
    }
    fetched = []

    def download(url):
        fetched.append(url)
        return result_zip(result)

    assert actions(download=download).results(RUN_ID) == {"D1BRV40/dev": result}
    assert fetched == ["https://pipelines.example/signed/5.zip"]
    one = actions(download=download).environment_result(RUN_ID, "D1BRV40", "dev")
    assert one == result
    assert actions(download=download).environment_result(RUN_ID, "D1BRV40", "prod") is None


def test_cancel_cancels_the_run(mock):
    mock.get(f"{API}/actions/runs/{RUN_ID}", json=RUN["workflow_run"])
    mock.post(f"{API}/actions/runs/{RUN_ID}/cancel", status=202, json={})
    actions().cancel(RUN_ID)
    assert mock.calls[-1].request.method == "POST"


def test_dispatch_waits_out_a_secondary_rate_limit(mock):
    url = f"{API}/actions/workflows/deploy.yml/dispatches"
    mock.post(
        url,
        status=403,
        headers={"Retry-After": "3"},
        json={"message": "You have exceeded a secondary rate limit"},
    )
    mock.post(url, status=200, json={"workflow_run_id": RUN_ID, "run_url": "u", "html_url": "h"})
    sleeps = []
    assert actions(sleeps).dispatch("deploy.yml", {}, operation_id=OPERATION).run_id == RUN_ID
    assert sleeps == [3.0]
