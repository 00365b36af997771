"""The floor of `bench/api.py`: a bare Starlette app on the same uvicorn, with nothing of ours.

It answers `GET /api/v1/deployments` with the bytes `cloud serve` answered (read from
`BENCH_BARE_BODY`) after one constant-time compare of `X-API-Key` with `BENCH_BARE_KEY`:
what any authenticated JSON endpoint costs at the least on this server stack. Run as
`python bench/bare.py PORT`; the uvicorn options are those of `cloud serve`.

`BENCH_BARE_SPIN_US=N` (only for `bench/api.py --paced-bare N`, never the floor) spends N
µs of CPU per request first: the same stack at about `cloud serve`'s pace, to tell what
of cloud's latency is the pace rather than its code.
"""

from __future__ import annotations

import hmac
import os
import sys
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BODY = open(os.environ["BENCH_BARE_BODY"], "rb").read()  # noqa: SIM115 - read once at start
KEY = os.environ["BENCH_BARE_KEY"].encode()
SPIN = float(os.environ.get("BENCH_BARE_SPIN_US", "0")) / 1e6


async def deployments(request: Request) -> Response:
    if SPIN:
        end = time.perf_counter() + SPIN
        while time.perf_counter() < end:
            pass
    presented = request.headers.get("x-api-key", "").encode()
    if not hmac.compare_digest(presented, KEY):
        return Response(b'{"success":false}', status_code=401, media_type="application/json")
    return Response(BODY, media_type="application/json")


async def health(request: Request) -> Response:
    return Response(b'{"status":"healthy"}', media_type="application/json")


app = Starlette(routes=[Route("/api/v1/deployments", deployments), Route("/health", health)])


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        access_log=False,
        proxy_headers=False,  # as cloud serve runs uvicorn: the same work per request
        ws_per_message_deflate=False,
    )
