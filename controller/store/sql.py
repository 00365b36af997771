"""The store's statements, shared by its SQLite and PostgreSQL implementations.

Both databases speak the same SQL for everything the store does (upserts with
`ON CONFLICT`, `RETURNING`), so the statements are written once, with `?` placeholders,
against a few primitives each backend provides: `_one`, `_all`, `_run` for single
statements, `_transaction` for several in one transaction, `_cached` for the reads every
request makes. What differs is named here as class attributes and hooks: a JSON field
of a payload, case-insensitive `LIKE`, row locks (`FOR UPDATE`), and the locks that
serialize operation starts and keep event ids in commit order on PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from controller.store.base import (
    ApiKeyRecord,
    AuditEntry,
    EventRecord,
    LockRecord,
    OperationRecord,
    RateWindow,
    RefreshTokenRecord,
    RunningLimit,
    RunningLimitError,
    SessionRecord,
    StackStateRecord,
    StoreError,
    UserRecord,
)
from controller.store.rows import (
    EVENT_COLUMNS,
    INSERT_OPERATION,
    KEY_COLUMN_COUNT,
    KEY_COLUMNS,
    LOCK_COLUMNS,
    OPERATION_COLUMNS,
    STACK_STATE_COLUMNS,
    USER_COLUMNS,
    api_key_of,
    operation_of,
    operation_values,
    stack_state_of,
    stack_state_values,
    user_of,
    user_values,
    where_clause,
)


class SQLStore:
    """The store protocol's methods, in SQL; a backend supplies the primitives."""

    LIKE = "LIKE"  # case-insensitive on ASCII, as SQLite's LIKE is
    FOR_UPDATE = ""  # lock the rows a compare-and-set reads (SQLite: the whole file is)
    STACK_FIELD = "json_extract(payload, '$.stackName')"

    # --- primitives (the backend's) -----------------------------------------------------

    def _transaction(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        raise NotImplementedError

    def _run(self, sql: str, params: Sequence[Any] = ()) -> int:
        raise NotImplementedError

    def _cached(self, key: Any, compute: Callable[[], Any]) -> Any:
        return compute()

    def _serialize(self, db: Any, name: str) -> None:
        """Hold, until the commit, a lock named `name` that other transactions wait for
        (SQLite's write transactions already wait for each other: nothing to do)."""

    def _before_events(self, db: Any) -> None:
        """Called before events are inserted in a transaction."""

    # --- users --------------------------------------------------------------------------

    def create_user(self, user: UserRecord) -> UserRecord:
        self._run(
            f"INSERT INTO users ({USER_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            user_values(user),
        )
        return user

    def get_user(self, user_id: str) -> UserRecord | None:
        def read() -> UserRecord | None:
            row = self._one(f"SELECT {USER_COLUMNS} FROM users WHERE id = ?", (user_id,))
            return user_of(row) if row else None

        return self._cached(("user", user_id), read)  # type: ignore[no-any-return]

    def get_user_by_username(self, username: str) -> UserRecord | None:
        row = self._one(f"SELECT {USER_COLUMNS} FROM users WHERE username = ?", (username,))
        return user_of(row) if row else None

    def list_users(self) -> list[UserRecord]:
        return [user_of(row) for row in self._all(f"SELECT {USER_COLUMNS} FROM users ORDER BY 2")]

    def upsert_external_user(self, user: UserRecord) -> UserRecord:
        """Insert, or refresh the roles and profile of, a user an external issuer vouches for."""
        self._run(
            f"INSERT INTO users ({USER_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT(id) DO UPDATE SET email=excluded.email, name=excluded.name, "
            "roles=excluded.roles, organizations=excluded.organizations, "
            "updated_at=excluded.updated_at",
            user_values(user),
        )
        stored = self.get_user(user.id)
        if stored is None:  # pragma: no cover - just written
            raise StoreError(f"user {user.id} vanished")
        return stored

    # --- sessions and refresh tokens ----------------------------------------------------

    def create_session(self, session: SessionRecord) -> SessionRecord:
        self._run(
            "INSERT INTO sessions (id, user_id, created_at, revoked_at) VALUES (?,?,?,?)",
            (session.id, session.user_id, session.created_at, session.revoked_at),
        )
        return session

    def get_session(self, session_id: str) -> SessionRecord | None:
        def read() -> SessionRecord | None:
            row = self._one(
                "SELECT id, user_id, created_at, revoked_at FROM sessions WHERE id = ?",
                (session_id,),
            )
            return SessionRecord(*row) if row else None

        return self._cached(("session", session_id), read)  # type: ignore[no-any-return]

    def revoke_session(self, session_id: str, *, at: str) -> bool:
        return (
            self._run(
                "UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (at, session_id),
            )
            == 1
        )

    def add_refresh_token(self, token: RefreshTokenRecord) -> None:
        self._run(
            "INSERT INTO refresh_tokens (id, session_id, user_id, token_hash, issued_at, "
            "expires_at, used_at, replaced_by) VALUES (?,?,?,?,?,?,?,?)",
            (
                token.id,
                token.session_id,
                token.user_id,
                token.token_hash,
                token.issued_at,
                token.expires_at,
                token.used_at,
                token.replaced_by,
            ),
        )

    def get_refresh_token(self, token_id: str) -> RefreshTokenRecord | None:
        row = self._one(
            "SELECT id, session_id, user_id, token_hash, issued_at, expires_at, used_at, "
            "replaced_by FROM refresh_tokens WHERE id = ?",
            (token_id,),
        )
        return RefreshTokenRecord(*row) if row else None

    def use_refresh_token(self, token_id: str, *, at: str, replaced_by: str) -> bool:
        return (
            self._run(
                "UPDATE refresh_tokens SET used_at = ?, replaced_by = ? "
                "WHERE id = ? AND used_at IS NULL",
                (at, replaced_by, token_id),
            )
            == 1
        )

    # --- API keys -----------------------------------------------------------------------

    def create_api_key(self, key: ApiKeyRecord) -> ApiKeyRecord:
        self._run(
            f"INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                key.id,
                key.user_id,
                key.lookup,
                key.key_hash,
                key.name,
                key.description,
                json.dumps(list(key.permissions)),
                key.created_at,
                key.expires_at,
                key.last_used_at,
                key.revoked_at,
                key.parent_key_id,
            ),
        )
        return key

    def find_api_key(self, lookup: str) -> tuple[ApiKeyRecord, UserRecord] | None:
        found = self._cached(("key", lookup), lambda: self._find_api_key(lookup))
        return found  # type: ignore[no-any-return]

    def _find_api_key(self, lookup: str) -> tuple[ApiKeyRecord, UserRecord] | None:
        columns = ", ".join(f"k.{c.strip()}" for c in KEY_COLUMNS.split(","))
        user_columns = ", ".join(f"u.{c.strip()}" for c in USER_COLUMNS.split(","))
        row = self._one(
            f"SELECT {columns}, {user_columns} FROM api_keys k JOIN users u ON u.id = k.user_id "
            "WHERE k.lookup = ?",
            (lookup,),
        )
        if row is None:
            return None
        return api_key_of(row[:KEY_COLUMN_COUNT]), user_of(row[KEY_COLUMN_COUNT:])

    def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        row = self._one(f"SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?", (key_id,))
        return api_key_of(row) if row else None

    def list_api_keys(self, user_id: str) -> list[ApiKeyRecord]:
        rows = self._all(
            f"SELECT {KEY_COLUMNS} FROM api_keys WHERE user_id = ? ORDER BY created_at, id",
            (user_id,),
        )
        return [api_key_of(row) for row in rows]

    def revoke_api_key(self, key_id: str, *, at: str) -> list[str]:
        with self._transaction() as db:
            revoked = [
                row[0]
                for row in db.execute(
                    "WITH RECURSIVE minted(id) AS (SELECT id FROM api_keys WHERE id = ? "
                    "UNION SELECT k.id FROM api_keys k JOIN minted m ON k.parent_key_id = m.id) "
                    "SELECT a.id FROM api_keys a JOIN minted USING (id) "
                    "WHERE a.revoked_at IS NULL ORDER BY a.created_at, a.id",
                    (key_id,),
                ).fetchall()
            ]
            if revoked:
                db.executemany(
                    "UPDATE api_keys SET revoked_at = ? WHERE id = ?", [(at, i) for i in revoked]
                )
        return revoked

    def touch_api_keys(self, last_used: dict[str, str]) -> None:
        if not last_used:
            return
        with self._transaction() as db:
            db.executemany(
                "UPDATE api_keys SET last_used_at = ? WHERE id = ? "
                "AND (last_used_at IS NULL OR last_used_at < ?)",
                [(at, key_id, at) for key_id, at in last_used.items()],
            )

    # --- audit log ----------------------------------------------------------------------

    def append_audit(self, entry: AuditEntry) -> None:
        self._run(
            "INSERT INTO audit_log (at, request_id, actor, actor_type, action, status, client, "
            "details) VALUES (?,?,?,?,?,?,?,?)",
            (
                entry.at,
                entry.request_id,
                entry.actor,
                entry.actor_type,
                entry.action,
                entry.status,
                entry.client,
                json.dumps(entry.details, default=str),
            ),
        )

    def list_audit(
        self, *, limit: int, offset: int, actor: str | None = None, action: str | None = None
    ) -> tuple[list[AuditEntry], int]:
        where, params = where_clause(
            {"actor = ?": actor, f"action {self.LIKE} ?": action and f"%{action}%"}
        )
        total = self._one(f"SELECT COUNT(*) FROM audit_log{where}", params)
        rows = self._all(
            "SELECT at, request_id, actor, actor_type, action, status, client, details, id "
            f"FROM audit_log{where} ORDER BY id DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        entries = [AuditEntry(*row[:7], details=json.loads(row[7]), id=row[8]) for row in rows]
        return entries, int(total[0]) if total else 0

    # --- operations and events ----------------------------------------------------------

    def create_operation(self, operation: OperationRecord) -> OperationRecord:
        self._run(INSERT_OPERATION, operation_values(operation))
        return operation

    def get_operation(self, operation_id: str) -> OperationRecord | None:
        row = self._one(f"SELECT {OPERATION_COLUMNS} FROM operations WHERE id = ?", (operation_id,))
        return operation_of(row) if row else None

    def update_operation(
        self,
        operation_id: str,
        *,
        status: str,
        updated_at: str,
        started_at: str | None = None,
        completed_at: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> OperationRecord | None:
        self._run(
            "UPDATE operations SET status = ?, updated_at = ?, "
            "started_at = COALESCE(?, started_at), completed_at = COALESCE(?, completed_at), "
            "payload = COALESCE(?, payload) WHERE id = ?",
            (
                status,
                updated_at,
                started_at,
                completed_at,
                None if payload is None else json.dumps(payload, default=str),
                operation_id,
            ),
        )
        return self.get_operation(operation_id)

    def list_operations(
        self,
        *,
        deployment_id: str | None = None,
        environment: str | None = None,
        statuses: Sequence[str] | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[OperationRecord]:
        where, params = where_clause(
            {"deployment_id = ?": deployment_id, "environment = ?": environment}
        )
        if statuses:
            marks = ",".join("?" * len(statuses))
            where += (" AND " if where else " WHERE ") + f"status IN ({marks})"
            params = [*params, *statuses]
        rows = self._all(
            f"SELECT {OPERATION_COLUMNS} FROM operations{where} "
            "ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [operation_of(row) for row in rows]

    def latest_operations(self) -> Mapping[tuple[str, str], OperationRecord]:
        # the same (read-only) mapping while nothing changed: callers may key caches on it
        return self._cached("latest-operations", self._latest_operations)  # type: ignore[no-any-return]

    def _latest_operations(self) -> Mapping[tuple[str, str], OperationRecord]:
        rows = self._all(
            f"SELECT {OPERATION_COLUMNS} FROM operations o WHERE type IN ('deploy', 'destroy') "
            "AND created_at = (SELECT MAX(created_at) FROM operations i WHERE "
            "i.deployment_id = o.deployment_id AND i.environment = o.environment AND "
            "i.type IN ('deploy', 'destroy')) ORDER BY id"
        )
        latest: dict[tuple[str, str], OperationRecord] = {}
        for row in rows:
            operation = operation_of(row)
            latest[(operation.deployment_id, operation.environment)] = operation
        return MappingProxyType(latest)

    def put_stack_state(self, state: StackStateRecord) -> None:
        self._run(
            f"INSERT INTO stack_states ({STACK_STATE_COLUMNS}) VALUES (?,?,?,?,?,?,?) "
            "ON CONFLICT (deployment_id, environment, stack) DO UPDATE SET "
            "status = excluded.status, at = excluded.at, operation_id = excluded.operation_id, "
            "details = excluded.details",
            stack_state_values(state),
        )

    def list_stack_states(self, *, deployment_id: str | None = None) -> list[StackStateRecord]:
        def read() -> list[StackStateRecord]:
            where, params = where_clause({"deployment_id = ?": deployment_id})
            rows = self._all(
                f"SELECT {STACK_STATE_COLUMNS} FROM stack_states{where} "
                "ORDER BY deployment_id, environment, stack",
                params,
            )
            return [stack_state_of(row) for row in rows]

        # the same (immutable) tuple until a state changes: callers may key caches on it
        return self._cached(("stack-states", deployment_id), lambda: tuple(read()))  # type: ignore[no-any-return]

    def append_event(self, event: EventRecord) -> EventRecord:
        with self._transaction() as db:
            new_id = self._insert_event(db, event)
        return EventRecord(
            event.operation_id,
            event.deployment_id,
            event.environment,
            event.type,
            event.at,
            event.status,
            event.payload,
            new_id,
        )

    def list_events(
        self,
        *,
        operation_id: str | None = None,
        deployment_id: str | None = None,
        environment: str | None = None,
        stack: str | None = None,
        since: str | None = None,
        exclude_types: Sequence[str] = (),
        after_id: int = 0,
        limit: int = 1000,
        newest_first: bool = False,
    ) -> list[EventRecord]:
        where, params = self._event_filter(
            operation_id, deployment_id, environment, stack, since, exclude_types, after_id
        )
        order = "DESC" if newest_first else "ASC"
        rows = self._all(
            f"SELECT {EVENT_COLUMNS} FROM events{where} ORDER BY id {order} LIMIT ?",
            [*params, limit],
        )
        return [
            EventRecord(*row[:6], payload=json.loads(row[6]), id=row[7])  # type: ignore[misc]
            for row in rows
        ]

    def count_events(
        self,
        *,
        operation_id: str | None = None,
        deployment_id: str | None = None,
        environment: str | None = None,
        stack: str | None = None,
        since: str | None = None,
        exclude_types: Sequence[str] = (),
    ) -> int:
        where, params = self._event_filter(
            operation_id, deployment_id, environment, stack, since, exclude_types, 0
        )
        row = self._one(f"SELECT COUNT(*) FROM events{where}", params)
        return int(row[0]) if row else 0

    def last_event_at(self, operation_id: str) -> str | None:
        row = self._one(
            "SELECT at FROM events WHERE operation_id = ? ORDER BY id DESC LIMIT 1",
            [operation_id],
        )
        return row[0] if row else None

    # --- operation locks and webhook deliveries -------------------------------------------

    def start_operation(
        self,
        operation: OperationRecord,
        lock: LockRecord,
        events: Sequence[EventRecord],
        *,
        running_limit: RunningLimit | None = None,
    ) -> LockRecord:
        with self._transaction() as db:
            if running_limit is not None:
                # counted under a lock held to the commit: no two starts both pass
                self._serialize(db, running_limit.created_by)
                marks = ", ".join("?" * len(running_limit.statuses))
                running = [
                    row[0]
                    for row in db.execute(
                        f"SELECT id FROM operations WHERE created_by = ? AND status IN ({marks}) "
                        "ORDER BY created_at",
                        (running_limit.created_by, *running_limit.statuses),
                    )
                ]
                if len(running) >= running_limit.limit:
                    raise RunningLimitError(running_limit, running)
            # One compare-and-set: insert, or replace a lock whose lease has run out. A lock
            # whose lease still runs is left alone and reported.
            changed = db.execute(
                "INSERT INTO operation_locks (deployment_id, environment, operation_id, owner, "
                "acquired_at, lease_expires_at) VALUES (?,?,?,?,?,?) "
                "ON CONFLICT (deployment_id, environment) DO UPDATE SET "
                "operation_id = excluded.operation_id, owner = excluded.owner, "
                "acquired_at = excluded.acquired_at, "
                "lease_expires_at = excluded.lease_expires_at "
                "WHERE operation_locks.lease_expires_at <= excluded.acquired_at",
                (
                    lock.deployment_id,
                    lock.environment,
                    lock.operation_id,
                    lock.owner,
                    lock.acquired_at,
                    lock.lease_expires_at,
                ),
            ).rowcount
            if changed != 1:
                row = db.execute(
                    f"SELECT {LOCK_COLUMNS} FROM operation_locks WHERE deployment_id = ? "
                    "AND environment = ?",
                    (lock.deployment_id, lock.environment),
                ).fetchone()
                return LockRecord(*row)
            db.execute(INSERT_OPERATION, operation_values(operation))
            for event in events:
                self._insert_event(db, event)
        return lock

    def transition_operation(
        self,
        operation_id: str,
        *,
        from_statuses: Sequence[str],
        status: str,
        at: str,
        started_at: str | None = None,
        completed_at: str | None = None,
        payload_patch: dict[str, Any] | None = None,
        events: Sequence[EventRecord] = (),
    ) -> OperationRecord | None:
        marks = ",".join("?" * len(from_statuses))
        with self._transaction() as db:
            row = db.execute(
                f"SELECT {OPERATION_COLUMNS} FROM operations WHERE id = ? "
                f"AND status IN ({marks}){self.FOR_UPDATE}",
                (operation_id, *from_statuses),
            ).fetchone()
            if row is None:
                return None
            current = operation_of(row)
            payload = {**current.payload, **(payload_patch or {})}
            db.execute(
                "UPDATE operations SET status = ?, updated_at = ?, "
                "started_at = COALESCE(?, started_at), completed_at = COALESCE(?, completed_at), "
                "payload = ? WHERE id = ?",
                (
                    status,
                    at,
                    started_at,
                    completed_at,
                    json.dumps(payload, default=str),
                    operation_id,
                ),
            )
            for event in events:
                self._insert_event(db, event)
        return replace(
            current,
            status=status,
            updated_at=at,
            started_at=started_at or current.started_at,
            completed_at=completed_at or current.completed_at,
            payload=payload,
        )

    def _insert_event(self, db: Any, event: EventRecord) -> int:
        self._before_events(db)
        row = db.execute(
            "INSERT INTO events (operation_id, deployment_id, environment, type, at, status, "
            "payload) VALUES (?,?,?,?,?,?,?) RETURNING id",
            (
                event.operation_id,
                event.deployment_id,
                event.environment,
                event.type,
                event.at,
                event.status,
                json.dumps(event.payload, default=str),
            ),
        ).fetchone()
        return int(row[0])

    def get_lock(self, deployment_id: str, environment: str) -> LockRecord | None:
        row = self._one(
            f"SELECT {LOCK_COLUMNS} FROM operation_locks WHERE deployment_id = ? "
            "AND environment = ?",
            (deployment_id, environment),
        )
        return LockRecord(*row) if row else None

    def list_locks(self) -> list[LockRecord]:
        rows = self._all(f"SELECT {LOCK_COLUMNS} FROM operation_locks ORDER BY acquired_at")
        return [LockRecord(*row) for row in rows]

    def renew_lock(self, lock: LockRecord, *, lease_expires_at: str) -> bool:
        return (
            self._run(
                "UPDATE operation_locks SET lease_expires_at = ? WHERE deployment_id = ? "
                "AND environment = ? AND operation_id = ? AND owner = ?",
                (
                    lease_expires_at,
                    lock.deployment_id,
                    lock.environment,
                    lock.operation_id,
                    lock.owner,
                ),
            )
            == 1
        )

    def release_lock(self, lock: LockRecord) -> bool:
        return (
            self._run(
                "DELETE FROM operation_locks WHERE deployment_id = ? AND environment = ? "
                "AND operation_id = ? AND owner = ?",
                (lock.deployment_id, lock.environment, lock.operation_id, lock.owner),
            )
            == 1
        )

    def record_delivery(
        self, delivery_id: str, *, event: str, at: str, forget_before: str | None = None
    ) -> bool:
        with self._transaction() as db:
            if forget_before is not None:
                db.execute("DELETE FROM webhook_deliveries WHERE received_at < ?", (forget_before,))
            inserted = db.execute(
                "INSERT INTO webhook_deliveries (delivery_id, event, received_at) "
                "VALUES (?,?,?) ON CONFLICT DO NOTHING",
                (delivery_id, event, at),
            ).rowcount
        return inserted == 1

    def _event_filter(
        self,
        operation_id: str | None,
        deployment_id: str | None,
        environment: str | None,
        stack: str | None,
        since: str | None,
        exclude_types: Sequence[str],
        after_id: int,
    ) -> tuple[str, list[Any]]:
        """The WHERE of an events query: filtering in the database spares decoding rows nobody asked
        for (a deployment's history grows with every operation)."""
        where, params = where_clause(
            {
                "operation_id = ?": operation_id,
                "deployment_id = ?": deployment_id,
                "environment = ?": environment,
                f"{self.STACK_FIELD} = ?": stack,
                "at >= ?": since,
                "id > ?": after_id or None,
            }
        )
        if exclude_types:
            marks = ", ".join("?" * len(exclude_types))
            where += f"{' AND' if where else ' WHERE'} type NOT IN ({marks})"
            params += list(exclude_types)
        return where, params

    # --- leases, shared rate-limit counters, realtime connections -------------------------

    def take_lease(self, name: str, owner: str, *, at: str, until: str) -> bool:
        changed = self._run(
            "INSERT INTO leases (name, owner, expires_at) VALUES (?,?,?) "
            "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, "
            "expires_at = excluded.expires_at "
            "WHERE leases.owner = excluded.owner OR leases.expires_at <= ?",
            (name, owner, until, at),
        )
        return changed == 1

    def release_lease(self, name: str, owner: str) -> bool:
        return self._run("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner)) == 1

    def add_rate_hits(
        self,
        hits: Mapping[RateWindow, int],
        *,
        watch: Sequence[RateWindow] = (),
        forget_before: int | None = None,
    ) -> dict[RateWindow, int]:
        with self._transaction() as db:
            if forget_before is not None:
                db.execute(
                    "DELETE FROM rate_counters WHERE window_start + window_seconds <= ?",
                    (forget_before,),
                )
            for (key, seconds, start), count in sorted(hits.items()):
                db.execute(
                    "INSERT INTO rate_counters (key, window_seconds, window_start, hits) "
                    "VALUES (?,?,?,?) ON CONFLICT (key, window_seconds, window_start) "
                    "DO UPDATE SET hits = rate_counters.hits + excluded.hits",
                    (key, seconds, start, count),
                )
            wanted = sorted(set(hits) | set(watch))
            totals: dict[RateWindow, int] = {}
            for chunk in range(0, len(wanted), 200):
                part = wanted[chunk : chunk + 200]
                marks = " OR ".join(
                    "(key = ? AND window_seconds = ? AND window_start = ?)" for _ in part
                )
                for key, seconds, start, count in db.execute(
                    "SELECT key, window_seconds, window_start, hits FROM rate_counters "
                    f"WHERE {marks}",
                    [value for window in part for value in window],
                ).fetchall():
                    totals[(key, int(seconds), int(start))] = int(count)
        return totals

    def open_connection(
        self,
        connection_id: str,
        *,
        user_id: str,
        owner: str,
        limit: int,
        at: str,
        stale_before: str,
    ) -> bool:
        with self._transaction() as db:
            self._serialize(db, f"realtime:{user_id}")
            row = db.execute(
                "SELECT COUNT(*) FROM realtime_connections WHERE user_id = ? AND seen_at >= ?",
                (user_id, stale_before),
            ).fetchone()
            if int(row[0]) >= limit:
                return False
            db.execute(
                "DELETE FROM realtime_connections WHERE user_id = ? AND seen_at < ?",
                (user_id, stale_before),
            )
            db.execute(
                "INSERT INTO realtime_connections (id, user_id, owner, opened_at, seen_at) "
                "VALUES (?,?,?,?,?)",
                (connection_id, user_id, owner, at, at),
            )
        return True

    def close_connection(self, connection_id: str) -> None:
        self._run("DELETE FROM realtime_connections WHERE id = ?", (connection_id,))

    def refresh_connections(self, owner: str, *, at: str) -> int:
        return self._run("UPDATE realtime_connections SET seen_at = ? WHERE owner = ?", (at, owner))
