"""The store protocol and the records it keeps.

The service talks to its state through this protocol only, so the SQLite implementation
can be swapped (a server database, a fake that fails on purpose) without touching a route.
Records are frozen dataclasses of plain values; timestamps are ISO 8601 UTC strings with
milliseconds (`2025-10-09T12:00:00.000Z`), which sort and compare as text.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


class StoreError(RuntimeError):
    """The store cannot do what was asked (unreachable, corrupt, migration failed)."""


class StoreConflictError(StoreError):
    """A record with the same unique key exists (a username, an API key lookup prefix)."""


@dataclass(frozen=True)
class RunningLimit:
    """At most `limit` operations of `created_by` in one of `statuses` at once."""

    created_by: str
    limit: int
    statuses: tuple[str, ...]


class RunningLimitError(StoreError):
    """Starting the operation would pass its starter's `RunningLimit`; `running` are the
    ids of the operations that count."""

    def __init__(self, limit: RunningLimit, running: list[str]) -> None:
        super().__init__(f"{len(running)} of {limit.limit} allowed operation(s) running")
        self.limit = limit
        self.running = running


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: str
    username: str
    email: str
    name: str
    roles: tuple[str, ...]
    organizations: tuple[str, ...]
    tier: str
    password_hash: str | None
    source: str  # "local" (cloud users add) or "oidc" (seen in an external token)
    disabled: bool
    created_at: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One sign-in: the family of refresh tokens and the access tokens they issue."""

    id: str
    user_id: str
    created_at: str
    revoked_at: str | None


@dataclass(frozen=True, slots=True)
class RefreshTokenRecord:
    id: str
    session_id: str
    user_id: str
    token_hash: str
    issued_at: str
    expires_at: str
    used_at: str | None
    replaced_by: str | None


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    id: str
    user_id: str
    lookup: str
    key_hash: str
    name: str
    description: str
    permissions: tuple[str, ...]
    created_at: str
    expires_at: str
    last_used_at: str | None
    revoked_at: str | None
    parent_key_id: str | None = None  # the key it was made with: revoking that revokes this

    def status(self, now: str) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= now else "active"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: str
    request_id: str
    actor: str
    actor_type: str  # "user", "api_key", "oidc", "anonymous"
    action: str  # "POST /api/v1/deployments"
    status: int
    client: str
    details: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


