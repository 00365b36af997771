"""Rate limits: the seeds' tiers, counted per user or API key, or per client address.

Signed-in callers are counted per API key (a CI key does not eat its owner's budget) or
per user, in their tier's minute, hour and day windows (`seeds/000…`). Anonymous
requests are counted per client address; the sign-in routes and failed credentials have
a stricter budget of their own, so passwords and keys cannot be guessed at speed. Every
response carries `X-RateLimit-Limit | Remaining | Reset | Tier` for the window closest
to running out; a refusal is a 429 with `Retry-After`.

Counters are fixed windows, counted in this process's memory (a dict lookup per window:
the store is not written per request) and shared through the store: every
`CLOUD_RATE_LIMIT_SYNC_SECONDS` (1 s) a background thread adds this process's new hits to
the store's counters and reads back the totals, which every replica and worker counts
from. So a limit holds across replicas, give or take what the others let through since
their last sync: at most one sync interval of traffic per other replica.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from starlette.types import ASGIApp, Receive, Scope, Send

from controller.service.auth.authentication import AUTH_ERROR, PRINCIPAL, Principal
from controller.service.http.errors import RATE_LIMIT_EXCEEDED, ApiError
from controller.service.periodic import Periodic
from controller.store.base import RateWindow, Store

WINDOWS = {"minute": 60, "hour": 3600, "day": 86_400}
HEADERS = "cloud.ratelimit_headers"

TIERS: dict[str, dict[str, int | None]] = {
    "free": {"minute": 60, "hour": 1_000, "day": 10_000},
    "standard": {"minute": 300, "hour": 10_000, "day": 100_000},
    "enterprise": {"minute": 1_000, "hour": 50_000, "day": None},
}
TIER_NAMES = tuple(TIERS)


class Decision(NamedTuple):  # one per request: a tuple is the cheapest record to build
    allowed: bool
    limit: int
    remaining: int
    reset: int  # epoch seconds when the binding window resets
    window: str
    retry_after: int


class FixedWindowLimiter:
    """Counts hits per key in fixed windows. The decisions are purely computational (the
    caller gives `now`); `sync` shares the counts with other processes through the store."""

    def __init__(self) -> None:
        self._pending: dict[RateWindow, int] = {}  # hits not yet added to the store's
        self._totals: dict[RateWindow, int] = {}  # the store's counts at the last sync
        self._lock = threading.Lock()
        self._hits = 0

    def hit(self, key: str, limits: Mapping[str, int | None], now: float) -> Decision:
        binding: tuple[int, int, int, str] | None = None  # (remaining, limit, reset, window)
        windows = []
        pending, totals = self._pending, self._totals
        for window, limit in limits.items():
            if limit is None:
                continue
            length = WINDOWS[window]
            start = int(now - (now % length))
            counter = (key, length, start)
            windows.append(counter)
            remaining = limit - totals.get(counter, 0) - pending.get(counter, 0) - 1
            if remaining < 0:  # the first window that is spent refuses
                reset = start + length
                return Decision(False, limit, 0, reset, window, math.ceil(reset - now))
            if binding is None or remaining < binding[0]:
                binding = (remaining, limit, start + length, window)
        with self._lock:
            pending = self._pending  # a sync may have swapped it meanwhile
            for counter in windows:
                pending[counter] = pending.get(counter, 0) + 1
        self._hits += 1
        if self._hits % 10_000 == 0:
            self._prune(now)
        if binding is None:  # no finite window: unlimited
            return Decision(True, 0, 0, 0, "none", 0)
        remaining, limit, reset, window = binding
        return Decision(True, limit, remaining, reset, window, math.ceil(reset - now))

    def sync(self, store: Store, now: float) -> None:
        """Add the hits counted here since the last sync to the store's counters, and take
        the totals (everyone's) of the windows in use. Runs off the event loop."""
        with self._lock:
            sent, self._pending = self._pending, {}
        live = [counter for counter in self._totals if counter[2] + counter[1] > now]
        try:
            totals = store.add_rate_hits(sent, watch=live, forget_before=int(now) - 60)
        except Exception:
            with self._lock:  # counted again next time: nothing is lost
                for counter, count in sent.items():
                    self._pending[counter] = self._pending.get(counter, 0) + count
            raise
        self._totals = {c: n for c, n in totals.items() if c[2] + c[1] > now}

    def _prune(self, now: float) -> None:
        with self._lock:
            self._pending = {c: n for c, n in self._pending.items() if c[2] + c[1] > now}
        self._totals = {c: n for c, n in self._totals.items() if c[2] + c[1] > now}


class SharedCounts(Periodic):
    """The background task that syncs a limiter's counts through the store."""

    name = "rate limits: sharing the counts through the store"

    def __init__(
        self,
        limiter: FixedWindowLimiter,
        store: Store,
        *,
        every: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(every)
        self.limiter = limiter
        self.store = store
        self.clock = clock

    def tick(self) -> None:
        self.limiter.sync(self.store, self.clock())

    async def stop(self) -> None:
        running = self._thread is not None
        await super().stop()
        if running:
            await asyncio.to_thread(self.round)  # what this process counted last


def tier_limits(
    overrides: Mapping[str, Mapping[str, int | None]],
) -> dict[str, dict[str, int | None]]:
    """The seeds' tiers with `CLOUD_RATE_LIMIT_TIERS` applied (a tier may be added)."""
    merged = {name: dict(limits) for name, limits in TIERS.items()}
    for name, limits in overrides.items():
        merged.setdefault(name, {}).update(limits)
    return merged


@dataclass(frozen=True)
class Policy:
    tiers: Mapping[str, Mapping[str, int | None]]
    anonymous_per_minute: int
    auth_per_minute: int
    auth_paths: frozenset[str]

    def anonymous(self) -> dict[str, int | None]:
        return {**self.tiers["free"], "minute": self.anonymous_per_minute}

    def sign_in(self) -> dict[str, int | None]:
        return {"minute": self.auth_per_minute, "hour": self.auth_per_minute * 30}


class RateLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        policy: Policy,
        limiter: FixedWindowLimiter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.policy = policy
        self.limiter = limiter or FixedWindowLimiter()
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _self_authenticated(scope["path"]):
            # GitHub's deliveries and CI jobs' reports prove themselves (a signature, an
            # operation's token); their bursts must not be refused as anonymous traffic
            await self.app(scope, receive, send)
            return
        now = self.clock()
        client = (scope.get("client") or ("unknown", 0))[0]
        principal: Principal | None = scope.get(PRINCIPAL)
        auth_error: ApiError | None = scope.get(AUTH_ERROR)
        if principal is not None:
            key = f"key:{principal.key_id}" if principal.key_id else f"user:{principal.user_id}"
            tier = principal.tier if principal.tier in self.policy.tiers else "standard"
            decision = self.limiter.hit(key, self.policy.tiers[tier], now)
        else:
            tier = "anonymous"
            decision = self.limiter.hit(f"ip:{client}", self.policy.anonymous(), now)
        if decision.allowed and (auth_error is not None or scope["path"] in self.policy.auth_paths):
            # sign-ins and failed credentials also count against the address's stricter budget
            tier = "auth"
            decision = self.limiter.hit(f"auth:{client}", self.policy.sign_in(), now)
        headers = _headers(decision, tier)
        scope[HEADERS] = headers
        if not decision.allowed:
            raise ApiError(
                429,
                RATE_LIMIT_EXCEEDED,
                f"Rate limit exceeded. Try again in {decision.retry_after} seconds.",
                details={
                    "limit": decision.limit,
                    "window": f"1 {decision.window}",
                    "resetAt": _iso(decision.reset),
                },
                headers={"Retry-After": str(max(decision.retry_after, 1))},
            )
        if auth_error is not None:
            raise auth_error
        await self.app(scope, receive, send)


def _self_authenticated(path: str) -> bool:
    return path.startswith("/webhooks/") or (
        path.startswith("/api/v1/operations/") and path.endswith("/events")
    )


def _headers(decision: Decision, tier: str) -> list[tuple[bytes, bytes]]:
    if decision.window == "none":
        return [(b"x-ratelimit-tier", tier.encode())]
    return [
        (b"x-ratelimit-limit", b"%d" % decision.limit),
        (b"x-ratelimit-remaining", b"%d" % decision.remaining),
        (b"x-ratelimit-reset", b"%d" % decision.reset),
        (b"x-ratelimit-tier", tier.encode()),
    ]


def _iso(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
