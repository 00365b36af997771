from __future__ import annotations

from datetime import UTC, datetime

from controller.core.operations import estimated_remaining, fold_stacks, summarize, to_retry

PLANNED = [
    {"name": "network", "layer": 1, "estimatedDuration": 300},
    {"name": "security", "layer": 2, "estimatedDuration": 180},
    {"name": "dns", "layer": 2, "estimatedDuration": 120},
    {"name": "database-rds", "layer": 3, "estimatedDuration": 600},
]


def ev(kind, stack=None, ts="2026-11-27T10:00:00.000Z", **data):
    return {
        "type": kind,
        "timestamp": ts,
        "data": {
            "deploymentId": "D1",
            "operationId": "op-1",
            **({"stackName": stack} if stack else {}),
            **data,
        },
    }


EVENTS = [
    ev("operation.started"),
    ev("stack.started", "network", "2026-11-27T10:00:00.000Z", layer=1),
    ev("stack.progress", "network", progress=40, resourcesProcessed=6, resourcesTotal=15),
    ev(
        "stack.completed",
        "network",
        "2026-11-27T10:05:00.000Z",
        status="deployed",
        duration=300,
        counts={"create": 15},
    ),
    ev("stack.started", "security", "2026-11-27T10:05:01.000Z", layer=2),
    ev(
        "stack.completed",
        "dns",
        "2026-11-27T10:05:02.000Z",
        status="skipped",
        reason="unchanged since last deploy",
    ),
    ev("log", "security", level="info", message="creating security group"),
]


def test_progress_current_and_completed_stacks_are_folded_from_events():
    body = summarize(
        {
            "operationId": "op-1",
            "deploymentId": "D1",
            "environment": "dev",
            "type": "deploy",
            "status": "in_progress",
            "stacks": PLANNED,
        },
        EVENTS,
        now=datetime(2026, 11, 27, 10, 6, 1, tzinfo=UTC),
    )
    assert body["progress"] == {
        "totalStacks": 4,
        "completedStacks": 2,
        "failedStacks": 0,
        "inProgressStacks": 1,
        "pendingStacks": 1,
        "percentage": 50,
    }
    assert [s["name"] for s in body["currentStacks"]] == ["security"]
    assert body["currentStacks"][0]["status"] == "deploying"
    network = next(s for s in body["completedStacks"] if s["name"] == "network")
    assert (network["status"], network["duration"], network["resourcesCreated"]) == (
        "deployed",
        300,
        15,
    )
    assert body["pendingStacks"] == ["database-rds"]
    # layer 2: security has 180 - 60 s left; layer 3: database-rds 600 s
    assert body["estimatedTimeRemaining"] == 120 + 600
    assert body["logs"] == [
        {
            "timestamp": "2026-11-27T10:00:00.000Z",
            "level": "info",
            "stack": "security",
            "message": "creating security group",
        }
    ]


def test_a_finished_operation_has_no_time_left():
    body = summarize(
        {
            "operationId": "op-1",
            "deploymentId": "D1",
            "environment": "dev",
            "status": "success",
            "stacks": PLANNED,
        },
        EVENTS,
        now=datetime(2026, 11, 27, 11, tzinfo=UTC),
    )
    assert body["estimatedTimeRemaining"] == 0


def test_retry_reruns_failed_blocked_and_never_started_stacks():
    events = [
        *EVENTS,
        ev("stack.failed", "security", error={"message": "boom"}),
        ev("stack.completed", "database-rds", status="blocked", reason="upstream security failed"),
    ]
    stacks = fold_stacks(PLANNED, events)
    assert to_retry(stacks) == ["security", "database-rds"]
    assert stacks["security"].error == "boom"


def test_estimates_ignore_finished_stacks():
    stacks = fold_stacks(PLANNED, EVENTS)
    stacks["database-rds"].status = "deployed"
    assert estimated_remaining(stacks, now=datetime(2026, 11, 27, 10, 5, 1, tzinfo=UTC)) == 180


def test_a_running_stack_says_how_many_resources_it_will_hold_before_its_first_progress():
    events = [ev("stack.started", "network", layer=1, resourcesTotal=16)]
    body = summarize(
        {"operationId": "op-1", "deploymentId": "D1", "environment": "dev", "type": "deploy",
         "status": "in_progress", "stacks": PLANNED},
        events,
        now=datetime(2026, 11, 27, 10, 1, tzinfo=UTC),
    )  # fmt: skip
    [current] = body["currentStacks"]
    assert current["resourcesTotal"] == 16 and current["resourcesCreated"] == 0
