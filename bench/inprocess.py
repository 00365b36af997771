"""CPU time per request of an ASGI app called in process: no network, no uvicorn, no load
generator. `bench/api.py` prints it beside the HTTP figures: CPU time is what a request
costs even when the shared machine is busy (wall-clock figures move with the others'
load, this barely does).

    python bench/inprocess.py cloud KEY [N]   # the app `cloud serve` runs, from CLOUD_…
    python bench/inprocess.py bare KEY [N]    # bench/bare.py (BENCH_BARE_BODY, _KEY)

Prints the microseconds of CPU per `GET /api/v1/deployments`, after a warm-up, lifespan
(and so the background tasks) running as in the server.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import Any

PATH = "/api/v1/deployments"


def main() -> int:
    kind, key = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 5000
    app = _app(kind)
    print(f"{asyncio.run(measure(app, key, count)):.1f}")
    return 0


def _app(kind: str) -> Any:
    if kind == "bare":
        sys.path.insert(0, str(Path(__file__).parent))
        from bare import app

        return app
    from controller.cli.service_commands import log_config
    from controller.service.app import create_app

    logging.config.dictConfig(log_config("info"))
    logging.getLogger("cloud.access").handlers = [logging.NullHandler()]
    return create_app()


async def measure(app: Any, key: str, count: int) -> float:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": PATH, "raw_path": PATH.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", b"bench"), (b"x-api-key", key.encode())],
        "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000),
    }  # fmt: skip
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    lifespan: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    started = asyncio.Event()

    async def lifespan_send(message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()

    await lifespan.put({"type": "lifespan.startup"})
    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}},
                                   lifespan.get, lifespan_send))  # fmt: skip
    await asyncio.wait_for(started.wait(), 60)
    for _ in range(500):
        await app(dict(scope), receive, send)
    began = time.process_time()
    for _ in range(count):
        await app(dict(scope), receive, send)
    spent = time.process_time() - began
    await lifespan.put({"type": "lifespan.shutdown"})
    await asyncio.wait_for(task, 60)
    if set(statuses) != {200}:
        raise SystemExit(f"answers other than 200: {sorted(set(statuses))}")
    return spent / count * 1e6


if __name__ == "__main__":
    import logging.config

    sys.exit(main())
