"""The service's own state: users, sessions and refresh tokens, API keys, the audit log,
and the operations and events of deploy/destroy runs.

Git holds the desired state and the Pulumi backend the deployed state; this package keeps
only what neither can: who may sign in, what they did, and the runs they started. One
protocol (`Store`) with a SQLite implementation (WAL, versioned migrations, a file under
`.cloud/` by default); tests use the same implementation on `:memory:`.
"""

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
from controller.store.sqlite import SQLiteStore, open_store

__all__ = [
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
