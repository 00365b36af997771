"""The SQLite store: migrations, WAL, and every record kind written and read back."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from controller.store import (
    ApiKeyRecord,
    AuditEntry,
    EventRecord,
    OperationRecord,
    RefreshTokenRecord,
    SessionRecord,
    SQLiteStore,
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


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    return open_store(tmp_path / "data" / "cloud.db")


def test_a_new_file_is_migrated_to_the_latest_version_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "cloud.db"
    opened = open_store(path)
    assert opened.schema_version() == LATEST_VERSION
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {row[0] for row in raw.execute("SELECT name FROM sqlite_master")}
    assert {"users", "sessions", "refresh_tokens", "api_keys", "audit_log"} <= tables
    assert {"operations", "events"} <= tables


def test_reopening_keeps_data_and_applies_nothing_twice(tmp_path: Path) -> None:
    path = tmp_path / "cloud.db"
    open_store(path).create_user(user())
    again = open_store(path)
    assert again.migrate() == LATEST_VERSION
    assert again.get_user_by_username("alice") == user()


def test_a_store_newer_than_the_program_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cloud.db"
    open_store(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this program"):
        open_store(path)


def test_usernames_are_unique(store: SQLiteStore) -> None:
    store.create_user(user())
    with pytest.raises(StoreConflictError):
        store.create_user(user("usr-2", "alice"))
    assert [u.username for u in store.list_users()] == ["alice"]


def test_external_users_are_upserted_with_their_latest_roles(store: SQLiteStore) -> None:
    store.upsert_external_user(user("usr-oidc-1", "oidc:bob", source="oidc"))
    updated = store.upsert_external_user(
        user("usr-oidc-1", "oidc:bob", source="oidc", roles=("Auditor",), updated_at=T1)
    )
    assert updated.roles == ("Auditor",)
    assert updated.created_at == T0


def test_a_refresh_token_can_be_used_only_once(store: SQLiteStore) -> None:
    store.create_user(user())
    store.create_session(SessionRecord("ses-1", "usr-1", T0, None))
    store.add_refresh_token(RefreshTokenRecord("rt1", "ses-1", "usr-1", "h", T0, T2, None, None))
    assert store.use_refresh_token("rt1", at=T1, replaced_by="rt2") is True
    assert store.use_refresh_token("rt1", at=T2, replaced_by="rt3") is False
    assert store.get_refresh_token("rt1").replaced_by == "rt2"  # type: ignore[union-attr]


def test_sessions_are_revoked_once(store: SQLiteStore) -> None:
    store.create_user(user())
    store.create_session(SessionRecord("ses-1", "usr-1", T0, None))
    assert store.revoke_session("ses-1", at=T1) is True
    assert store.revoke_session("ses-1", at=T2) is False
    assert store.get_session("ses-1").revoked_at == T1  # type: ignore[union-attr]


def test_api_keys_are_found_by_lookup_with_their_owner(store: SQLiteStore) -> None:
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


def test_revoking_a_key_revokes_the_keys_made_with_it_and_says_which(store: SQLiteStore) -> None:
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


def test_the_audit_log_is_listed_newest_first_and_filtered(store: SQLiteStore) -> None:
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


def test_operations_and_their_events_for_part_two(store: SQLiteStore) -> None:
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


def test_a_change_made_by_another_process_is_seen_at_once(tmp_path: Path) -> None:
    path = tmp_path / "cloud.db"
    worker, other = open_store(path), open_store(path)
    worker.create_user(user())
    worker.create_api_key(
        ApiKeyRecord("key-1", "usr-1", "abc123", "h", "CI", "", (), T0, T2, None, None)
    )
    assert worker.find_api_key("abc123")[0].revoked_at is None  # type: ignore[index]
    assert other.revoke_api_key("key-1", at=T1)
    assert worker.find_api_key("abc123")[0].revoked_at == T1  # type: ignore[index]
