"""GitHub's REST API through PyGithub, with GitHub's published retry policy applied once.

PyGithub's own urllib3 retry is turned off so that one policy, ours, decides: wait what
`Retry-After` says; on an exhausted primary limit wait until `x-ratelimit-reset`; on a
secondary limit without a hint wait at least a minute and back off exponentially; retry
5xx with capped, jittered backoff; give up with a message saying what was tried. A 404
and a rejected token are not retried: they are reported as what they are.

The clock and `sleep` are parameters, so tests run the policy without waiting.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from github import Auth, Github
from github.GithubException import (
    BadCredentialsException,
    GithubException,
    UnknownObjectException,
)

T = TypeVar("T")


class GitHubApiError(RuntimeError):
    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class GitHubNotFoundError(GitHubApiError):
    """The thing asked for is not there (or the token may not see it)."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    max_wait: float = 900.0  # never sleep longer than this at once: give up instead
    secondary_wait: float = 60.0
    backoff: float = 1.0
    max_backoff: float = 60.0


@dataclass
class RetryingCaller:
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], float] = time.time
    jitter: Callable[[], float] = random.random

    def call(self, what: str, action: Callable[[], T]) -> T:
        """Run `action`, retrying as GitHub asks; `what` names it in errors."""
        waited = 0.0
        for attempt in range(1, self.policy.max_attempts + 1):
            try:
                return action()
            except BadCredentialsException as error:
                raise GitHubApiError(
                    f"{what}: GitHub rejected the token (401); check "
                    "github-token and its permissions",
                    status=401,
                ) from error
            except UnknownObjectException as error:
                raise GitHubNotFoundError(
                    f"{what}: not found on GitHub (404)", status=404
                ) from error
            except GithubException as error:
                wait = self.wait_for(error, attempt)
                if wait is None:
                    raise GitHubApiError(
                        f"{what}: GitHub answered {error.status}: {_message(error)}",
                        status=error.status,
                    ) from error
                if attempt == self.policy.max_attempts or wait > self.policy.max_wait:
                    raise GitHubApiError(
                        f"{what}: gave up after {attempt} attempt(s) and {waited:.0f}s of "
                        f"waiting; GitHub answered {error.status}: {_message(error)}"
                        + (f" (next retry would wait {wait:.0f}s)" if wait else ""),
                        status=error.status,
                    ) from error
                self.sleep(wait)
                waited += wait
        raise AssertionError("unreachable")  # pragma: no cover

    def wait_for(self, error: GithubException, attempt: int) -> float | None:
        """Seconds to wait before the next attempt, or None if retrying cannot help."""
        headers = {key.lower(): value for key, value in (error.headers or {}).items()}
        status = error.status
        if status in (403, 429):
            if "retry-after" in headers:
                return max(0.0, float(headers["retry-after"]))
            if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
                return max(0.0, float(headers["x-ratelimit-reset"]) - self.now()) + 1
            if status == 429 or "secondary rate limit" in _message(error).lower():
                return self.policy.secondary_wait * 2 ** (attempt - 1)
            return None  # a plain 403: missing permission, not a limit
        if status is not None and status >= 500:
            ceiling = min(self.policy.max_backoff, self.policy.backoff * 2 ** (attempt - 1))
            return ceiling * (0.5 + self.jitter() / 2)
        return None


def _message(error: GithubException) -> str:
    data = error.data
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"])
    return str(data or error.message or "")


def make_github(
    token: str, *, base_url: str = "https://api.github.com", throttle: bool = True
) -> Github:
    """A PyGithub client with its own retry off (ours applies) and lazy objects."""
    return Github(
        auth=Auth.Token(token),
        base_url=base_url,
        retry=None,
        lazy=True,
        per_page=100,
        seconds_between_requests=0.25 if throttle else None,
        seconds_between_writes=1.0 if throttle else None,
    )