@dataclass(frozen=True, slots=True)
class OperationRecord:
    """A deploy, destroy or validate run of one deployment environment (part 2 runs them)."""

    id: str
    deployment_id: str
    environment: str
    type: str
    status: str
    created_at: str
    updated_at: str
    created_by: str
    started_at: str | None = None
    completed_at: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One message of a run (`operation.started`, `stack.completed`, `log`…), in order."""

    operation_id: str
    deployment_id: str
    environment: str
    type: str
    at: str
    status: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


@dataclass(frozen=True, slots=True)
class StackStateRecord:
    """The recorded state of one stack instance (`core.statuses.StackState`): its latest
    outcome, and in `details` what its last successful deploy left (deployedAt,
    deployedBy, duration, resourceCount, outputs with secrets masked) or its error."""

    deployment_id: str
    environment: str
    stack: str
    status: str  # deployed | destroyed | failed
    at: str
    operation_id: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LockRecord:
    """Who runs an operation on a deployment environment, until when (the lease)."""

    deployment_id: str
    environment: str
    operation_id: str
    owner: str
    acquired_at: str
    lease_expires_at: str


RateWindow = tuple[str, int, int]
"""A rate-limit counter: (key, window length in seconds, window start in epoch seconds)."""

Changes = Callable[[str, str], None]
"""Told of a change another process made: `("events", "<id>")`, `("changes", "auth")`,
`("changes", "operations")`, or `("reconnected", "")` after notifications were missed."""


class Store(Protocol):
    # --- health -----------------------------------------------------------------------
    def ping(self) -> None: ...

    def close(self) -> None: ...

    # --- users ------------------------------------------------------------------------
    def create_user(self, user: UserRecord) -> UserRecord: ...

    def get_user(self, user_id: str) -> UserRecord | None: ...

    def get_user_by_username(self, username: str) -> UserRecord | None: ...

    def list_users(self) -> list[UserRecord]: ...

    def upsert_external_user(self, user: UserRecord) -> UserRecord: ...

    # --- sessions and refresh tokens --------------------------------------------------
    def create_session(self, session: SessionRecord) -> SessionRecord: ...

    def get_session(self, session_id: str) -> SessionRecord | None: ...

    def revoke_session(self, session_id: str, *, at: str) -> bool: ...

    def add_refresh_token(self, token: RefreshTokenRecord) -> None: ...

    def get_refresh_token(self, token_id: str) -> RefreshTokenRecord | None: ...

    def use_refresh_token(self, token_id: str, *, at: str, replaced_by: str) -> bool:
        """Mark a refresh token used, once: False when it was already used (reuse)."""
        ...

    # --- API keys ---------------------------------------------------------------------
    def create_api_key(self, key: ApiKeyRecord) -> ApiKeyRecord: ...

    def find_api_key(self, lookup: str) -> tuple[ApiKeyRecord, UserRecord] | None: ...

    def get_api_key(self, key_id: str) -> ApiKeyRecord | None: ...

    def list_api_keys(self, user_id: str) -> list[ApiKeyRecord]: ...

    def revoke_api_key(self, key_id: str, *, at: str) -> list[str]:
        """Revoke a key and every key made with it (its children, theirs, …), at once; the
        ids of those it revoked now (none already revoked), so a cache can drop them."""
        ...

    def touch_api_keys(self, last_used: dict[str, str]) -> None: ...

    # --- audit log --------------------------------------------------------------------
    def append_audit(self, entry: AuditEntry) -> None: ...

    def list_audit(
        self, *, limit: int, offset: int, actor: str | None = None, action: str | None = None
    ) -> tuple[list[AuditEntry], int]: ...

    # --- operations and events --------------------------------------------------------
    def create_operation(self, operation: OperationRecord) -> OperationRecord: ...

    def get_operation(self, operation_id: str) -> OperationRecord | None: ...

    def update_operation(
        self,
        operation_id: str,
        *,
        status: str,
        updated_at: str,
        started_at: str | None = None,
        completed_at: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> OperationRecord | None: ...

    def list_operations(
        self,
        *,
        deployment_id: str | None = None,
        environment: str | None = None,
        statuses: Sequence[str] | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[OperationRecord]: ...

    def latest_operations(self) -> Mapping[tuple[str, str], OperationRecord]:
        """The most recent deploy or destroy of every (deployment, environment) (previews,
        state imports and syncs change nothing a deployment's status says). Read-only: the
        same mapping is handed out again while no operation changed."""
        ...

    def append_event(self, event: EventRecord) -> EventRecord: ...

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
        """Events in id order (`newest_first`: the other way), filtered by operation,
        deployment, environment, the payload's `stackName`, time (`at >= since`) and type."""
        ...

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
        """How many events `list_events` would list with these filters and no limit."""
        ...

    def last_event_at(self, operation_id: str) -> str | None:
        """When the operation's latest event happened (None: it has none)."""
        ...

    # --- what the operations left of each stack ------------------------------------------
    def put_stack_state(self, state: StackStateRecord) -> None:
        """Record a stack instance's state, replacing the one before."""
        ...

    def list_stack_states(self, *, deployment_id: str | None = None) -> Sequence[StackStateRecord]:
        """Every recorded stack state (of one deployment), ordered by key; the same
        sequence object while nothing changed, so a cache can key on it."""
        ...

    # --- operation locks and webhook deliveries -------------------------------------------
    def start_operation(
        self,
        operation: OperationRecord,
        lock: LockRecord,
        events: Sequence[EventRecord],
        *,
        running_limit: RunningLimit | None = None,
    ) -> LockRecord:
        """Take the deployment environment's lock and, only then, record the operation and
        its first events, in one transaction. Returns the lock that holds it now: `lock`
        if taken, another operation's if that one's lease still runs (nothing recorded).
        With `running_limit`, the count is in the same transaction: `RunningLimitError`
        (nothing recorded) if the starter already runs as many as allowed."""
        ...

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
        """Compare-and-set: move the operation to `status` (merging `payload_patch` into its
        payload) and append `events`, in one transaction, only if its status is one of
        `from_statuses`. None (nothing written) when it was not: someone moved it first."""
        ...

    def get_lock(self, deployment_id: str, environment: str) -> LockRecord | None: ...

    def list_locks(self) -> list[LockRecord]: ...

    def renew_lock(self, lock: LockRecord, *, lease_expires_at: str) -> bool:
        """Extend the lease, only if `lock` (operation and owner) still holds it."""
        ...

    def release_lock(self, lock: LockRecord) -> bool:
        """Remove the lock, only if `lock` (operation and owner) holds it."""
        ...

    def record_delivery(
        self, delivery_id: str, *, event: str, at: str, forget_before: str | None = None
    ) -> bool:
        """True the first time a delivery id is seen, False for a redelivery. Deliveries
        received before `forget_before` are forgotten first (GitHub redelivers for days,
        not forever)."""
        ...

    # --- several replicas: change notifications, leases, shared limits --------------------
    def watch(self, listener: Changes) -> bool:
        """Tell `listener` of the changes any process commits, as they commit; False when
        this backend cannot (SQLite: readers poll the store, and only while they must)."""
        ...

    def read_version(self) -> Hashable | None:
        """A value that changes whenever any read may answer differently (a commit by this
        or any other process: a revoked key, a disabled user…); None when the store cannot
        tell, and callers must not cache. Cheap: callers check it on every request."""
        ...

    def take_lease(self, name: str, owner: str, *, at: str, until: str) -> bool:
        """Hold the named lease until `until`: True if it was free, expired or already
        `owner`'s (renewed), False if another owner holds it."""
        ...

    def release_lease(self, name: str, owner: str) -> bool: ...

    def add_rate_hits(
        self,
        hits: Mapping[RateWindow, int],
        *,
        watch: Sequence[RateWindow] = (),
        forget_before: int | None = None,
    ) -> dict[RateWindow, int]:
        """Add hits to the shared counters; returns the totals of those and of `watch`.
        Counters of windows that ended before `forget_before` are removed first."""
        ...

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
        """Count a realtime connection of `user_id`, only if fewer than `limit` are open
        (rows not seen since `stale_before` belonged to a replica that died: not counted)."""
        ...

    def close_connection(self, connection_id: str) -> None: ...

    def refresh_connections(self, owner: str, *, at: str) -> int:
        """Mark `owner`'s connections as still open; how many there are."""
        ...
