"""`GET /deployments/:id/logs` as JSON: the seeds' filters, isolation, and how events read
as log lines. (The SSE form is in test_realtime_server.py: it needs a real socket.)"""

from __future__ import annotations

from typing import Any

import pytest

from controller.core import rbac
from controller.operations.log_lines import level_of, log_entry
from controller.store import EventRecord
from tests.service.conftest import Harness
from tests.service.event_helpers import record_event

LOGS = "/api/v1/deployments/D1BRV40/logs"


@pytest.fixture
def recorded(harness: Harness) -> Harness:
    """Two operations of D1BRV40 (dev, then prod) and one of D2K7Q1M."""
    record_event(harness, "operation.started", operationType="deploy", environment="dev",
                 startedBy="admin@example.com", stacksToProcess=2)  # fmt: skip
    record_event(harness, "stack.started", stackName="network", layer=1)
    record_event(harness, "log", stackName="network", level="info",
                 message="Creating VPC vpc-0abc123", resourceType="aws:ec2/vpc:Vpc")  # fmt: skip
    record_event(harness, "log", stackName="network", level="warning", message="Large NAT gateway")
    record_event(harness, "stack.progress", stackName="network", progress=50)
    failure = {"code": "RESOURCE_CREATION_FAILED", "message": "Insufficient capacity"}
    record_event(harness, "stack.failed", stackName="database", error=failure)
    record_event(harness, "operation.completed", operationType="deploy", status="failed",
                 duration=12, stacksSucceeded=1, stacksFailed=1)  # fmt: skip
    record_event(harness, "log", op="op-2", environment="prod", stackName="network",
                 message="prod line")  # fmt: skip
    record_event(harness, "log", deployment="D2K7Q1M", op="op-b", message="another deployment")
    return harness


def logs(harness: Harness, query: str = "", **headers: str) -> Any:
    response = harness.client.get(f"{LOGS}{query}", headers=headers or harness.bearer())
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_the_logs_are_the_deployments_events_as_lines_in_the_seeds_shape(
    recorded: Harness,
) -> None:
    data = logs(recorded)
    assert data["deploymentId"] == "D1BRV40" and data["environment"] is None
    assert data["total"] == data["returned"] == 8
    ids = [entry["id"] for entry in data["logs"]]
    assert ids == sorted(ids)
    vpc = data["logs"][2]
    assert vpc == {
        "id": vpc["id"],
        "timestamp": vpc["timestamp"],
        "level": "info",
        "type": "log",
        "message": "Creating VPC vpc-0abc123",
        "stack": "network",
        "operation": "deploy",
        "operationId": "op-1",
        "environment": "dev",
        "metadata": {"resourceType": "aws:ec2/vpc:Vpc"},
    }
    assert "another deployment" not in [entry["message"] for entry in data["logs"]]


@pytest.mark.parametrize(
    ("query", "messages"),
    [
        pytest.param("?environment=prod", ["prod line"], id="environment"),
        pytest.param("?operationId=op-2", ["prod line"], id="operation"),
        pytest.param("?stack=database", ["stack database failed: Insufficient capacity"],
                     id="stack"),
        pytest.param("?level=warn", ["Large NAT gateway",
                                     "stack database failed: Insufficient capacity",
                                     "deploy failed in 12s: 1 stacks succeeded, 1 failed"],
                     id="level-is-a-minimum"),
        pytest.param("?level=error&stack=database",
                     ["stack database failed: Insufficient capacity"], id="combined"),
        pytest.param("?search=VPC", ["Creating VPC vpc-0abc123"], id="search-ignores-case"),
        pytest.param("?environment=dev&level=debug&search=network%3A",
                     ["stack network: 50%"], id="progress-is-debug"),
    ],
)  # fmt: skip
def test_the_seeds_filters(recorded: Harness, query: str, messages: list[str]) -> None:
    data = logs(recorded, query)
    assert [entry["message"] for entry in data["logs"]] == messages
    assert data["total"] == len(messages)


