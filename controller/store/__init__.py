"""The service's own state: users, sessions and refresh tokens, API keys, the audit log,
and the operations and events of deploy/destroy runs.

Git holds the desired state and the Pulumi backend the deployed state; this package keeps
only what neither can: who may sign in, what they did, and the runs they started. One
protocol (`Store`), its statements written once (`sql`), two backends: SQLite (WAL, a
file under `.cloud/` by default: the embedded mode) and PostgreSQL (`CLOUD_DATABASE_URL`,
for several replicas; imported only when selected).
"""

from pathlib import Path

from controller.store.base import (
    ApiKeyRecord,
    AuditEntry,
    EventRecord,
    OperationRecord,
    RefreshTokenRecord,
    SessionRecord,
    Store,
    StoreConflictError,
    StoreError,
    UserRecord,
)
from controller.store.sqlite import SQLiteStore
from controller.store.sqlite import open_store as open_sqlite

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_store(target: Path | str, *, pool_size: int = 10) -> Store:
    """The store at `target`: a PostgreSQL URL, or a SQLite file (created if needed)."""
    if isinstance(target, str) and target.startswith(POSTGRES_SCHEMES):
        from controller.store.postgres import PostgresStore

        return PostgresStore(target, pool_size=pool_size)
    return open_sqlite(target)


__all__ = [
    "POSTGRES_SCHEMES",
    "ApiKeyRecord",
    "AuditEntry",
    "EventRecord",
    "OperationRecord",
    "RefreshTokenRecord",
    "SQLiteStore",
    "SessionRecord",
    "Store",
    "StoreConflictError",
    "StoreError",
    "UserRecord",
    "open_store",
]
