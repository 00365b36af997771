"""The store on PostgreSQL, for several replicas of the service on one database.

Selected by `CLOUD_DATABASE_URL=postgresql://…`. The statements are `SQLStore`'s; this
module is psycopg 3 with a connection pool (single statements run in autocommit, several
in one transaction), the versioned migrations (applied under an advisory lock, recorded
in `schema_migrations`), and the notifications that make replicas one service:

- the operation lock is a compare-and-set (`INSERT … ON CONFLICT DO UPDATE … WHERE the
  lease ran out`): of concurrent starts on one deployment environment, one wins;
  quota counts and status transitions hold row or advisory locks until their commit;
- event ids are taken under a transaction-scoped advisory lock, so they commit in id
  order: a reader that has seen id N and asks for `id > N` misses nothing;
- a listener connection (`LISTEN cloud_events, cloud_changes`) hears every commit of
  every replica: event ids go to the hub, `auth` and `operations` changes empty the read
  cache. While the listener is disconnected the cache is bypassed, and on reconnecting
  listeners are told to catch up by id.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import ConnectionPool, PoolTimeout

from controller.store.base import Changes, StoreConflictError, StoreError
from controller.store.migrations import MIGRATIONS, check_version
from controller.store.sql import SQLStore

log = logging.getLogger(__name__)

CHANNELS = ("cloud_events", "cloud_changes")
MIGRATION_LOCK = 7_270_001  # advisory lock keys: arbitrary, constant, ours
EVENTS_LOCK = 7_270_002
NAMED_LOCKS = 7_270_003  # namespace of _serialize(name)
RECONNECT_SECONDS = 1.0
LISTEN_SECONDS = 30.0  # the listener's longest wait: each wake-up costs the loop the GIL
# a listener whose server vanished without a word (a partition) must notice: TCP
# keepalives find it within about 25 s, and the listener stops caching meanwhile
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
              "keepalives_count": 3}  # fmt: skip


@contextmanager
def translated() -> Iterator[None]:
    """psycopg's errors as the store's: a duplicate is a conflict, the rest unavailability."""
    try:
        yield
    except pg_errors.UniqueViolation as error:
        raise StoreConflictError(str(error).strip()) from None
    except PoolTimeout as error:
        raise StoreError(f"store unavailable: {error}") from None
    except psycopg.Error as error:
        raise StoreError(f"store error: {str(error).strip()}") from None


class _Transaction:
    """One connection in a transaction, speaking the shared statements' `?` placeholders."""

    def __init__(self, store: PostgresStore, connection: psycopg.Connection[Any]) -> None:
        self.store = store
        self.connection = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        return self.connection.execute(self.store.statement(sql), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.connection.cursor() as cursor:
            cursor.executemany(self.store.statement(sql), rows)


class PostgresStore(SQLStore):
    LIKE = "ILIKE"
    FOR_UPDATE = " FOR UPDATE"
    STACK_FIELD = "(payload::jsonb ->> 'stackName')"

    def __init__(self, url: str, *, pool_size: int = 10, timeout: float = 10.0) -> None:
        self.url = url
        self._statements: dict[str, str] = {}
        self._cache: dict[Any, Any] = {}
        self._generation = 0
        self._cache_lock = threading.Lock()
        self._listening = False  # caching is safe only while we hear every change
        self._listeners: list[Changes] = []
        self._listener: threading.Thread | None = None
        self._closing = threading.Event()
        self._wake_channel = f"cloud_wake_{secrets.token_hex(8)}"  # ours alone: close()
        try:
            self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
                url,
                min_size=1,
                max_size=max(pool_size, 1),
                kwargs={"autocommit": True},
                timeout=timeout,
                open=False,
                name="cloud-store",
            )
            self._pool.open(wait=True, timeout=timeout)
        except (psycopg.Error, PoolTimeout) as error:
            raise StoreError(f"cannot open the store at {_safe(url)}: {error}") from None
        self.migrate()
        self._start_listener()

    # --- plumbing -----------------------------------------------------------------------

    def statement(self, sql: str) -> str:
        """A shared statement with psycopg's placeholders (`?` becomes `%s`)."""
        converted = self._statements.get(sql)
        if converted is None:
            converted = sql.replace("%", "%%").replace("?", "%s")
            self._statements[sql] = converted
        return converted

    @contextmanager
    def _transaction(self) -> Iterator[_Transaction]:
        with translated(), self._pool.connection() as connection:
            try:
                with connection.transaction():
                    yield _Transaction(self, connection)
            finally:
                self._forget()

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with translated(), self._pool.connection() as connection:
            return connection.execute(self.statement(sql), params).fetchall()

    def _one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        with translated(), self._pool.connection() as connection:
            return connection.execute(self.statement(sql), params).fetchone()

    def _run(self, sql: str, params: Sequence[Any] = ()) -> int:
        with translated(), self._pool.connection() as connection:
            try:
                return connection.execute(self.statement(sql), params).rowcount
            finally:
                self._forget()

    def _serialize(self, db: Any, name: str) -> None:
        db.execute("SELECT pg_advisory_xact_lock(?, hashtext(?))", (NAMED_LOCKS, name))

    def _before_events(self, db: Any) -> None:
        db.execute("SELECT pg_advisory_xact_lock(?)", (EVENTS_LOCK,))

    # --- the read cache: emptied by our writes and by every replica's notifications ------

    def _forget(self) -> None:
        with self._cache_lock:
            self._generation += 1
            self._cache.clear()

    def read_version(self) -> Hashable | None:
        """Changes with our writes and every replica's notified change; None while the
        notification connection is down (nothing can be known unchanged then)."""
        return self._generation if self._listening else None

    def _cached(self, key: Any, compute: Any) -> Any:
        if not self._listening:
            return compute()
        with self._cache_lock:
            if key in self._cache:
                return self._cache[key]
            generation = self._generation
        value = compute()
        with self._cache_lock:
            if generation == self._generation and self._listening:
                if len(self._cache) >= 10_000:
                    self._cache.clear()
                self._cache[key] = value
        return value

    # --- notifications ------------------------------------------------------------------

    def watch(self, listener: Changes) -> bool:
        self._listeners.append(listener)
        return True

    def listening(self) -> bool:
        return self._listening

    def _start_listener(self) -> None:
        self._listener = threading.Thread(target=self._listen, name="store-listener", daemon=True)
        self._listener.start()
        deadline = time.monotonic() + 5.0
        while not self._listening and time.monotonic() < deadline:
            time.sleep(0.01)

    def _listen(self) -> None:
        failing = False
        while not self._closing.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, **KEEPALIVES) as connection:
                    for channel in (*CHANNELS, self._wake_channel):
                        connection.execute(f"LISTEN {channel}")
                    self._forget()
                    self._listening = True
                    if failing:
                        log.info("store: listening for changes again")
                        failing = False
                    self._tell("reconnected", "")
                    while not self._closing.is_set():
                        # a long wait: close() wakes it with a notification of its own
                        for note in connection.notifies(timeout=LISTEN_SECONDS):
                            if note.channel == self._wake_channel:
                                break
                            self._heard(note.channel, note.payload)
                        else:  # a quiet while: is the server still there?
                            connection.execute("SELECT 1")
            except psycopg.Error as error:
                if not failing:
                    log.warning("store: lost the notification connection: %s", error)
                failing = True
            finally:
                self._listening = False
                self._forget()
            self._closing.wait(RECONNECT_SECONDS)

    def _heard(self, channel: str, payload: str) -> None:
        if channel == "cloud_changes":
            self._forget()
            self._tell("changes", payload)
        else:
            self._tell("events", payload)

    def _tell(self, kind: str, payload: str) -> None:
        for listener in list(self._listeners):
            try:
                listener(kind, payload)
            except Exception:
                log.exception("store: a change listener failed")

    # --- schema -------------------------------------------------------------------------

    def schema_version(self) -> int:
        row = self._one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        return int(row[0]) if row else 0

    def migrate(self) -> int:
        """Apply the migrations not applied yet, under an advisory lock so that replicas
        starting together apply each once; returns the schema version."""
        with translated(), self._pool.connection() as connection, connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                "description TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            row = connection.execute(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"
            ).fetchone()
            current = int(row[0]) if row else 0
            check_version(current)
            for migration in MIGRATIONS:
                if migration.version <= current:
                    continue
                connection.execute(migration.postgres_sql())  # type: ignore[call-overload]
                connection.execute(
                    "INSERT INTO schema_migrations (version, description) VALUES (%s, %s)",
                    (migration.version, migration.description),
                )
        self._forget()
        return self.schema_version()

    def ping(self) -> None:
        self._one("SELECT 1")

    def close(self) -> None:
        self._closing.set()
        if self._listener is not None:
            with contextlib.suppress(StoreError):
                self._run(f"NOTIFY {self._wake_channel}")
            self._listener.join(timeout=5)
        self._pool.close()


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"