def test_limit_keeps_the_newest_entries_oldest_first(recorded: Harness) -> None:
    data = logs(recorded, "?limit=2")
    assert [entry["message"] for entry in data["logs"]] == [
        "deploy failed in 12s: 1 stacks succeeded, 1 failed",
        "prod line",
    ]
    assert (data["total"], data["returned"]) == (8, 2)


def test_since_takes_a_range_or_a_time(harness: Harness) -> None:
    record_event(harness, "log", message="last year", at="2020-01-01T00:00:00.000Z")
    record_event(harness, "log", message="just now")
    assert [e["message"] for e in logs(harness, "?since=1h")["logs"]] == ["just now"]
    assert len(logs(harness, "?since=2019-12-31T00:00:00Z")["logs"]) == 2
    assert logs(harness, "?since=2999-01-01")["logs"] == []


@pytest.mark.parametrize(
    "query",
    [
        "?level=loud",
        "?limit=0",
        "?limit=1001",
        "?since=yesterday",
        "?since=2025-13-45",
        "?operationId=../etc",
        "?stack=Not_A_Stack",
        "?colour=blue",
    ],
)
def test_a_malformed_filter_is_400(harness: Harness, query: str) -> None:
    response = harness.client.get(f"{LOGS}{query}", headers=harness.bearer())
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "VALIDATION_INVALID_FORMAT"


