"""Benchmark: `GET /deployments/:id/logs` on a long history, filter by filter.

Fills a fresh store with a deployment's history (200,000 events by default: 200
operations over three environments, progress lines and the rest, spread over four weeks)
and times `read_logs`, what the endpoint runs, for the newest 100 entries under each of
the seeds' filters. The store applies environment, stack, operation, time and level (by
event type) itself; `search` needs every rendered line.

    python bench/logs.py [--events N]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from controller.operations.log_lines import LogFilter
from controller.service.endpoints.logs import read_logs
from controller.store.base import EventRecord, OperationRecord
from controller.store.sqlite import open_store

KINDS = ["stack.progress"] * 6 + ["stack.started", "stack.completed", "log", "log"]
STACKS = ["network", "dns", "security", "database-rds", "services-api", "monitoring"]
FILTERS = [
    {},
    {"environment": "prod"},
    {"stack": "network"},
    {"since": "2026-11-25T00:00:00Z"},
    {"level": "info"},
    {"level": "warn", "environment": "prod"},
    {"search": "nat gateway"},
    {"search": "nat gateway", "since": "2026-11-25T00:00:00Z"},
]


def fill(store, count: int) -> None:
    chooser = random.Random(1)
    operations = max(1, count // 1000)
    for n in range(operations):
        environment = ("dev", "stage", "prod")[n % 3]
        store.create_operation(
            OperationRecord(f"op-{n:08x}", "D1BRV40", environment, "deploy", "success",
                            "2026-11-01T00:00:00.000Z", "2026-11-01T00:00:00.000Z", "bench")
        )  # fmt: skip
    records = []
    for i in range(count):
        n = i * operations // count
        kind = chooser.choice(KINDS)
        payload = {"stackName": chooser.choice(STACKS), "progress": i % 100}
        if kind == "log":
            payload["level"] = chooser.choice(["info", "info", "warning"])
            payload["message"] = chooser.choice(["Creating VPC", "NAT gateway ready"])
        day = 1 + i * 28 // count
        at = f"2026-11-{day:02d}T{i % 24:02d}:00:00.000Z"
        environment = ("dev", "stage", "prod")[n % 3]
        records.append(EventRecord(f"op-{n:08x}", "D1BRV40", environment, kind, at, None, payload))
    for record in records:
        store.append_event(record)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        store = open_store(Path(scratch) / "store.db")
        started = time.perf_counter()
        fill(store, args.events)
        print(f"{args.events:,} events stored in {time.perf_counter() - started:.1f} s")
        for given in FILTERS:
            log_filter = LogFilter.build(now=time.time(), **given)
            started = time.perf_counter()
            entries, total, _ = read_logs(store, "D1BRV40", log_filter, limit=100)
            seconds = time.perf_counter() - started
            label = " ".join(f"{key}={value}" for key, value in given.items()) or "(none)"
            print(f"  {label:<45} {seconds * 1000:8.1f} ms  {total:>8,} matched, "
                  f"{len(entries)} returned")  # fmt: skip
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
