"""run-stack reporting its steps to the service: batches, retries, and never failing a job."""

from __future__ import annotations

import json

import pytest
import responses

from controller.adapters.service_reporter import ServiceReporter, runner_event
from controller.cli.main import main
from controller.core import events

URL = "https://cloud.example.com/api/v1/operations/op-123456789abc/events"


def message(kind, **data):
    return events.event(
        kind,
        "2026-11-27T10:00:00.000Z",
        deploymentId="D1",
        environment="dev",
        operationId="op-123456789abc",
        **data,
    )


@pytest.fixture
def mock():
    with responses.RequestsMock() as rsps:
        yield rsps


def reporter(**options):
    warnings = []
    made = ServiceReporter(
        "https://cloud.example.com/",
        "op-123456789abc",
        "tok",
        sleep=lambda s: None,
        warn=warnings.append,
        **options,
    )
    return made, warnings


def test_stack_events_go_at_once_logs_in_batches_and_operation_events_not_at_all(mock):
    mock.post(URL, json={"success": True})
    sink, warnings = reporter(batch=3)
    sink(message(events.OPERATION_STARTED, operationType="deploy"))
    sink(message(events.LOG, stackName="network", level="info", message="a"))
    assert len(mock.calls) == 0
    sink(message(events.STACK_STARTED, stackName="network", layer=1))
    [call] = mock.calls
    sent = json.loads(call.request.body)["events"]
    assert [e["type"] for e in sent] == ["log", "stack.started"]
    assert sent[1]["data"] == {"layer": 1} and call.request.headers["X-Cloud-Runner-Token"] == "tok"
    for text in "bcd":
        sink(message(events.LOG, stackName="network", level="info", message=text))
    assert len(mock.calls) == 2  # the batch of three went
    sink.close()
    assert sink.sent == 5 and warnings == []


def test_a_refusal_stops_reporting_and_a_down_service_costs_a_warning(mock):
    mock.post(URL, status=409, json={"success": False})
    sink, warnings = reporter()
    sink(message(events.STACK_STARTED, stackName="network"))
    sink(message(events.STACK_COMPLETED, stackName="network", status="deployed"))
    assert len(mock.calls) == 1 and not sink.enabled
    assert "refused" in warnings[0]
    mock.replace(responses.POST, URL, status=503)
    sink, warnings = reporter(attempts=3)
    sink(message(events.STACK_STARTED, stackName="network"))
    assert len(mock.calls) == 1 + 3 and "answered 503" in warnings[0]


def test_runner_events_keep_only_what_the_endpoint_takes():
    event = runner_event(
        message(
            events.STACK_PROGRESS, stackName="db", progress=40, resourcesProcessed=4, internal="x"
        )
    )
    assert event["type"] == "stack.progress" and event["progress"] == 40
    assert event["data"] == {"resourcesProcessed": 4}


def test_cloud_run_stack_reports_to_the_service(mock, repo_copy, monkeypatch, capsys):
    mock.post(URL, json={"success": True})
    monkeypatch.setenv("CLOUD_SERVICE_TOKEN", "tok")
    code = main(
        [
            "--root",
            str(repo_copy),
            "run-stack",
            "D1BRV40",
            "network",
            "-e",
            "dev",
            "--engine",
            "simulate",
            "--operation-id",
            "op-123456789abc",
            "--service-url",
            "https://cloud.example.com",
            "--format",
            "json",
        ]
    )
    assert code == 0, capsys.readouterr().err
    sent = [e for call in mock.calls for e in json.loads(call.request.body)["events"]]
    kinds = [e["type"] for e in sent]
    assert kinds[0] == "stack.started" and "stack.completed" in kinds
    done = next(e for e in sent if e["type"] == "stack.completed")
    assert done["stackName"] == "network" and done["status"] == "deployed"


def test_run_stack_refuses_a_service_url_without_its_token(repo_copy, monkeypatch, capsys):
    monkeypatch.delenv("CLOUD_SERVICE_TOKEN", raising=False)
    code = main(
        [
            "--root",
            str(repo_copy),
            "run-stack",
            "D1BRV40",
            "network",
            "-e",
            "dev",
            "--engine",
            "simulate",
            "--service-url",
            "https://cloud.example.com",
        ]
    )
    assert code == 2 and "CLOUD_SERVICE_TOKEN" in capsys.readouterr().err
