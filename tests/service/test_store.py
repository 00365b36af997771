"""The store on both backends: migrations, and every record kind written and read back.

One suite: the `store` and `store_target` fixtures (tests/service/conftest.py) run each
test on a fresh SQLite file and on a fresh PostgreSQL database."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.store import (
    ApiKeyRecord,
    AuditEntry,
    EventRecord,
    OperationRecord,
    RefreshTokenRecord,
    SessionRecord,
    StoreConflictError,
    StoreError,
    UserRecord,
    open_store,
)
from controller.store.migrations import LATEST_VERSION, MIGRATIONS

T0, T1, T2 = "2025-10-09T12:00:00.000Z", "2025-10-09T12:00:01.000Z", "2025-10-09T12:00:02.000Z"


def user(user_id: str = "usr-1", username: str = "alice", **changes: object) -> UserRecord:
    values: dict[str, object] = {
        "id": user_id,
        "username": username,
        "email": f"{username}@example.com",
        "name": username.title(),
        "roles": ("Developer",),
        "organizations": ("CompanyA",),
        "tier": "standard",
        "password_hash": "scrypt$…",
        "source": "local",
        "disabled": False,
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(changes)
    return UserRecord(**values)  # type: ignore[arg-type]


def eventually(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
    return value


def test_a_new_file_is_migrated_to_the_latest_version_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "cloud.db"
    opened = open_store(path)
    assert opened.schema_version() == LATEST_VERSION
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {row[0] for row in raw.execute("SELECT name FROM sqlite_master")}
    assert {"users", "sessions", "refresh_tokens", "api_keys", "audit_log"} <= tables
    assert {"operations", "events"} <= tables


def test_reopening_keeps_data_and_applies_nothing_twice(store_target: str) -> None:
    first = open_store(store_target)
    first.create_user(user())
    first.close()
    again = open_store(store_target)
    assert again.migrate() == LATEST_VERSION
    assert again.get_user_by_username("alice") == user()
    again.close()


def test_a_store_newer_than_the_program_is_refused(store_target: str) -> None:
    if store_target.startswith("postgresql://"):
        import psycopg

        open_store(store_target).close()
        with psycopg.connect(store_target, autocommit=True) as raw:
            raw.execute(
                "INSERT INTO schema_migrations (version, description) VALUES (%s, 'future')",
                (LATEST_VERSION + 1,),
            )
    else:
        open_store(store_target).close()
        with sqlite3.connect(store_target) as raw:
            raw.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this program"):
        open_store(store_target)


def test_usernames_are_unique(store: Any) -> None:
    store.create_user(user())
    with pytest.raises(StoreConflictError):
        store.create_user(user("usr-2", "alice"))
    assert [u.username for u in store.list_users()] == ["alice"]


def test_external_users_are_upserted_with_their_latest_roles(store: Any) -> None:
    store.upsert_external_user(user("usr-oidc-1", "oidc:bob", source="oidc"))
    updated = store.upsert_external_user(
        user("usr-oidc-1", "oidc:bob", source="oidc", roles=("Auditor",), updated_at=T1)
    )
    assert updated.roles == ("Auditor",)
    assert updated.created_at == T0


def test_a_refresh_token_can_be_used_only_once(store: Any) -> None:
    store.create_user(user())
    store.create_session(SessionRecord("ses-1", "usr-1", T0, None))
    store.add_refresh_token(RefreshTokenRecord("rt1", "ses-1", "usr-1", "h", T0, T2, None, None))
    assert store.use_refresh_token("rt1", at=T1, replaced_by="rt2") is True
    assert store.use_refresh_token("rt1", at=T2, replaced_by="rt3") is False
    assert store.get_refresh_token("rt1").replaced_by == "rt2"  # type: ignore[union-attr]


def test_sessions_are_revoked_once(store: Any) -> None:
    store.create_user(user())
    store.create_session(SessionRecord("ses-1", "usr-1", T0, None))
    assert store.revoke_session("ses-1", at=T1) is True
    assert store.revoke_session("ses-1", at=T2) is False
    assert store.get_session("ses-1").revoked_at == T1  # type: ignore[union-attr]


def test_api_keys_are_found_by_lookup_with_their_owner(store: Any) -> None:
    store.create_user(user())
    key = ApiKeyRecord(
        "key-1", "usr-1", "abc123", "hash", "CI", "", ("deployments:read",), T0, T2, None, None
    )
    store.create_api_key(key)
    found = store.find_api_key("abc123")
    assert found is not None and found[0] == key and found[1].username == "alice"
    assert store.find_api_key("nope") is None
    store.touch_api_keys({"key-1": T1})
    store.touch_api_keys({"key-1": T0})  # an older time never overwrites a newer one
    assert store.get_api_key("key-1").last_used_at == T1  # type: ignore[union-attr]
    assert store.revoke_api_key("key-1", at=T2)
    assert store.list_api_keys("usr-1")[0].status(T1) == "revoked"


def key_record(key_id: str, lookup: str, parent: str | None = None) -> ApiKeyRecord:
    return ApiKeyRecord(
        key_id, "usr-1", lookup, "hash", key_id, "", (), T0, T2, None, None, parent_key_id=parent
    )


def test_revoking_a_key_revokes_the_keys_made_with_it_and_says_which(store: Any) -> None:
    store.create_user(user())
    for key_id, parent in [("key-a", None), ("key-b", "key-a"), ("key-c", "key-b"),
                           ("key-d", "key-a"), ("key-x", None)]:  # fmt: skip
        store.create_api_key(key_record(key_id, key_id.replace("-", ""), parent))
    assert store.revoke_api_key("key-c", at=T1) == ["key-c"]  # a leaf: itself alone
    assert store.revoke_api_key("key-a", at=T2) == ["key-a", "key-b", "key-d"]  # c was already
    statuses = {key.id: key.status(T1) for key in store.list_api_keys("usr-1")}
    assert statuses == {"key-a": "revoked", "key-b": "revoked", "key-c": "revoked",
                        "key-d": "revoked", "key-x": "active"}  # fmt: skip
    assert store.get_api_key("key-c").revoked_at == T1  # type: ignore[union-attr]
    assert store.revoke_api_key("key-a", at=T2) == []
    assert store.find_api_key("keyb")[0].parent_key_id == "key-a"  # type: ignore[index]


def test_a_store_of_version_3_keeps_its_keys_through_migration_4(tmp_path: Path) -> None:
    path = tmp_path / "cloud.db"
    with sqlite3.connect(path) as raw:
        for migration in MIGRATIONS[:3]:
            raw.executescript(migration.sql)
        raw.execute("PRAGMA user_version = 3")
        raw.execute(
            "INSERT INTO users (id, username, created_at, updated_at) VALUES ('usr-1','a',?,?)",
            (T0, T0),
        )
        raw.execute(
            "INSERT INTO api_keys (id, user_id, lookup, key_hash, name, created_at, expires_at) "
            "VALUES ('key-1', 'usr-1', 'abc', 'h', 'old', ?, ?)",
            (T0, T2),
        )
    migrated = open_store(path)
    assert migrated.schema_version() == LATEST_VERSION
    old = migrated.get_api_key("key-1")
    assert old is not None and old.parent_key_id is None
    assert migrated.revoke_api_key("key-1", at=T1) == ["key-1"]


def test_the_audit_log_is_listed_newest_first_and_filtered(store: Any) -> None:
    for index, actor in enumerate(["alice", "bob", "alice"]):
        store.append_audit(
            AuditEntry(
                T0,
                f"req-{index}",
                actor,
                "user",
                "POST /api/v1/deployments",
                201,
                "1.2.3.4",
                {"deploymentId": "D1BRV40"},
            )
        )
    entries, total = store.list_audit(limit=10, offset=0, actor="alice")
    assert total == 2
    assert [e.request_id for e in entries] == ["req-2", "req-0"]
    assert entries[0].details == {"deploymentId": "D1BRV40"}


def test_operations_and_their_events_for_part_two(store: Any) -> None:
    first = OperationRecord("op-1", "D1BRV40", "dev", "deploy", "success", T0, T1, "alice")
    second = OperationRecord("op-2", "D1BRV40", "dev", "destroy", "pending", T1, T1, "alice")
    store.create_operation(first)
    store.create_operation(second)
    running = store.update_operation(
        "op-2", status="in_progress", updated_at=T2, started_at=T2, payload={"stacks": 16}
    )
    assert running is not None and running.status == "in_progress"
    assert running.payload == {"stacks": 16} and running.started_at == T2
    assert store.latest_operations() == {("D1BRV40", "dev"): running}
    assert [op.id for op in store.list_operations(deployment_id="D1BRV40")] == ["op-2", "op-1"]
    assert [op.id for op in store.list_operations(statuses=["success"])] == ["op-1"]
    event = store.append_event(
        EventRecord(
            "op-2", "D1BRV40", "dev", "stack.started", T2, "running", {"stackName": "network"}
        )
    )
    assert event.id is not None
    assert store.list_events(operation_id="op-2") == [event]
    assert store.list_events(deployment_id="D1BRV40", after_id=event.id) == []


def test_a_change_made_by_another_process_is_seen_at_once(store_target: str) -> None:
    """SQLite: at the next read. PostgreSQL: as soon as the notification arrives."""
    worker, other = open_store(store_target), open_store(store_target)
    worker.create_user(user())
    worker.create_api_key(
        ApiKeyRecord("key-1", "usr-1", "abc123", "h", "CI", "", (), T0, T2, None, None)
    )
    assert worker.find_api_key("abc123")[0].revoked_at is None  # type: ignore[index]
    assert other.revoke_api_key("key-1", at=T1)
    assert eventually(lambda: worker.find_api_key("abc123")[0].revoked_at == T1)  # type: ignore[index]
    worker.close()
    other.close()


def test_both_backends_migrate_to_the_same_tables_and_columns(
    tmp_path: Path, postgres_url: str
) -> None:
    import psycopg

    open_store(postgres_url).close()
    with psycopg.connect(postgres_url) as raw:
        rows = raw.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name <> 'schema_migrations'"
        ).fetchall()
    postgres = {(table, column) for table, column in rows}
    path = tmp_path / "cloud.db"
    open_store(path).close()
    with sqlite3.connect(path) as raw:
        tables = [
            row[0]
            for row in raw.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        sqlite = {
            (table, row[1])
            for table in tables
            for row in raw.execute(f"PRAGMA table_info({table})")
        }
    assert sqlite == postgres


def test_a_lease_has_one_owner_until_it_expires(store: Any) -> None:
    assert store.take_lease("reconciler", "a", at=T0, until=T1)
    assert not store.take_lease("reconciler", "b", at=T0, until=T2)  # a holds it
    assert store.take_lease("reconciler", "a", at=T0, until=T2)  # a renews
    assert store.take_lease("reconciler", "b", at=T2, until="2025-10-09T12:00:09.000Z")
    assert not store.release_lease("reconciler", "a")
    assert store.release_lease("reconciler", "b")
    assert store.take_lease("reconciler", "a", at=T2, until="2025-10-09T12:00:09.000Z")


def test_rate_hits_from_two_replicas_add_up(store_target: str) -> None:
    one, two = open_store(store_target), open_store(store_target)
    window = ("key:key-1", 60, 1_760_000_000)
    other = ("key:key-2", 60, 1_760_000_000)
    assert one.add_rate_hits({window: 3}) == {window: 3}
    assert two.add_rate_hits({window: 4}, watch=[other]) == {window: 7}
    assert one.add_rate_hits({}, watch=[window]) == {window: 7}
    # a window that has ended is forgotten
    assert one.add_rate_hits({other: 1}, forget_before=1_760_000_060) == {other: 1}
    assert two.add_rate_hits({}, watch=[window]) == {}
    one.close()
    two.close()


def test_realtime_connections_are_counted_across_replicas_up_to_the_limit(store: Any) -> None:
    opened = [
        store.open_connection(
            f"c{n}", user_id="usr-1", owner=f"replica-{n % 2}", limit=2, at=T1, stale_before=T0
        )
        for n in range(3)
    ]
    assert opened == [True, True, False]
    store.close_connection("c0")
    assert store.open_connection(
        "c3", user_id="usr-1", owner="replica-0", limit=2, at=T1, stale_before=T0
    )
    # a replica that stopped refreshing (it died): its connections stop counting
    assert store.refresh_connections("replica-0", at=T2) == 1
    assert store.open_connection(
        "c4", user_id="usr-1", owner="replica-0", limit=2, at=T2, stale_before=T2
    )


def test_concurrent_writers_commit_event_ids_in_order(store_target: str) -> None:
    """A reader that tails by id (`after_id`) while writers race misses none: ids become
    visible in order (PostgreSQL: taken under a lock held until the commit)."""
    import threading

    setup = open_store(store_target)
    setup.create_operation(
        OperationRecord("op-1", "D1BRV40", "dev", "deploy", "pending", T0, T0, "a")
    )
    writers = [open_store(store_target) for _ in range(4)]
    stop = threading.Event()

    def write(writer: Any) -> None:
        for number in range(50):
            writer.append_event(
                EventRecord("op-1", "D1BRV40", "dev", "log", T1, None, {"n": number})
            )

    threads = [threading.Thread(target=write, args=(w,)) for w in writers]
    seen: list[int] = []
    last = 0
    for thread in threads:
        thread.start()
    while not stop.is_set():
        alive = any(thread.is_alive() for thread in threads)
        for event in setup.list_events(after_id=last, limit=1000):
            seen.append(event.id)  # type: ignore[arg-type]
            last = event.id  # type: ignore[assignment]
        if not alive:
            stop.set()
    assert len(seen) == 200 and seen == sorted(seen)
    for writer in [setup, *writers]:
        writer.close()


def test_stack_states_are_replaced_per_instance_and_seen_by_another_process(
    store_target: str,
) -> None:
    from controller.store.base import StackStateRecord

    worker, other = open_store(store_target), open_store(store_target)
    heard: list[str] = []  # PostgreSQL: the worker's commits reach `other` as notifications
    notified = other.watch(
        lambda kind, payload: heard.append(payload) if kind == "changes" else None
    )
    first = StackStateRecord("D1BRV40", "dev", "network", "deployed", T0, "op-1",
                             {"resourceCount": 16, "outputs": {"vpcId": "vpc-1"}})  # fmt: skip
    worker.put_stack_state(first)
    worker.put_stack_state(StackStateRecord("D1BRV40", "dev", "dns", "failed", T0, "op-1"))
    worker.put_stack_state(StackStateRecord("D2K7Q1M", "dev", "network", "deployed", T0, "op-2"))
    assert worker.list_stack_states(deployment_id="D1BRV40") == (
        StackStateRecord("D1BRV40", "dev", "dns", "failed", T0, "op-1"),
        first,
    )
    if notified:  # a notification still on its way would rightly empty the cache
        eventually(lambda: heard.count("stacks") >= 3)
    seen = other.list_stack_states()
    assert len(seen) == 3 and other.list_stack_states() is seen  # cached until a change
    worker.put_stack_state(StackStateRecord("D1BRV40", "dev", "network", "destroyed", T1, "op-3"))
    assert eventually(
        lambda: (
            [s.status for s in other.list_stack_states(deployment_id="D1BRV40")]
            == ["failed", "destroyed"]
        )
    )
    worker.close()
    other.close()
