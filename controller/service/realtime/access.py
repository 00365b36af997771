"""Who may open a realtime connection and follow what: the rules `/ws` applies.

A WebSocket has no headers a browser can set, so its credentials come in a message and are
checked here the way the HTTP middleware checks them (the same `Authenticator`, so a
revoked key or an ended session fails the same way). Then: the seeds' four channel
patterns, the read permission and organization a subscription needs (an unknown deployment
and another organization's get the same answer, so existence does not leak), the seeds'
per-tier connection quota, and a per-address budget of failed sign-ins (WebSockets bypass
the HTTP rate limiter).
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import jwt
from starlette.concurrency import run_in_threadpool

from controller.core import rbac
from controller.core.names import DEPLOYMENT_ID_PATTERN, is_name
from controller.edits.catalog_state import CatalogState
from controller.service.auth.authentication import Authenticator, Principal
from controller.service.http.errors import (
    AUTH_INVALID_TOKEN,
    AUTHZ_FORBIDDEN,
    RESOURCE_NOT_FOUND,
    ApiError,
)
from controller.service.periodic import Periodic
from controller.store.base import Store

MAX_CREDENTIAL_CHARS = 8192
READ_PERMISSIONS = frozenset({rbac.DEPLOYMENTS_READ, rbac.LOGS_READ})
URL_CREDENTIALS = frozenset(
    {"token", "access_token", "accesstoken", "apikey", "api_key", "key", "jwt", "authorization"}
)
OPERATION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
CHANNEL_PATTERNS = (
    "deployments/:deploymentId",
    "deployments/:deploymentId/operations/:operationId",
    "deployments/:deploymentId/stacks/:stackName",
    "deployments/:deploymentId/environments/:environment",
)


def _bare(pattern: str) -> str:
    return pattern.removeprefix("^").removesuffix("$")


_CHANNEL = re.compile(
    rf"deployments/({_bare(DEPLOYMENT_ID_PATTERN)})(?:/(operations|stacks|environments)/([^/]+))?"
)
_OPERATION = re.compile(_bare(OPERATION_ID_PATTERN))
_CHANNEL_NAMES = {"stacks": "stack_name", "environments": "environment_name"}


def channel_deployment(channel: Any) -> str | None:
    """The deployment id of a channel of one of the four patterns, else None.
    A purely computational function."""
    if not isinstance(channel, str) or len(channel) > 200:
        return None
    match = _CHANNEL.fullmatch(channel)
    if match is None:
        return None
    deployment, kind, name = match.groups()
    if kind == "operations":
        if not _OPERATION.fullmatch(name):
            return None
    elif kind is not None and not is_name(_CHANNEL_NAMES[kind], name):
        return None
    return deployment


def channel_operation(channel: str) -> str | None:
    """The operation id of a well-formed `deployments/:id/operations/:opId` channel."""
    match = _CHANNEL.fullmatch(channel)
    return match[3] if match is not None and match[2] == "operations" else None


def error_message(code: str, message: str, *, channel: str | None = None) -> dict[str, Any]:
    """The protocol's `error` message; `channel` when it answers a subscription."""
    body: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if channel is not None:
        body["channel"] = channel
    return body


# --- credentials --------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    kind: Literal["token", "apiKey"]
    secret: str


def credentials_of(message: dict[str, Any]) -> Credentials:
    """`{type: authenticate, token | apiKey}` -> the credentials; ApiError when malformed."""
    supplied = [(kind, message[kind]) for kind in ("token", "apiKey") if kind in message]
    if len(supplied) != 1:
        raise ApiError(401, AUTH_INVALID_TOKEN, "authenticate with exactly one of token or apiKey")
    kind, secret = supplied[0]
    if not isinstance(secret, str) or not secret.strip() or len(secret) > MAX_CREDENTIAL_CHARS:
        raise ApiError(401, AUTH_INVALID_TOKEN, f"{kind} must be a non-empty string")
    secret = secret.strip()
    if kind == "token":
        secret = secret.removeprefix("Bearer ").strip()
    return Credentials(kind, secret)