def test_a_malformed_last_event_id_is_400_before_any_stream(harness: Harness) -> None:
    response = harness.client.get(
        LOGS,
        headers={"Accept": "text/event-stream", "Last-Event-ID": "seven", **harness.bearer()},
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"]["field"] == "Last-Event-ID"


def test_another_organizations_deployment_is_404_like_a_missing_one(recorded: Harness) -> None:
    outsider = recorded.bearer("bob", (rbac.DEVELOPER,), ("CompanyB",))
    foreign = recorded.client.get(LOGS, headers=outsider)
    missing = recorded.client.get("/api/v1/deployments/DZZZZZZ/logs", headers=outsider)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["error"]["code"] == "RESOURCE_NOT_FOUND"
    assert "Creating VPC" not in foreign.text


@pytest.mark.parametrize(
    ("role", "status"),
    [(rbac.DEVELOPER, 200), (rbac.AUDITOR, 200), (rbac.ENVIRONMENT_MANAGER, 403)],
)
def test_reading_logs_needs_the_logs_permission(harness: Harness, role: str, status: int) -> None:
    response = harness.client.get(LOGS, headers=harness.bearer(f"u-{status}-{role[:3]}", (role,)))
    assert response.status_code == status


# --- events as log lines (purely computational) ----------------------------------------------


def event(kind: str, **data: Any) -> EventRecord:
    payload = {"deploymentId": "D1BRV40", "operationId": "op-1", **data}
    return EventRecord("op-1", "D1BRV40", "dev", kind, "2025-10-09T16:00:00.000Z", None, payload, 7)


@pytest.mark.parametrize(
    ("record", "level", "message"),
    [
        pytest.param(event("log", level="warning", message="slow"), "warn", "slow", id="warning"),
        pytest.param(event("log", level="CRITICAL", message="x"), "error", "x", id="critical"),
        pytest.param(event("log", level="chatty", message="x"), "info", "x", id="unknown-level"),
        pytest.param(event("operation.started", operationType="destroy", stacksToProcess=3),
                     "info", "destroy started: 3 stacks", id="operation-started"),
        pytest.param(event("stack.started", stackName="network", layer=1), "info",
                     "stack network started (layer 1)", id="stack-started"),
        pytest.param(event("stack.progress", stackName="network", progress=35,
                           currentResource={"type": "aws:ec2/subnet:Subnet",
                                            "name": "private-2", "action": "creating"}),
                     "debug", "stack network: 35% - creating aws:ec2/subnet:Subnet private-2",
                     id="stack-progress"),
        pytest.param(event("stack.completed", stackName="network", status="deployed",
                           duration=295), "info", "stack network deployed in 295s",
                     id="stack-completed"),
        pytest.param(event("stack.failed", stackName="compute", error="quota"), "error",
                     "stack compute failed: quota", id="stack-failed-plain-error"),
        pytest.param(event("operation.completed", status="success"), "info",
                     "operation success", id="succeeded"),
        pytest.param(event("operation.completed", status="cancelled"), "warn",
                     "operation cancelled", id="cancelled"),
    ],
)  # fmt: skip
def test_how_each_event_reads_as_a_log_line(record: EventRecord, level: str, message: str) -> None:
    assert level_of(record) == level
    assert log_entry(record, operation="deploy")["message"] == message


# --- the store filters what it can, and the answer is the same -------------------------------


def _history(store: Any) -> None:
    """A varied history: every event type, three environments, two operations, levels from
    debug to error, times over a week."""
    import random

    from controller.store.base import OperationRecord

    chooser = random.Random(7)
    for op in ("op-aaaaaaaa", "op-bbbbbbbb"):
        store.create_operation(
            OperationRecord(op, "D1BRV40", "dev", "deploy", "success",
                            "2026-11-20T00:00:00.000Z", "2026-11-20T00:00:00.000Z", "a")
        )  # fmt: skip
    kinds = ["operation.started", "stack.started", "stack.progress", "stack.completed",
             "stack.failed", "operation.completed", "log", "log", "stack.progress"]  # fmt: skip
    for n in range(600):
        kind = chooser.choice(kinds)
        payload: dict[str, Any] = {"stackName": chooser.choice(["network", "dns", "security"])}
        if kind == "log":
            payload["level"] = chooser.choice(["debug", "info", "warning", "error"])
            payload["message"] = chooser.choice(["Creating VPC", "NAT gateway", "done"])
        if kind == "operation.completed":
            payload |= {"status": chooser.choice(["success", "failed", "partial"])}
        store.append_event(
            EventRecord(chooser.choice(["op-aaaaaaaa", "op-bbbbbbbb"]), "D1BRV40",
                        chooser.choice(["dev", "stage", "prod"]), kind,
                        f"2026-11-{20 + n // 100:02d}T10:00:{n % 60:02d}.000Z", None, payload)
        )  # fmt: skip


FILTERS = [
    {},
    {"environment": "prod"},
    {"stack": "dns"},
    {"since": "2026-11-24T00:00:00Z"},
    {"operation_id": "op-bbbbbbbb"},
    {"level": "info"},
    {"level": "warn", "environment": "stage"},
    {"level": "error", "stack": "network", "since": "2026-11-22T00:00:00Z"},
    {"search": "nat"},
    {"search": "vpc", "level": "info", "operation_id": "op-aaaaaaaa"},
]


@pytest.mark.parametrize("given", FILTERS)
def test_store_side_filtering_answers_what_filtering_every_event_would(
    harness: Harness, given: dict[str, str]
) -> None:
    from controller.operations.log_lines import LogFilter
    from controller.service.endpoints.logs import OperationTypes, read_logs

    store = harness.store
    _history(store)
    log_filter = LogFilter.build(now=0.0, **given)
    everything = store.list_events(deployment_id="D1BRV40", limit=10_000)
    expected = [
        entry
        for record in everything
        if (entry := log_filter.entry(record, OperationTypes(store))) is not None
    ]
    assert expected, "the history must exercise the filter"
    for limit in (1, 25, 1000):
        entries, total, newest = read_logs(store, "D1BRV40", log_filter, limit=limit)
        assert total == len(expected)
        assert entries == expected[-limit:]
        assert newest == expected[-1]["id"]


def test_the_types_the_store_leaves_out_never_reach_the_level() -> None:
    from controller.operations.log_lines import LEVELS, types_below

    for level, rank in LEVELS.items():
        for kind in types_below(rank):
            for payload in ({}, {"level": "error", "status": "failed"}, {"level": "debug"}):
                record = EventRecord("op-1", "D1BRV40", "dev", kind, "2026-11-27T10:00:00Z",
                                     None, payload)  # fmt: skip
                assert LEVELS[level_of(record)] < rank, (kind, level)
    assert types_below(LEVELS["info"]) == ("stack.progress",)
