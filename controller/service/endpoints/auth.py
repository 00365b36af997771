"""Signing in and out, refresh-token rotation, API keys, the caller's profile, the audit log.

Refresh tokens are rotated on every use: the old one is marked used in the same statement
that checks it was unused, and presenting a used one again (a stolen copy, replayed) ends
the whole session. API keys are shown once; a new key may only carry permissions its
creator holds, and using one checks its owner's current roles too.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from controller.core import rbac
from controller.service.auth.lifetimes import (
    LifetimeTooLongError,
    credential_lifetime,
    limits_of,
)
from controller.service.auth.tokens import (
    API_KEY_PREFIX,
    new_api_key,
    new_id,
    new_refresh_token,
    refresh_token_id,
    same_digest,
    verify_password,
)
from controller.service.endpoints.deployments import find_deployment
from controller.service.endpoints.payloads import (
    ApiKeyRequest,
    AuditQuery,
    LoginRequest,
    RefreshRequest,
    ServiceTokenRequest,
)
from controller.service.endpoints.replies import (
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyRevoked,
    ApiKeyView,
    AuditList,
    AuditView,
    LoginData,
    MeData,
    RefreshData,
    SignedOut,
    UserView,
)
from controller.service.endpoints.views import paginate
from controller.service.http.access import API
from controller.service.http.envelope import iso_at
from controller.service.http.errors import (
    AUTH_INVALID_CREDENTIALS,
    AUTH_INVALID_TOKEN,
    AUTH_TOKEN_EXPIRED,
    AUTHZ_FORBIDDEN,
    VALIDATION_INVALID_FORMAT,
    VALIDATION_REQUIRED_FIELD,
    ApiError,
    not_found,
)
from controller.service.http.routing import Call, Endpoint, Reply
from controller.store.base import ApiKeyRecord, RefreshTokenRecord, SessionRecord, UserRecord


def _user_view(user: UserRecord) -> UserView:
    return UserView(
        id=user.id,
        username=user.username,
        email=user.email,
        name=user.name,
        roles=list(user.roles),
        organizations=list(user.organizations),
    )


def _new_refresh(call: Call, *, session_id: str, user_id: str) -> str:
    services = call.services
    token = new_refresh_token()
    now = services.clock()
    services.store.add_refresh_token(
        RefreshTokenRecord(
            id=token.lookup,
            session_id=session_id,
            user_id=user_id,
            token_hash=token.digest,
            issued_at=iso_at(now),
            expires_at=iso_at(now + services.settings.refresh_token_ttl),
            used_at=None,
            replaced_by=None,
        )
    )
    return token.plaintext


def _find_user(call: Call, username: str) -> UserRecord | None:
    """By user name, or (seeds/001 signs in with `user@example.com`) by a unique e-mail."""
    store = call.services.store
    user = store.get_user_by_username(username)
    if user is None and "@" in username:
        matches = [u for u in store.list_users() if u.email.casefold() == username.casefold()]
        user = matches[0] if len(matches) == 1 else None
    return user


async def _sign_in(call: Call, username: str, password: str) -> tuple[UserRecord, str]:
    """Check the credentials and open a session: the user and the session id."""
    services = call.services
    call.audit(actor=username)
    user = _find_user(call, username)
    hashed = user.password_hash if user is not None else None
    if not await run_in_threadpool(verify_password, password, hashed) or user is None:
        raise ApiError(401, AUTH_INVALID_CREDENTIALS, "invalid username or password")
    if user.disabled:
        raise ApiError(403, AUTHZ_FORBIDDEN, "this account is disabled")
    session = services.store.create_session(
        SessionRecord(id=new_id("ses"), user_id=user.id, created_at=services.now(), revoked_at=None)
    )
    return user, session.id


def _id_token(call: Call, user: UserRecord, session_id: str) -> str:
    return call.services.tokens.issue(
        user_id=user.id,
        session_id=session_id,
        username=user.username,
        kind="id",
        claims={
            "email": user.email,
            "given_name": user.name,
            "roles": list(user.roles),
            "organizations": list(user.organizations),
        },
    )


async def login(call: Call) -> Reply:
    body: LoginRequest = call.body
    services = call.services
    # an MFA code is accepted and not checked: no account here has MFA enabled (the
    # external OIDC issuer, CLOUD_OIDC_*, is where MFA belongs)
    user, session_id = await _sign_in(call, body.username, body.password)
    settings = services.settings
    return Reply(
        LoginData(
            access_token=services.tokens.issue(
                user_id=user.id, session_id=session_id, username=user.username
            ),
            id_token=_id_token(call, user, session_id),
            refresh_token=_new_refresh(call, session_id=session_id, user_id=user.id),
            expires_in=settings.access_token_ttl,
            refresh_expires_in=settings.refresh_token_ttl,
            user=_user_view(user),
        )
    )


async def token(call: Call) -> Reply:
    """seeds/004 `POST /token`: `username=…&password=…` form-encoded (OAuth2's password
    grant), answered as OAuth2 does: `{access_token, token_type}`, no envelope."""
    raw = (await call.request.body()).decode("utf-8", errors="replace")
    if call.request.headers.get("content-type", "").startswith("application/json"):
        try:
            form = {k: str(v) for k, v in dict(json.loads(raw or "{}")).items()}
        except (ValueError, TypeError):
            raise ApiError(
                400, VALIDATION_INVALID_FORMAT, "the body is not a JSON object"
            ) from None
    else:
        form = {key: values[-1] for key, values in parse_qs(raw, keep_blank_values=True).items()}
    for field_name in ("username", "password"):
        if not form.get(field_name):
            raise ApiError(
                400,
                VALIDATION_REQUIRED_FIELD,
                f"{field_name} is required (form-encoded: username=…&password=…)",
                details={"field": field_name},
            )
    user, session_id = await _sign_in(call, form["username"][:200], form["password"][:1024])
    access = call.services.tokens.issue(
        user_id=user.id, session_id=session_id, username=user.username
    )
    ttl = call.services.settings.access_token_ttl
    return Reply(JSONResponse({"access_token": access, "token_type": "bearer", "expires_in": ttl}))


SERVICE_SCOPE = (rbac.DEPLOYMENTS_READ, rbac.DEPLOYMENTS_DEPLOY, rbac.STACKS_DEPLOY, rbac.LOGS_READ)


async def service_token(call: Call) -> Reply:
    """seeds/004 `POST /service-token`: a bearer for one deployment's CI, 1-180 days, with
    at most the caller's permissions (by default what a deploy needs), revoked by signing
    out with it."""
    body: ServiceTokenRequest = call.body
    services = call.services
    user = call.user
    state = await services.repo.fresh()
    find_deployment(call, state, body.service)
    wanted = body.permissions if body.permissions is not None else list(SERVICE_SCOPE)
    unknown = rbac.unknown_permissions(wanted)
    if unknown:
        raise ApiError(
            400,
            VALIDATION_INVALID_FORMAT,
            f"unknown permission(s): {', '.join(unknown)}",
            details={"field": "permissions", "unknown": unknown},
        )
    scope = [p for p in wanted if p in user.permissions]
    if body.permissions is not None and len(scope) < len(wanted):
        excess = sorted(set(wanted) - set(scope))
        raise ApiError(
            403, AUTHZ_FORBIDDEN, "a service token can only narrow your permissions; you do not "
            "hold " + ", ".join(excess), details={"notHeld": excess},
        )  # fmt: skip
    if not scope:
        raise ApiError(403, AUTHZ_FORBIDDEN, "you hold none of the permissions a service needs")
    session = services.store.create_session(
        SessionRecord(id=new_id("ses"), user_id=user.user_id, created_at=services.now(),
                      revoked_at=None)
    )  # fmt: skip
    issued = services.tokens.issue(
        user_id=user.user_id,
        session_id=session.id,
        username=user.username,
        kind="service",
        ttl=body.expiration_in_days * 86400,
        claims={"svc": body.service, "scope": scope, "origin": body.origin},
    )
    call.audit(serviceToken=session.id, deploymentId=body.service, origin=body.origin)
    return Reply(
        JSONResponse(
            {
                "service_token": issued,
                "token_type": "bearer",
                "expires_in": body.expiration_in_days * 86400,
                "scope": scope,
                "service": body.service,
            }
        )
    )


async def refresh(call: Call) -> Reply:
    body: RefreshRequest = call.body
    services = call.services
    store = services.store
    token_id = refresh_token_id(body.refresh_token)
    record = store.get_refresh_token(token_id) if token_id else None
    if record is None or not same_digest(body.refresh_token, record.token_hash):
        raise ApiError(401, AUTH_INVALID_TOKEN, "invalid refresh token")
    session = store.get_session(record.session_id)
    if session is None or session.revoked_at is not None:
        raise ApiError(401, AUTH_INVALID_TOKEN, "the session of this refresh token has ended")
    now = services.now()
    if record.expires_at <= now:
        raise ApiError(
            401,
            AUTH_TOKEN_EXPIRED,
            "refresh token expired",
            details={"expiredAt": record.expires_at},
        )
    replacement = new_refresh_token()
    if not store.use_refresh_token(record.id, at=now, replaced_by=replacement.lookup):
        store.revoke_session(session.id, at=now)
        call.audit(reuse=True, sessionId=session.id)
        raise ApiError(
            401,
            AUTH_INVALID_TOKEN,
            "refresh token reuse detected: the session has been revoked; sign in again",
        )
    user = store.get_user(record.user_id)
    if user is None or user.disabled:
        raise ApiError(401, AUTH_INVALID_TOKEN, "account disabled")
    settings = services.settings
    store.add_refresh_token(
        RefreshTokenRecord(
            id=replacement.lookup,
            session_id=session.id,
            user_id=user.id,
            token_hash=replacement.digest,
            issued_at=now,
            expires_at=iso_at(services.clock() + settings.refresh_token_ttl),
            used_at=None,
            replaced_by=None,
        )
    )
    call.audit(actor=user.username)
    return Reply(
        RefreshData(
            access_token=services.tokens.issue(
                user_id=user.id, session_id=session.id, username=user.username
            ),
            id_token=_id_token(call, user, session.id),
            refresh_token=replacement.plaintext,
            expires_in=settings.access_token_ttl,
            refresh_expires_in=settings.refresh_token_ttl,
        )
    )


async def logout(call: Call) -> Reply:
    user = call.user
    if user.session_id is None:
        raise ApiError(
            400,
            VALIDATION_INVALID_FORMAT,
            "signing out applies to sessions (access tokens from /auth/login); "
            "revoke an API key with DELETE /api/v1/auth/api-keys/{keyId}",
        )
    now = call.services.now()
    call.services.store.revoke_session(user.session_id, at=now)
    return Reply(
        SignedOut(session_id=user.session_id, signed_out_at=now),
        message="Successfully logged out",
    )


async def create_api_key(call: Call) -> Reply:
    body: ApiKeyRequest = call.body
    services = call.services
    user = call.user
    unknown = rbac.unknown_permissions(body.permissions)
    if unknown:
        raise ApiError(
            400,
            VALIDATION_INVALID_FORMAT,
            f"unknown permission(s): {', '.join(unknown)}",
            details={"field": "permissions", "unknown": unknown, "known": list(rbac.PERMISSIONS)},
        )
    excess = rbac.excess_scopes(body.permissions, user.permissions)
    if excess:
        raise ApiError(
            403,
            AUTHZ_FORBIDDEN,
            "an API key can only narrow its owner's permissions; you do not hold "
            + ", ".join(excess),
            details={"notHeld": excess},
        )
    now = services.clock()
    try:
        lifetime = credential_lifetime(user, body.expires_in, limits_of(services.settings), now=now)
    except LifetimeTooLongError as error:
        raise ApiError(
            400,
            VALIDATION_INVALID_FORMAT,
            str(error),
            details={"field": "expiresIn", "maximum": error.maximum},
        ) from None
    secret = new_api_key()
    record = services.store.create_api_key(
        ApiKeyRecord(
            id=new_id("key"),
            user_id=user.user_id,
            lookup=secret.lookup,
            key_hash=secret.digest,
            name=body.name,
            description=body.description,
            permissions=tuple(dict.fromkeys(body.permissions)),
            created_at=iso_at(now),
            expires_at=iso_at(lifetime.expires_at),
            last_used_at=None,
            revoked_at=None,
            parent_key_id=user.key_id,
        )
    )
    call.audit(keyCreated=record.id, parentKeyId=user.key_id)
    return Reply(
        ApiKeyCreated(
            api_key=secret.plaintext,
            key_id=record.id,
            name=record.name,
            description=record.description,
            created_at=record.created_at,
            expires_at=record.expires_at,
            permissions=list(record.permissions),
        ),
        warning="This API key will only be displayed once. Store it securely."
        + (
            f" It expires sooner than the default: {lifetime.shortened_by}."
            if lifetime.shortened_by
            else ""
        ),
    )


def _key_view(key: ApiKeyRecord, now: str) -> ApiKeyView:
    return ApiKeyView(
        key_id=key.id,
        name=key.name,
        description=key.description,
        prefix=API_KEY_PREFIX + key.lookup,
        created_at=key.created_at,
        expires_at=key.expires_at,
        last_used_at=key.last_used_at,
        status=key.status(now),  # type: ignore[arg-type]
        permissions=list(key.permissions),
    )


async def list_api_keys(call: Call) -> Reply:
    services = call.services
    services.authenticator.flush_usage()
    keys = services.store.list_api_keys(call.user.user_id)
    now = services.now()
    return Reply(ApiKeyList(api_keys=[_key_view(key, now) for key in keys], total=len(keys)))


async def revoke_api_key(call: Call) -> Reply:
    services = call.services
    user = call.user
    key = services.store.get_api_key(call.params["key_id"])
    if key is None or (key.user_id != user.user_id and not rbac.is_administrator(user.roles)):
        raise not_found("apiKey", call.params["key_id"])
    now = services.now()
    revoked = services.store.revoke_api_key(key.id, at=now)
    minted = [key_id for key_id in revoked if key_id != key.id]
    call.audit(keyRevoked=key.id, alsoRevoked=minted)
    return Reply(
        ApiKeyRevoked(key_id=key.id, revoked_at=key.revoked_at or now, also_revoked=minted),
        message="API key revoked successfully"
        + (f", with the {len(minted)} key(s) made with it" if minted else ""),
    )


async def me(call: Call) -> Reply:
    user = call.user
    return Reply(
        MeData(
            id=user.user_id,
            username=user.username,
            email=user.email,
            name=user.name,
            roles=list(user.roles),
            organizations=list(user.organizations),
            tier=user.tier,
            permissions=sorted(user.permissions),
            authenticated_via=user.via,
            key_id=user.key_id,
        )
    )


async def audit_logs(call: Call) -> Reply:
    query: AuditQuery = call.query
    entries, total = call.services.store.list_audit(
        limit=query.limit,
        offset=(query.page - 1) * query.limit,
        actor=query.actor,
        action=query.action,
    )
    _, pagination = paginate([None] * total, page=query.page, limit=query.limit)
    return Reply(
        AuditList(
            entries=[
                AuditView(
                    id=entry.id or 0,
                    at=entry.at,
                    request_id=entry.request_id,
                    actor=entry.actor,
                    actor_type=entry.actor_type,
                    action=entry.action,
                    status=entry.status,
                    client=entry.client,
                    details=entry.details,
                )
                for entry in entries
            ],
            pagination=pagination,
        )
    )


ENDPOINTS = [
    Endpoint("POST", f"{API}/auth/login", login, "Sign in", "Authentication",
             reply=LoginData, body=LoginRequest, errors=(401, 403)),
    Endpoint("POST", f"{API}/auth/refresh", refresh, "Rotate a refresh token", "Authentication",
             reply=RefreshData, body=RefreshRequest, errors=(401,)),
    Endpoint("POST", f"{API}/token", token,
             "Sign in with a form-encoded username and password (seeds/004, OAuth2 password "
             "grant); answers {access_token, token_type}", "Authentication", raw=True,
             errors=(400, 401, 403),
             extra={"requestBody": {"required": True, "content": {
                 "application/x-www-form-urlencoded": {"schema": {
                     "type": "object", "required": ["username", "password"],
                     "properties": {"username": {"type": "string"},
                                    "password": {"type": "string"}}}}}},
                 "responses": {"200": {"description": "Signed in", "content": {
                     "application/json": {"schema": {"type": "object"}}}}}}),
    Endpoint("POST", f"{API}/service-token", service_token,
             "A bearer token for one deployment's CI, 1-180 days (seeds/004); answers "
             "{service_token, token_type}", "Authentication", raw=True,
             body=ServiceTokenRequest, errors=(400, 403, 404),
             extra={"responses": {"200": {"description": "Issued", "content": {
                 "application/json": {"schema": {"type": "object"}}}}}}),
    Endpoint("POST", f"{API}/auth/logout", logout, "Sign out (ends the session)",
             "Authentication", reply=SignedOut),
    Endpoint("POST", f"{API}/auth/api-keys", create_api_key, "Create an API key (shown once)",
             "Authentication", reply=ApiKeyCreated, status=201, body=ApiKeyRequest),
    Endpoint("GET", f"{API}/auth/api-keys", list_api_keys, "List your API keys",
             "Authentication", reply=ApiKeyList),
    Endpoint("DELETE", f"{API}/auth/api-keys/{{key_id}}", revoke_api_key, "Revoke an API key",
             "Authentication", reply=ApiKeyRevoked, errors=(404,)),
    Endpoint("GET", f"{API}/users/me", me, "Who am I", "Authentication", reply=MeData),
    Endpoint("GET", f"{API}/audit-logs", audit_logs, "The audit log, newest first", "Monitoring",
             reply=AuditList, query=AuditQuery),
]  # fmt: skip
