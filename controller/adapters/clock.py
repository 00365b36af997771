"""The clock, behind a seam: wall time for timestamps, monotonic time for durations."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

_second: tuple[int, str] = (-1, "")
_MILLISECONDS = tuple(f".{ms:03d}Z" for ms in range(1000))


def iso_at(epoch: float) -> str:
    """ISO 8601 UTC with milliseconds: the format of every timestamp the API returns.

    Every request stamps a few of these; the seconds part is formatted once per second,
    the milliseconds' text is looked up.
    """
    global _second
    second = int(epoch)
    cached = _second
    if cached[0] != second:
        cached = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
        _second = cached
    return cached[1] + _MILLISECONDS[int((epoch - second) * 1000)]


def epoch_of(iso: str) -> float:
    """The epoch seconds of an ISO 8601 timestamp (`iso_at`'s inverse; `Z` is UTC)."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


class Clock(Protocol):
    def now(self) -> str: ...

    def monotonic(self) -> float: ...


class SystemClock:
    def now(self) -> str:
        """ISO 8601 UTC with milliseconds, as the seeds' events carry."""
        return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    def monotonic(self) -> float:
        return time.monotonic()