async def resolve(authenticator: Authenticator, credentials: Credentials) -> Principal:
    """The caller, as the HTTP middleware resolves it: from the store, every time."""
    if credentials.kind == "apiKey":
        return authenticator.from_api_key(credentials.secret)
    if authenticator.is_external(credentials.secret):
        return await run_in_threadpool(authenticator.from_external_token, credentials.secret)
    return authenticator.from_access_token(credentials.secret)


def expiry(store: Store, principal: Principal, credentials: Credentials) -> float | None:
    """When the credentials stop working (epoch seconds): a token's `exp`, a key's expiry."""
    if credentials.kind == "apiKey":
        key = store.get_api_key(principal.key_id) if principal.key_id else None
        if key is None:
            return None
        return datetime.fromisoformat(key.expires_at.replace("Z", "+00:00")).timestamp()
    # verified by the authenticator just before: only the claim is read here
    claims = jwt.decode(credentials.secret, options={"verify_signature": False})
    expires = claims.get("exp")
    return float(expires) if isinstance(expires, int | float) else None


# --- access ---------------------------------------------------------------------------------


def refusal(principal: Principal, state: CatalogState, deployment_id: str) -> dict[str, Any] | None:
    """Why `principal` may not follow a deployment's events, or None.
    A purely computational function."""
    if not principal.permissions & READ_PERMISSIONS:
        return error_message(
            AUTHZ_FORBIDDEN, "permission 'deployments:read' or 'logs:read' is required"
        )
    deployment = state.snapshot.deployments.get(deployment_id)
    if (
        deployment is None
        or not principal.reaches(deployment_id)
        or not rbac.sees_organization(
            principal.roles, principal.organizations, deployment.manifest.organization
        )
    ):
        return error_message(RESOURCE_NOT_FOUND, f"deployment {deployment_id!r} not found")
    return None


class ConnectionQuota(Periodic):
    """Open connections per user against the seeds' tiers (free 2, standard 10,
    enterprise 100), counted in the store: the quota holds across replicas and workers.

    Each connection is a row; this process refreshes its rows every `REFRESH_SECONDS`, and
    rows not refreshed for `STALE_SECONDS` (their replica died) stop counting."""

    REFRESH_SECONDS = 20.0
    STALE_SECONDS = 60.0
    name = "realtime: refreshing the connections counted in the store"

    def __init__(
        self,
        limits: dict[str, int],
        store: Store,
        *,
        clock: Callable[[], float],
        iso: Callable[[float], str],
        owner: str,
    ) -> None:
        super().__init__(self.REFRESH_SECONDS)
        self.limits = limits
        self.store = store
        self.clock = clock
        self.iso = iso
        self.owner = owner

    def limit(self, tier: str) -> int:
        return self.limits.get(tier, self.limits["standard"])

    async def acquire(self, principal: Principal) -> str | None:
        """A connection id if the user may open one more, else None."""
        connection_id = "ws-" + secrets.token_hex(8)
        now = self.clock()
        opened = await run_in_threadpool(
            lambda: self.store.open_connection(
                connection_id,
                user_id=principal.user_id,
                owner=self.owner,
                limit=self.limit(principal.tier),
                at=self.iso(now),
                stale_before=self.iso(now - self.STALE_SECONDS),
            )
        )
        return connection_id if opened else None

    async def release(self, connection_id: str) -> None:
        # shielded: a session cancelled as its client leaves must still give its room back
        await asyncio.shield(asyncio.to_thread(self.store.close_connection, connection_id))

    def tick(self) -> None:
        self.store.refresh_connections(self.owner, at=self.iso(self.clock()))


class FailureCounter:
    """Failed authentications per client address and minute."""

    def __init__(self, per_minute: int | None, *, clock: Callable[[], float]) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.minute = -1
        self.counts: dict[str, int] = {}

    def _current(self) -> dict[str, int]:
        minute = int(self.clock() // 60)
        if minute != self.minute:
            self.minute, self.counts = minute, {}
        return self.counts

    def blocked(self, client: str) -> bool:
        return self.per_minute is not None and self._current().get(client, 0) >= self.per_minute

    def count(self, client: str) -> None:
        counts = self._current()
        counts[client] = counts.get(client, 0) + 1
