"""One running operation per deployment environment: the store's lock and its lease.

On both backends (the `store` and `store_target` fixtures are parametrized)."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from controller.store import open_store
from controller.store.base import EventRecord, LockRecord, OperationRecord

# spawned, not forked: a fork copies the parent's threads' locks (a connection pool's, a
# store listener's) in whatever state they are, and a child can wait on one for ever
SPAWN = multiprocessing.get_context("spawn")


def operation(op_id, environment="dev"):
    return OperationRecord(
        op_id,
        "D1BRV40",
        environment,
        "deploy",
        "pending",
        "2026-11-27T10:00:00.000Z",
        "2026-11-27T10:00:00.000Z",
        "alice",
    )


def lock(
    op_id,
    *,
    owner="worker-1",
    at="2026-11-27T10:00:00.000Z",
    until="2026-11-27T10:02:00.000Z",
    environment="dev",
):
    return LockRecord("D1BRV40", environment, op_id, owner, at, until)


def started(op_id, environment="dev"):
    return [
        EventRecord(
            op_id,
            "D1BRV40",
            environment,
            "operation.started",
            "2026-11-27T10:00:00.000Z",
            "pending",
            {"operationId": op_id},
        )
    ]


def test_the_first_operation_takes_the_lock_and_is_recorded_with_its_events(store):
    assert store.start_operation(operation("op-1"), lock("op-1"), started("op-1")) == lock("op-1")
    assert store.get_operation("op-1").status == "pending"
    assert [e.type for e in store.list_events(operation_id="op-1")] == ["operation.started"]


def test_a_second_operation_gets_the_holder_and_nothing_is_recorded(store):
    store.start_operation(operation("op-1"), lock("op-1"), started("op-1"))
    holder = store.start_operation(
        operation("op-2"), lock("op-2", owner="worker-2"), started("op-2")
    )
    assert holder.operation_id == "op-1"
    assert store.get_operation("op-2") is None
    assert store.list_events(operation_id="op-2") == []


def test_another_environment_has_its_own_lock(store):
    store.start_operation(operation("op-1"), lock("op-1"), started("op-1"))
    prod = lock("op-2", environment="prod")
    assert store.start_operation(operation("op-2", "prod"), prod, started("op-2", "prod")) == prod


def test_an_expired_lease_can_be_taken_over(store):
    store.start_operation(operation("op-1"), lock("op-1"), started("op-1"))
    later = lock(
        "op-2", owner="worker-2", at="2026-11-27T10:05:00.000Z", until="2026-11-27T10:07:00.000Z"
    )
    assert store.start_operation(operation("op-2"), later, started("op-2")) == later


def test_only_the_owner_renews_or_releases(store):
    mine = lock("op-1")
    store.start_operation(operation("op-1"), mine, started("op-1"))
    impostor = lock("op-1", owner="worker-9")
    assert not store.renew_lock(impostor, lease_expires_at="2026-11-27T11:00:00.000Z")
    assert not store.release_lock(impostor)
    assert store.renew_lock(mine, lease_expires_at="2026-11-27T11:00:00.000Z")
    assert store.get_lock("D1BRV40", "dev").lease_expires_at == "2026-11-27T11:00:00.000Z"
    assert store.release_lock(mine)
    assert store.get_lock("D1BRV40", "dev") is None


def _race(args):
    path, op_id = args
    store = open_store(path)
    try:
        return (
            store.start_operation(
                operation(op_id), lock(op_id, owner=op_id), started(op_id)
            ).operation_id
            == op_id
        )
    finally:
        store.close()


def test_concurrent_starts_from_many_processes_leave_exactly_one_winner(store_target):
    path = store_target
    open_store(path).close()
    with ProcessPoolExecutor(max_workers=4, mp_context=SPAWN) as pool:
        wins = list(pool.map(_race, [(path, f"op-{n}") for n in range(12)]))
    assert wins.count(True) == 1
    store = open_store(path)
    assert len(store.list_operations(deployment_id="D1BRV40")) == 1
    store.close()


def test_a_delivery_is_recorded_once(store):
    assert store.record_delivery("d-1", event="workflow_run", at="2026-11-27T10:00:00.000Z")
    assert not store.record_delivery("d-1", event="workflow_run", at="2026-11-27T10:00:01.000Z")


def test_deliveries_older_than_the_retention_are_forgotten(store):
    store.record_delivery("d-old", event="workflow_job", at="2026-11-01T10:00:00.000Z")
    store.record_delivery("d-new", event="workflow_job", at="2026-11-26T10:00:00.000Z")
    cutoff = "2026-11-20T10:00:00.000Z"
    assert store.record_delivery(
        "d-now", event="push", at="2026-11-27T10:00:00.000Z", forget_before=cutoff
    )
    # the old id is gone (seen as new again); the recent one is still known
    assert store.record_delivery("d-old", event="workflow_job", at="2026-11-27T10:00:01.000Z")
    assert not store.record_delivery(
        "d-new", event="workflow_job", at="2026-11-27T10:00:02.000Z", forget_before=cutoff
    )


def test_an_operation_finishes_once_even_when_two_writers_race(store):
    store.start_operation(operation("op-1"), lock("op-1"), started("op-1"))
    done = EventRecord(
        "op-1", "D1BRV40", "dev", "operation.completed", "2026-11-27T10:05:00.000Z", "success"
    )
    first = store.transition_operation(
        "op-1",
        from_statuses=("pending", "in_progress"),
        status="success",
        at="2026-11-27T10:05:00.000Z",
        completed_at="2026-11-27T10:05:00.000Z",
        payload_patch={"runId": 7},
        events=[done],
    )
    again = store.transition_operation(
        "op-1",
        from_statuses=("pending", "in_progress"),
        status="failed",
        at="2026-11-27T10:06:00.000Z",
        events=[done],
    )
    assert first is not None and first.status == "success" and first.payload["runId"] == 7
    assert again is None
    stored = store.get_operation("op-1")
    assert (stored.status, stored.completed_at) == ("success", "2026-11-27T10:05:00.000Z")
    types = [e.type for e in store.list_events(operation_id="op-1")]
    assert types == ["operation.started", "operation.completed"]


def test_last_event_at_is_the_latest_event_of_that_operation_only(store):
    assert store.last_event_at("op-1") is None
    store.start_operation(operation("op-1"), lock("op-1"), started("op-1"))
    store.start_operation(
        operation("op-2", "prod"), lock("op-2", environment="prod"), started("op-2", "prod")
    )
    later = EventRecord(
        "op-1", "D1BRV40", "dev", "log", "2026-11-27T10:05:00.000Z", "in_progress", {}
    )
    store.append_event(later)
    store.append_event(
        EventRecord("op-2", "D1BRV40", "prod", "log", "2026-11-27T11:00:00.000Z", None, {})
    )
    assert store.last_event_at("op-1") == "2026-11-27T10:05:00.000Z"
    assert store.last_event_at("op-2") == "2026-11-27T11:00:00.000Z"


def _race_quota(args):
    from controller.store.base import RunningLimit, RunningLimitError

    path, n = args
    store = open_store(path)
    op_id = f"op-{n}"
    environment = f"env{n}"  # each its own lock: only the quota stands between them
    try:
        store.start_operation(
            operation(op_id, environment),
            lock(op_id, owner=op_id, environment=environment),
            started(op_id, environment),
            running_limit=RunningLimit("alice", 2, ("pending", "in_progress")),
        )
        return True
    except RunningLimitError:
        return False
    finally:
        store.close()


def test_a_running_limit_holds_across_processes_starting_at_once(store_target):
    path = store_target
    open_store(path).close()
    with ProcessPoolExecutor(max_workers=4, mp_context=SPAWN) as pool:
        wins = list(pool.map(_race_quota, [(path, n) for n in range(12)]))
    assert wins.count(True) == 2
    store = open_store(path)
    assert len(store.list_operations(deployment_id="D1BRV40")) == 2
    assert len(store.list_events(deployment_id="D1BRV40")) == 2  # the losers wrote nothing
    store.close()
