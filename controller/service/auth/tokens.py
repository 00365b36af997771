"""Credentials: password hashes, access tokens (JWT), refresh tokens and API keys.

- Passwords: scrypt (a memory-hard KDF from the standard library), salted, parameters
  stored with the hash so they can be raised later.
- Access tokens: HS256 JWTs with iss, aud, sub, sid (the session), iat, nbf, exp and jti;
  verification pins the algorithm and requires every one of those claims.
- Refresh tokens and API keys: high-entropy random strings, so a SHA-256 of them is a
  safe stored form and checking one costs a hash, not a KDF. Each carries a lookup id
  (`rt_<id>.…`, `msk_live_<lookup>…`) so it is found by index and then compared in
  constant time. The plaintext is shown once and never stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jwt

from controller.adapters.private_files import private_dir

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
API_KEY_PREFIX = "msk_live_"
API_KEY_LOOKUP_LENGTH = 12
_API_KEY_SECRET_LENGTH = 43  # token_urlsafe(32)
_URLSAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
JWT_ALGORITHM = "HS256"
SECRET_FILE = "jwt-secret"


# --- passwords ------------------------------------------------------------------------------


def hash_password(password: str, *, n: int = SCRYPT_N) -> str:
    salt = os.urandom(16)
    derived = _scrypt(password, salt, n, SCRYPT_R, SCRYPT_P)
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(derived)}"


def verify_password(password: str, encoded: str | None) -> bool:
    """Constant-time check; an unknown user is checked against a dummy hash all the same."""
    target = encoded or _dummy_hash()
    try:
        scheme, n, r, p, salt, expected = target.split("$")
        if scheme != "scrypt":
            return False
        derived = _scrypt(password, _unb64(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(derived, _unb64(expected)) and encoded is not None


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=128 * 1024 * 1024
    )


@cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- random secrets -------------------------------------------------------------------------


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def same_digest(secret: str, expected: str) -> bool:
    return hmac.compare_digest(digest(secret), expected)


@dataclass(frozen=True)
class NewSecret:
    plaintext: str
    lookup: str
    digest: str


def new_api_key() -> NewSecret:
    lookup = secrets.token_hex(API_KEY_LOOKUP_LENGTH // 2)
    plaintext = API_KEY_PREFIX + lookup + secrets.token_urlsafe(32)
    return NewSecret(plaintext, lookup, digest(plaintext))


def api_key_lookup(presented: str) -> str | None:
    """The lookup id of a well-formed API key, None for anything else."""
    body = presented.removeprefix(API_KEY_PREFIX)
    if body == presented or len(body) != API_KEY_LOOKUP_LENGTH + _API_KEY_SECRET_LENGTH:
        return None
    if not set(body) <= _URLSAFE:
        return None
    return body[:API_KEY_LOOKUP_LENGTH]


def new_refresh_token() -> NewSecret:
    token_id = secrets.token_hex(8)
    plaintext = f"rt_{token_id}.{secrets.token_urlsafe(32)}"
    return NewSecret(plaintext, token_id, digest(plaintext))


def refresh_token_id(presented: str) -> str | None:
    head, dot, _ = presented.partition(".")
    if not dot or not head.startswith("rt_") or len(head) != 19:
        return None
    return head[3:]


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(8)}"


# --- access tokens --------------------------------------------------------------------------


class AccessTokens:
    """Issues and verifies the service's own access tokens."""

    REQUIRED = ("exp", "iat", "nbf", "iss", "aud", "sub", "sid", "jti")

    def __init__(
        self,
        secret: bytes,
        *,
        issuer: str,
        audience: str,
        ttl: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.secret = secret
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl
        self.clock = clock

    def issue(
        self,
        *,
        user_id: str,
        session_id: str,
        username: str,
        kind: str = "access",
        ttl: int | None = None,
        claims: dict[str, Any] | None = None,
    ) -> str:
        """A signed token of `kind`: `access` (a bearer), `service` (a bearer scoped to
        one deployment, seeds/004) or `id` (who signed in, seeds/001's idToken: never a
        bearer)."""
        now = int(self.clock())
        payload = {
            **(claims or {}),
            "iss": self.issuer,
            "aud": self.audience,
            "sub": user_id,
            "sid": session_id,
            "name": username,
            "typ": kind,
            "iat": now,
            "nbf": now,
            "exp": now + (ttl if ttl is not None else self.ttl),
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(payload, self.secret, algorithm=JWT_ALGORITHM)

    def verify(self, token: str, *, kinds: tuple[str, ...] = ("access",)) -> dict[str, Any]:
        """The claims of a valid token of one of `kinds`; PyJWT's exceptions otherwise."""
        claims = jwt.decode(
            token,
            self.secret,
            algorithms=[JWT_ALGORITHM],
            audience=self.audience,
            issuer=self.issuer,
            options={
                "require": list(self.REQUIRED),
                # the time claims are checked below, against this service's clock
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
        now = self.clock()
        if not all(isinstance(claims[name], int | float) for name in ("exp", "nbf", "iat")):
            raise jwt.InvalidTokenError("time claims must be numbers")
        if claims["exp"] + 5 <= now:
            raise jwt.ExpiredSignatureError("Signature has expired")
        if claims["nbf"] - 5 > now:
            raise jwt.ImmatureSignatureError("The token is not yet valid (nbf)")
        if claims.get("typ") not in kinds:
            raise jwt.InvalidTokenError("not an access token")
        return claims


def load_or_create_secret(data_dir: Path) -> bytes:
    """The JWT signing secret under the data folder, created once with mode 0600."""
    path = data_dir / SECRET_FILE
    private_dir(data_dir, tighten=data_dir.name == ".cloud")
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            os.chmod(path, 0o600)  # tighten a copy made with a loose umask
        secret = path.read_text(encoding="ascii").strip()
        if len(secret) < 32:
            raise ValueError(
                f"{SECRET_FILE} under the data folder is too short; delete it"
            ) from None
        return secret.encode("ascii")
    with os.fdopen(descriptor, "w", encoding="ascii") as stream:
        stream.write(secrets.token_urlsafe(48) + "\n")
    return load_or_create_secret(data_dir)
