"""Tokens from an external OpenID Connect issuer (Cognito, Okta, Dex, GitHub's OIDC…).

When `CLOUD_OIDC_ISSUER`, `…_AUDIENCE` and `…_JWKS_URL` are set, a bearer token whose
`iss` is that issuer is verified against the issuer's published keys (JWKS, fetched with
`requests`, cached, fetched again when a token names an unknown key id, at most once a
minute), with asymmetric algorithms only, and its groups claim mapped to roles. HS256 or
`none` tokens claiming to be from the issuer are refused, so nobody can sign one with a
public key as an HMAC secret.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import requests

from controller.core.rbac import default_group_map, roles_from_groups

JWKS_TTL = 3600.0
REFETCH_INTERVAL = 60.0


class OidcError(Exception):
    """The token is not acceptable; the message is safe to show."""


@dataclass(frozen=True)
class ExternalIdentity:
    subject: str
    username: str
    email: str
    name: str
    roles: tuple[str, ...]
    organizations: tuple[str, ...]
    expires_at: float | None = None  # the token's exp


class OidcVerifier:
    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks_url: str,
        algorithms: list[str],
        groups_claim: str = "groups",
        organizations_claim: str = "organizations",
        role_map: dict[str, str] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.jwks_url = jwks_url
        self.algorithms = list(algorithms)
        self.groups_claim = groups_claim
        self.organizations_claim = organizations_claim
        self.role_map = default_group_map() | dict(role_map or {})
        self.monotonic = monotonic
        self.clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched = float("-inf")
        self._lock = threading.Lock()
        self.last_error: str | None = None

    def claims_issuer(self, token: str) -> bool:
        """Whether an (unverified) token says it comes from this issuer."""
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return False
        return unverified.get("iss") == self.issuer

    def verify(self, token: str) -> ExternalIdentity:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise OidcError("malformed token") from None
        if header.get("alg") not in self.algorithms:
            raise OidcError(f"algorithm {header.get('alg')!r} is not accepted")
        key = self._key(str(header.get("kid", "")))
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=30,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise
        except jwt.PyJWTError as error:
            raise OidcError(f"token rejected: {error}") from None
        return self._identity(claims)

    def _identity(self, claims: dict[str, Any]) -> ExternalIdentity:
        groups = _strings(claims.get(self.groups_claim))
        subject = str(claims["sub"])
        username = str(claims.get("preferred_username") or claims.get("email") or subject)
        return ExternalIdentity(
            subject=subject,
            username=username,
            email=str(claims.get("email", "")),
            name=str(claims.get("name", username)),
            roles=tuple(roles_from_groups(groups, self.role_map)),
            organizations=tuple(_strings(claims.get(self.organizations_claim))),
            expires_at=float(claims["exp"]) if isinstance(claims.get("exp"), int | float) else None,
        )

    def _key(self, kid: str) -> jwt.PyJWK:
        with self._lock:
            stale = self.monotonic() - self._fetched > JWKS_TTL
            may_refetch = self.monotonic() - self._fetched > REFETCH_INTERVAL
            if stale or (kid not in self._keys and may_refetch):
                self._fetch()
            key = self._keys.get(kid)
            if key is None and len(self._keys) == 1 and not kid:
                key = next(iter(self._keys.values()))
            if key is None:
                raise OidcError("the token's signing key is not in the issuer's JWKS")
            return key

    def _fetch(self) -> None:
        try:
            response = requests.get(self.jwks_url, timeout=5)
            response.raise_for_status()
            keys = jwt.PyJWKSet.from_dict(response.json())
        except (requests.RequestException, ValueError, jwt.PyJWTError) as error:
            self.last_error = f"JWKS unavailable ({type(error).__name__})"
            self._fetched = self.monotonic()  # do not hammer a failing issuer
            raise OidcError("the issuer's keys are unavailable") from None
        self._keys = {key.key_id or "": key for key in keys.keys}
        self._fetched = self.monotonic()
        self.last_error = None

    def health(self) -> dict[str, Any]:
        state: dict[str, Any] = {"status": "healthy" if self.last_error is None else "degraded"}
        if self.last_error:
            state["error"] = self.last_error
        return state


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [part for part in value.replace(",", " ").split() if part]
    if isinstance(value, list):
        return [str(item) for item in value]
    return []
