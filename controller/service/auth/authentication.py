"""Who is calling: an API key, one of our access tokens, or an external OIDC token.

The middleware resolves the credentials of every request into a `Principal` (or none)
before routing, so the rate limiter can count per user or key. A credential that is
present but wrong is not rejected here: the error is kept in the scope and raised by the
rate limiter after it has counted the attempt against the client address, so guessing
keys is throttled like guessing passwords. Roles come from the store, not from the
token, so a role removed or a key revoked takes effect at once. A verified API key is
remembered (bounded, by the digest of what was presented) only while the store's read
version stays the one it was verified at: any commit on SQLite, and on PostgreSQL any
change to users, sessions or keys by any replica (its notification) or a lost
notification connection, makes the next request verify again.

The roles of a user from the OIDC issuer are only as fresh as the last token the issuer
signed for them: each such token refreshes the stored record (at most once a minute),
and a credential of ours that such a user holds (an API key) works only while that
happened in the last `CLOUD_OIDC_ROLE_RECHECK_SECONDS`. A user the issuer drops, or
moves out of a group, keeps no rights through a key for longer than that (such keys are
verified at every request: their validity runs out with time, not with a change).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import jwt
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from controller.adapters.clock import epoch_of
from controller.adapters.local_git import Author
from controller.core.rbac import effective_permissions
from controller.service.auth.oidc import OidcError, OidcVerifier
from controller.service.auth.tokens import AccessTokens, api_key_lookup, digest
from controller.service.http.envelope import iso_at
from controller.service.http.errors import AUTH_INVALID_TOKEN, AUTH_TOKEN_EXPIRED, ApiError
from controller.store.base import Store, UserRecord

PRINCIPAL = "cloud.principal"
AUTH_ERROR = "cloud.auth_error"
TOUCH_INTERVAL = 30.0  # seconds between lastUsedAt writes for one key
VERIFIED_KEYS = 10_000  # bound of the verified-key cache
VOUCH_INTERVAL = 60.0  # seconds between writes of an OIDC user's last confirmation
DEFAULT_ROLE_RECHECK = 3600.0


@dataclass(frozen=True)
class Principal:
    user_id: str
    username: str
    email: str
    name: str
    roles: tuple[str, ...]
    organizations: tuple[str, ...]
    tier: str
    via: Literal["jwt", "api_key", "oidc", "service_token"]
    permissions: frozenset[str]
    session_id: str | None = None
    key_id: str | None = None
    expires_at: str | None = None  # when the credential presented stops working (ISO)
    deployments: tuple[str, ...] | None = None  # a service token's one deployment

    def reaches(self, deployment_id: str) -> bool:
        """Whether the credentials are scoped to let it see this deployment at all."""
        return self.deployments is None or deployment_id in self.deployments

    @property
    def identity(self) -> str:
        """How every `…By` field names the caller: the e-mail (the seeds' form), else the
        user name."""
        return self.email or self.username

    @property
    def author(self) -> Author:
        return Author(self.name or self.username, self.email or f"{self.username}@cloud.invalid")

    @property
    def actor_type(self) -> str:
        return {"jwt": "user", "api_key": "api_key", "oidc": "oidc", "service_token": "service"}[
            self.via
        ]


def _invalid(message: str) -> ApiError:
    return ApiError(401, AUTH_INVALID_TOKEN, message)


class Authenticator:
    def __init__(
        self,
        *,
        store: Store,
        tokens: AccessTokens,
        oidc: OidcVerifier | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        oidc_role_recheck: float = DEFAULT_ROLE_RECHECK,
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.oidc = oidc
        self.clock = clock
        self.monotonic = monotonic
        self.oidc_role_recheck = oidc_role_recheck
        self._pending: dict[str, float] = {}  # key id -> when last used (epoch)
        self._touched: dict[str, float] = {}
        self._external: dict[str, UserRecord] = {}
        # verified keys, by the digest of what was presented: valid while the store's
        # read version is the one they were verified at (any revocation, cascade or
        # user change, by any replica, moves it) and until the key expires (epoch)
        self._verified: dict[str, tuple[Hashable, Principal, float, str]] = {}

    # --- API keys -----------------------------------------------------------------------

    def from_api_key(self, presented: str) -> Principal:
        at = self.clock()
        version = self.store.read_version()  # before the reads it vouches for
        fingerprint = digest(presented)
        known = self._verified.get(fingerprint)
        if known is not None and version is not None and known[0] == version and known[2] > at:
            self._note_use(known[3], at)  # epochs, not ISO text: no formatting per request
            return known[1]
        now = iso_at(at)
        lookup = api_key_lookup(presented)
        found = self.store.find_api_key(lookup) if lookup else None
        if found is None or not hmac.compare_digest(fingerprint, found[0].key_hash):
            raise _invalid("invalid API key")
        key, user = found
        if key.revoked_at is not None:
            raise _invalid("API key revoked")
        if key.expires_at <= now:
            raise ApiError(
                401, AUTH_TOKEN_EXPIRED, "API key expired", details={"expiredAt": key.expires_at}
            )
        if user.disabled:
            raise _invalid("account disabled")
        self._check_vouched(user)
        self._note_use(key.id, at)
        principal = _principal(
            user, "api_key", scopes=key.permissions, key_id=key.id, expires_at=key.expires_at
        )
        if version is not None and user.source != "oidc":
            if len(self._verified) >= VERIFIED_KEYS:
                self._verified.clear()
            self._verified[fingerprint] = (version, principal, epoch_of(key.expires_at), key.id)
        return principal

    def _check_vouched(self, user: UserRecord) -> None:
        """An OIDC user's roles are trusted only as long after the issuer's last token."""
        if user.source != "oidc":
            return
        if user.updated_at < iso_at(self.clock() - self.oidc_role_recheck):
            raise ApiError(
                401,
                AUTH_TOKEN_EXPIRED,
                f"the identity provider has not confirmed {user.username}'s roles in the last "
                f"{int(self.oidc_role_recheck)} seconds: sign in through it again (any request "
                "with one of its tokens) to use this credential",
                details={"confirmedAt": user.updated_at},
            )

    def _note_use(self, key_id: str, at: float) -> None:
        self._pending[key_id] = at
        if self.monotonic() - self._touched.get(key_id, float("-inf")) >= TOUCH_INTERVAL:
            self.flush_usage()

    def flush_usage(self) -> None:
        """Persist pending lastUsedAt times (batched: a key in use is written twice a minute)."""
        pending, self._pending = self._pending, {}
        if pending:
            self.store.touch_api_keys({key_id: iso_at(at) for key_id, at in pending.items()})
            now = self.monotonic()
            for key_id in pending:
                self._touched[key_id] = now

    # --- bearer tokens ------------------------------------------------------------------

    def is_external(self, token: str) -> bool:
        return self.oidc is not None and self.oidc.claims_issuer(token)

    def from_access_token(self, token: str) -> Principal:
        try:
            claims = self.tokens.verify(token, kinds=("access", "service"))
        except jwt.ExpiredSignatureError:
            raise ApiError(401, AUTH_TOKEN_EXPIRED, "JWT token has expired") from None
        except jwt.PyJWTError:
            raise _invalid("invalid access token") from None
        session = self.store.get_session(str(claims["sid"]))
        if session is None or session.revoked_at is not None or session.user_id != claims["sub"]:
            raise _invalid("the session of this token has ended (signed out)")
        user = self.store.get_user(str(claims["sub"]))
        if user is None or user.disabled:
            raise _invalid("account disabled")
        self._check_vouched(user)
        if claims["typ"] == "service":
            return _principal(
                user,
                "service_token",
                scopes=tuple(claims.get("scope") or ()),
                session_id=session.id,
                deployments=(str(claims.get("svc")),),
                expires_at=iso_at(claims["exp"]),
            )
        return _principal(user, "jwt", session_id=session.id)

    def from_external_token(self, token: str) -> Principal:
        assert self.oidc is not None
        try:
            identity = self.oidc.verify(token)
        except jwt.ExpiredSignatureError:
            raise ApiError(401, AUTH_TOKEN_EXPIRED, "JWT token has expired") from None
        except OidcError as error:
            raise _invalid(str(error)) from None
        user_id = (
            "usr-oidc-"
            + hashlib.sha256(f"{self.oidc.issuer}\0{identity.subject}".encode()).hexdigest()[:16]
        )
        now = iso_at(self.clock())
        record = UserRecord(
            id=user_id,
            username=f"oidc:{identity.username}",
            email=identity.email,
            name=identity.name,
            roles=identity.roles,
            organizations=identity.organizations,
            tier="standard",
            password_hash=None,
            source="oidc",
            disabled=False,
            created_at=now,
            updated_at=now,
        )
        known = self._external.get(user_id)
        if (
            known is None
            or _profile(known) != _profile(record)
            or known.updated_at < iso_at(self.clock() - VOUCH_INTERVAL)
        ):
            # the issuer vouches for the user now: the stored roles and this moment
            known = self.store.upsert_external_user(record)
            self._external[user_id] = known
        if known.disabled:
            raise _invalid("account disabled")
        expires = identity.expires_at
        return _principal(known, "oidc", expires_at=iso_at(expires) if expires else None)


def _profile(user: UserRecord) -> tuple[Any, ...]:
    return (user.email, user.name, user.roles, user.organizations)


def _principal(
    user: UserRecord,
    via: Literal["jwt", "api_key", "oidc", "service_token"],
    *,
    scopes: tuple[str, ...] | None = None,
    session_id: str | None = None,
    key_id: str | None = None,
    expires_at: str | None = None,
    deployments: tuple[str, ...] | None = None,
) -> Principal:
    return Principal(
        user_id=user.id,
        username=user.username,
        email=user.email,
        name=user.name,
        roles=user.roles,
        organizations=user.organizations,
        tier=user.tier,
        via=via,
        permissions=effective_permissions(user.roles, scopes),
        session_id=session_id,
        key_id=key_id,
        expires_at=expires_at,
        deployments=deployments,
    )


class Authentication:
    """Resolves the caller into the scope, then runs `checks` (the rate limits), which may
    raise. The request's frame (`RequestContextMiddleware`) runs it; where another layer
    must sit between the two (CORS, whose preflights are answered before anyone is
    authenticated), `AuthenticationMiddleware` runs it as a layer of its own."""

    def __init__(
        self, *, authenticator: Authenticator, checks: Sequence[Callable[[Scope], None]] = ()
    ) -> None:
        self.authenticator = authenticator
        self.checks = tuple(checks)

    async def authenticate(self, scope: Scope) -> None:
        bearer = self.identify(scope)
        if bearer is not None:
            await self.verify_bearer(scope, bearer)
        self.check(scope)

    def identify(self, scope: Scope) -> str | None:
        """Resolve an API key (the common case, and synchronous) into `scope[PRINCIPAL]`;
        the `Authorization` header when a bearer token is to be verified instead."""
        api_key = authorization = None
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                api_key = value.decode("latin-1")
            elif name == b"authorization":
                authorization = value.decode("latin-1")
        if api_key is not None:
            try:
                scope[PRINCIPAL] = self.authenticator.from_api_key(api_key.strip())
            except ApiError as error:
                scope[AUTH_ERROR] = error
            return None
        return authorization

    async def verify_bearer(self, scope: Scope, authorization: str) -> None:
        try:
            scope[PRINCIPAL] = await self._from_bearer(authorization)
        except ApiError as error:
            scope[AUTH_ERROR] = error

    def check(self, scope: Scope) -> None:
        """The rate limits, once the caller is known (they raise the 429, or the
        caller's credential error once it is counted)."""
        for check in self.checks:
            check(scope)

    async def _from_bearer(self, authorization: str) -> Principal:
        auth = self.authenticator
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _invalid("Authorization must be 'Bearer <token>'")
        if auth.is_external(token):
            return await run_in_threadpool(auth.from_external_token, token)
        return auth.from_access_token(token)


class AuthenticationMiddleware:
    """`Authentication` as a layer of its own: only where another layer (CORS) sits
    between it and the request's frame."""

    def __init__(self, app: ASGIApp, *, authentication: Authentication) -> None:
        self.app = app
        self.authentication = authentication

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.authentication.authenticate(scope)
        await self.app(scope, receive, send)
