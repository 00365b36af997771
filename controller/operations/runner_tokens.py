"""Tokens a CI job uses to report its steps: one operation, until that operation ends.

An HS256 JWT with its own audience (`cloud-runner`) and a key derived from the service's
secret for this one use, so it can never pass as a user's access token (nor the reverse).
Its subject is the operation id; it carries the deployment and environment, and expires
after the longest an operation may run. The events endpoint also refuses it once the
operation has ended: a token outliving its operation is worth nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

AUDIENCE = "cloud-runner"
ALGORITHM = "HS256"


class RunnerTokenError(ValueError):
    """The token is not a valid runner token (or not for this operation)."""


@dataclass
class RunnerTokens:
    secret: bytes
    issuer: str
    clock: Callable[[], float]
    ttl: int = 6 * 3600  # GitHub's longest job; an operation's jobs run in layers within it

    def __post_init__(self) -> None:
        self._key = hmac.new(self.secret, b"cloud runner tokens v1", hashlib.sha256).digest()

    def issue(self, operation_id: str, deployment_id: str, environment: str) -> str:
        now = int(self.clock())
        claims = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": operation_id,
            "dep": deployment_id,
            "env": environment,
            "iat": now,
            "nbf": now - 5,
            "exp": now + self.ttl,
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def verify(self, token: str, operation_id: str) -> dict[str, Any]:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=self.issuer,
                options={"require": ["iss", "aud", "sub", "exp", "iat"]},
                leeway=0,
            )
        except jwt.ExpiredSignatureError:
            raise RunnerTokenError("the runner token expired") from None
        except jwt.PyJWTError:
            raise RunnerTokenError("not a runner token of this service") from None
        if claims["sub"] != operation_id:
            raise RunnerTokenError(f"the runner token is for another operation, not {operation_id}")
        return claims
