"""The clock, behind a seam: wall time for timestamps, monotonic time for durations."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> str: ...

    def monotonic(self) -> float: ...


class SystemClock:
    def now(self) -> str:
        """ISO 8601 UTC with milliseconds, as the seeds' events carry."""
        return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    def monotonic(self) -> float:
        return time.monotonic()
