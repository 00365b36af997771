"""The store on SQLite: one file under `.cloud/`, WAL mode, migrations applied at open.

The statements are `SQLStore`'s; this module is the connection, its transactions, the
read cache and the migrations.

One connection per process, guarded by a lock: every call is a short indexed statement
(an API key lookup is one primary-key join), so serializing them costs less than a pool.
WAL lets readers in other processes (a second uvicorn worker, `cloud users add` while the
service runs) proceed while one writes; `synchronous=NORMAL` is WAL's safe setting.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from controller.adapters.private_files import private_dir, private_file
from controller.store.base import StoreError
from controller.store.migrations import MIGRATIONS, check_version
from controller.store.rows import translated
from controller.store.sql import SQLStore

DATA_DIR_NAME = ".cloud"
VERSION_REUSE_SECONDS = 0.001


def open_store(path: Path | str) -> SQLiteStore:
    """Open (creating the folder and the file if needed) and migrate the store.

    The file holds credential hashes and the audit log: it is created 0600 (SQLite gives
    its -wal and -shm files the same mode) in a folder created 0700; the data folder
    `.cloud/` is tightened to 0700 if an older version left it open.
    """
    if str(path) != ":memory:":
        file = Path(path)
        private_dir(file.parent, tighten=file.parent.name == DATA_DIR_NAME)
        private_file(file)
        for companion in (file.with_name(file.name + "-wal"), file.with_name(file.name + "-shm")):
            if companion.exists():
                private_file(companion)
    return SQLiteStore(str(path))


class SQLiteStore(SQLStore):
    def __init__(self, path: str) -> None:
        try:
            self._db = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=10.0
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as error:
            raise StoreError(f"cannot open the store: {error}") from None
        self._lock = threading.Lock()
        # Reads on every request (an API key, a session, a user) are cached until the
        # database changes: `PRAGMA data_version` moves when another connection (another
        # worker, `cloud users add`) commits, and our own writes bump the generation.
        self._cache: dict[Any, Any] = {}
        self._version = -1
        self._generation = 0
        self._data_version_seen = -1
        self._version_checked = float("-inf")
        self.migrate()

    # --- plumbing -----------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock, translated():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            finally:
                self._forget()
            self._db.execute("COMMIT")

    def _forget(self) -> None:
        """Drop cached reads after a write through this connection (caller holds the lock)."""
        self._generation += 1
        self._cache.clear()

    def _data_version(self) -> int:
        """`PRAGMA data_version`, asked at most once a millisecond (caller holds the lock).

        A request checks it twice (its API key, then what it reads); a commit landing in
        between is no different from one landing just after the check, which no reader
        can exclude either."""
        now = time.monotonic()
        if now - self._version_checked > VERSION_REUSE_SECONDS:
            self._data_version_seen = self._db.execute("PRAGMA data_version").fetchone()[0]
            self._version_checked = now
        return self._data_version_seen

    def _cached(self, key: Any, compute: Any) -> Any:
        try:
            with self._lock:
                version = self._data_version()
                if version != self._version:
                    self._cache.clear()
                    self._version = version
                if key in self._cache:
                    return self._cache[key]
                generation = self._generation
        except sqlite3.Error as error:
            raise StoreError(f"store error: {error}") from None
        value = compute()
        with self._lock:
            if generation == self._generation and self._version == version:
                if len(self._cache) >= 10_000:
                    self._cache.clear()
                self._cache[key] = value
        return value

    def read_version(self) -> Hashable:
        """Changes with every commit, ours or another process's (`PRAGMA data_version`)."""
        try:
            with self._lock:
                return (self._data_version(), self._generation)
        except sqlite3.Error as error:  # no `translated()`: this runs on every request
            raise StoreError(f"store error: {error}") from None

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock, translated():
            return self._db.execute(sql, params).fetchall()

    def _one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        with self._lock, translated():
            return self._db.execute(sql, params).fetchone()

    def _run(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._lock, translated():
            try:
                return self._db.execute(sql, params).rowcount
            finally:
                self._forget()

    def schema_version(self) -> int:
        row = self._one("PRAGMA user_version")
        return int(row[0]) if row else 0

    def migrate(self) -> int:
        """Apply the migrations not applied yet; returns the schema version."""
        with self._transaction() as db:
            current = int(db.execute("PRAGMA user_version").fetchone()[0])
            check_version(current)
            for migration in MIGRATIONS:
                if migration.version <= current:
                    continue
                for statement in migration.sql.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {int(migration.version)}")
        return self.schema_version()

    def ping(self) -> None:
        try:
            self._one("SELECT 1")
        except sqlite3.Error as error:
            raise StoreError(str(error)) from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def watch(self, listener: Any) -> bool:
        return False  # no notifications between processes: readers poll while they must
