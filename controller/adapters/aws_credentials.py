"""Cloud credentials for one deployment environment: GitHub's OIDC token traded at STS.

A job with `permissions: id-token: write` asks GitHub for an OIDC token (audience
`sts.amazonaws.com`) and trades it with `AssumeRoleWithWebIdentity` for short-lived
credentials of the environment's role, in the environment's own account. No long-lived
secret exists, and the role's trust policy decides which repository, branch and GitHub
environment may assume it. The credentials go to that environment's engine only (its
Pulumi processes), never into the job's environment, so a job that runs several
environments keeps each in its own account; they are renewed before they expire.

The same calls `aws-actions/configure-aws-credentials` makes, done here because one job
may need a different role per environment. Both endpoints are faked with `responses` in
the tests.
"""

from __future__ import annotations

import re
import threading
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import requests

AUDIENCE = "sts.amazonaws.com"
STS_VERSION = "2011-06-15"
SESSION_SECONDS = 3600
RENEW_BEFORE = 600.0  # seconds: a stack started now gets credentials good for 10 minutes+
MAX_BODY = 64 * 1024
_NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"


class CredentialError(RuntimeError):
    """No credentials for a role; the message says what to fix."""


@dataclass(frozen=True)
class AwsCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expires_at: float  # epoch seconds

    def env(self, region: str) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
        }


def sts_endpoint(region: str) -> str:
    suffix = ".amazonaws.com.cn" if region.startswith("cn-") else ".amazonaws.com"
    return f"https://sts.{region}{suffix}/"


def session_name(*parts: str) -> str:
    """An STS session name (what CloudTrail shows): `[\\w+=,.@-]`, at most 64."""
    name = re.sub(r"[^\w+=,.@-]", "-", "-".join(p for p in parts if p))
    return name[:64] or "cloud"


@dataclass
class OidcRoleBroker:
    """Assumes roles with the job's GitHub OIDC token."""

    request_url: str
    request_token: str
    session: requests.Session = field(default_factory=requests.Session)
    duration: int = SESSION_SECONDS
    clock: Callable[[], float] = time.time

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OidcRoleBroker | None:
        """The broker of a GitHub Actions job with `id-token: write`, else None."""
        url = env.get("ACTIONS_ID_TOKEN_REQUEST_URL", "")
        token = env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "")
        if not (url and token):
            return None
        seconds = int(env.get("CLOUD_ROLE_SESSION_SECONDS") or SESSION_SECONDS)
        return cls(url, token, duration=max(900, min(seconds, 43_200)))

    def id_token(self) -> str:
        separator = "&" if "?" in self.request_url else "?"
        try:
            answer = self.session.get(
                f"{self.request_url}{separator}audience={AUDIENCE}",
                headers={"Authorization": f"bearer {self.request_token}"},
                timeout=30,
            )
        except requests.RequestException as error:
            raise CredentialError(f"GitHub's OIDC token service: {error}") from None
        if answer.status_code != 200:
            raise CredentialError(
                f"GitHub's OIDC token service answered {answer.status_code}; the job needs "
                "permissions: id-token: write"
            )
        value = (answer.json() or {}).get("value")
        if not isinstance(value, str) or not value:
            raise CredentialError("GitHub's OIDC token service answered without a token")
        return value

    def assume(self, role_arn: str, *, region: str, name: str) -> AwsCredentials:
        token = self.id_token()
        try:
            answer = self.session.post(
                sts_endpoint(region),
                data={
                    "Action": "AssumeRoleWithWebIdentity",
                    "Version": STS_VERSION,
                    "RoleArn": role_arn,
                    "RoleSessionName": session_name(name),
                    "WebIdentityToken": token,
                    "DurationSeconds": str(self.duration),
                },
                timeout=30,
            )
        except requests.RequestException as error:
            raise CredentialError(f"assuming {role_arn}: STS unreachable: {error}") from None
        body = answer.content[:MAX_BODY]
        if answer.status_code != 200:
            raise CredentialError(f"assuming {role_arn}: {_sts_error(body, answer.status_code)}")
        return _credentials(body, role_arn)


def _sts_error(body: bytes, status: int) -> str:
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return f"STS answered {status}"
    code = root.findtext(f".//{_NS}Code") or root.findtext(".//Code") or str(status)
    message = root.findtext(f".//{_NS}Message") or root.findtext(".//Message") or ""
    hint = (
        " (check the role's trust policy: it must trust token.actions.githubusercontent.com "
        "for this repository and GitHub environment)"
        if code == "AccessDenied"
        else ""
    )
    return f"STS answered {status} {code}: {message}{hint}"


def _credentials(body: bytes, role_arn: str) -> AwsCredentials:
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise CredentialError(f"assuming {role_arn}: STS did not answer XML") from None
    found = root.find(f".//{_NS}Credentials")
    values = {
        name: (found.findtext(f"{_NS}{name}") if found is not None else None) or ""
        for name in ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")
    }
    if not all(values.values()):
        raise CredentialError(f"assuming {role_arn}: STS answered without credentials")
    expires = datetime.fromisoformat(values["Expiration"].replace("Z", "+00:00")).timestamp()
    return AwsCredentials(
        values["AccessKeyId"], values["SecretAccessKey"], values["SessionToken"], expires
    )


class RoleCredentials:
    """The credentials of one role for one engine: assumed on first use, and again when
    they are about to expire (the engine asks before each stack operation)."""

    def __init__(self, broker: OidcRoleBroker, role_arn: str, *, region: str, name: str):
        self.broker = broker
        self.role_arn = role_arn
        self.region = region
        self.name = name
        self._lock = threading.Lock()
        self._held: AwsCredentials | None = None

    def __call__(self) -> dict[str, str]:
        with self._lock:
            held = self._held
            if held is None or held.expires_at - self.broker.clock() < RENEW_BEFORE:
                held = self.broker.assume(self.role_arn, region=self.region, name=self.name)
                self._held = held
        return held.env(self.region)
