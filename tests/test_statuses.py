"""Statuses from recorded stack states (core.statuses), table by table."""

from __future__ import annotations

import pytest

from controller.core.statuses import (
    StackState,
    deployment_status,
    endpoints_of,
    next_state,
    running_kind,
    stack_status,
    summarize_environment,
)

DEPLOYED = StackState("deployed", "t1", "op-1", deployed_at="t1", deployed_by="a@x")
DESTROYED = StackState("destroyed", "t2", "op-2", deployed_at="t1")
FAILED = StackState("failed", "t3", "op-3", error={"message": "boom"})


def ev(kind: str, **data):
    return {"type": kind, "timestamp": "t9", "data": {"operationId": "op-9", **data}}


@pytest.mark.parametrize(
    ("previous", "event", "kind", "expected"),
    [
        pytest.param(
            None,
            ev("stack.completed", status="deployed", duration=3.5, outputs={"url": "https://x"},
               counts={"create": 2, "same": 3, "delete": 1}),
            "deploy",
            StackState("deployed", "t9", "op-9", deployed_at="t9", deployed_by="bob@x",
                       duration=3.5, resource_count=5, outputs={"url": "https://x"}),
            id="a deploy records what it left",
        ),
        pytest.param(
            DEPLOYED, ev("stack.failed", error={"message": "no"}), "deploy",
            StackState("failed", "t9", "op-9", deployed_at="t1", deployed_by="a@x",
                       error={"message": "no"}),
            id="a failed update keeps when it was last deployed",
        ),
        pytest.param(
            DEPLOYED, ev("stack.completed", status="destroyed"), "destroy",
            StackState("destroyed", "t9", "op-9", deployed_at="t1"), id="a destroy clears it",
        ),
        pytest.param(DEPLOYED, ev("stack.completed", status="previewed"), "preview", None,
                     id="a preview changes nothing"),
        pytest.param(DEPLOYED, ev("stack.failed", error={}), "preview", None,
                     id="a failed preview changes nothing"),
        pytest.param(None, ev("stack.started"), "deploy", None, id="a start changes nothing"),
    ],
)  # fmt: skip
def test_next_state(previous, event, kind, expected) -> None:
    assert next_state(previous, event, operation_type=kind, started_by="bob@x") == expected


@pytest.mark.parametrize(
    ("states", "enabled", "running", "status", "deployed", "failed"),
    [
        pytest.param({}, True, None, "ready", 0, 0, id="never deployed"),
        pytest.param({}, False, None, "disabled", 0, 0, id="disabled"),
        pytest.param({"a": DEPLOYED, "b": DESTROYED}, True, None, "deployed", 1, 0,
                     id="one destroyed of two: still deployed"),
        pytest.param({"a": DESTROYED}, True, None, "destroyed", 0, 0, id="all destroyed"),
        pytest.param({"a": DEPLOYED, "b": FAILED}, True, None, "failed", 1, 1, id="a failure"),
        pytest.param({"a": DEPLOYED}, True, "destroying", "destroying", 1, 0, id="running"),
        pytest.param({"a": DEPLOYED}, False, None, "disabled", 1, 0,
                     id="disabled, still deployed: counted"),
    ],
)  # fmt: skip
def test_environment_summary(states, enabled, running, status, deployed, failed) -> None:
    summary = summarize_environment(states, enabled=enabled, running=running)
    assert (summary.status, summary.stacks_deployed, summary.stacks_failed) == (
        status,
        deployed,
        failed,
    )


@pytest.mark.parametrize(
    ("environments", "running", "status"),
    [
        pytest.param([{}, {}], [None, None], "initialized", id="nothing recorded"),
        pytest.param([{"a": DEPLOYED}, {}], [None, None], "deployed", id="one env deployed"),
        pytest.param([{"a": DESTROYED}], [None], "destroyed", id="destroyed"),
        pytest.param([{"a": DEPLOYED}, {"b": FAILED}], [None, None], "failed", id="failed"),
        pytest.param([{"a": DEPLOYED}], ["deploying"], "deploying", id="deploying"),
        pytest.param([{}], ["destroying"], "destroying", id="destroying"),
    ],
)
def test_deployment_status(environments, running, status) -> None:
    assert deployment_status(environments, running=running) == status


def test_running_kind_and_stack_status() -> None:
    assert running_kind("destroy", "in_progress") == "destroying"
    assert running_kind("deploy", "success") is None
    assert running_kind("preview", "in_progress") is None
    assert stack_status(None) == "pending"
    assert stack_status(DESTROYED) == "destroyed"
    assert stack_status(DEPLOYED, running="deploying") == "deploying"


def test_endpoints_are_the_urls_the_stacks_export() -> None:
    api = StackState("deployed", "t", "op", outputs={"apiUrl": "https://api", "id": "x"})
    cdn = StackState("deployed", "t", "op", outputs={"apiUrl": "https://cdn"})
    assert endpoints_of({"services-api": api}) == {"apiUrl": "https://api"}
    assert endpoints_of({"a": api, "b": cdn}) == {
        "a.apiUrl": "https://api",
        "b.apiUrl": "https://cdn",
    }
