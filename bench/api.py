"""Benchmark: `GET /api/v1/deployments` with an API key, 50 concurrent clients, 10 s.

The service runs as `cloud serve` (uvicorn, its structured access log on, rate limiting
on with a tier high enough not to refuse) on loopback in its own process, over a copy of
this repo's catalog; the load comes from another process: `wrk` when it is installed,
else an asyncio + httpx generator. Prints requests/s, p50 and p99 latency, and the
share of non-2xx answers (which must be zero for the figures to mean anything).

    python bench/api.py                       # 50 clients, 10 s, 1 worker
    python bench/api.py --workers 2 --tool python --duration 5

wrk runs one thread by default (BENCH_WRK_THREADS): on a 2-core machine that leaves one
core to the load and one to the server, so the tail measures the server rather than the
OS scheduler juggling three busy threads on two cores. BENCH_VERBOSE=1 prints wrk's
report; BENCH_KEEP_LOG=FILE keeps the server's log (its access log has each request's
in-app duration).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import serving

REPO = Path(__file__).resolve().parents[1]
PATH = "/api/v1/deployments"
TARGET_RPS, TARGET_P99_MS = 1000.0, 50.0
UNTHROTTLED = {"minute": 100_000_000, "hour": None, "day": None}
WRK_THREADS = int(os.environ.get("BENCH_WRK_THREADS", "1"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--tool", choices=("auto", "wrk", "python"), default="auto")
    args = parser.parse_args()
    tool = args.tool if args.tool != "auto" else ("wrk" if shutil.which("wrk") else "python")

    with tempfile.TemporaryDirectory(prefix="cloud-bench-") as scratch:
        root = Path(scratch) / "repo"
        for folder in ("stacks", "deployments"):
            shutil.copytree(
                REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__")
            )
        env = {
            **os.environ,
            "CLOUD_REPO_ROOT": str(root),
            "CLOUD_DATA_DIR": str(Path(scratch) / ".cloud"),
            "CLOUD_ENGINE": "simulate",
            "CLOUD_LOG_LEVEL": "info",
            # the limiter runs on every request; this tier is just too high to refuse any
            "CLOUD_RATE_LIMIT_TIERS": json.dumps({"enterprise": UNTHROTTLED}),
        }
        key = create_api_key(env)
        port = serving.free_port()
        log = Path(scratch) / "serve.log"
        with log.open("wb") as output:
            server = subprocess.Popen(
                [sys.executable, "-m", "controller.cli.main", "serve", "--port", str(port),
                 "--workers", str(args.workers)],
                env=env, cwd=root, stdout=output, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            serving.wait_until_up(url, server, log)
            warm(url, key)
            print(
                f"GET {PATH} with an API key: {args.connections} clients, {args.duration:g} s, "
                f"{args.workers} worker(s), load from {tool}"
            )
            if tool == "wrk":
                rps, p50, p99, errors, total = run_wrk(url, key, args.connections, args.duration)
            else:
                rps, p50, p99, errors, total = run_python(url, key, args.connections, args.duration)
        finally:
            server.terminate()
            server.wait(timeout=20)
        access_lines = sum(1 for line in log.open("rb") if line.startswith(b'{"timestamp"'))
        if os.environ.get("BENCH_KEEP_LOG"):
            shutil.copy(log, os.environ["BENCH_KEEP_LOG"])
    print(f"requests/s: {rps:,.0f}   p50: {p50:.2f} ms   p99: {p99:.2f} ms")
    print(f"requests: {total:,}   non-2xx or errors: {errors}   access-log lines: {access_lines:,}")
    ok = rps >= TARGET_RPS and p99 < TARGET_P99_MS and errors == 0
    verdict = "met" if ok else "MISSED"
    print(f"target (>= {TARGET_RPS:,.0f} req/s, p99 < {TARGET_P99_MS:g} ms): {verdict}")
    return 0 if ok else 1


def create_api_key(env: dict[str, str]) -> str:
    """The bench user's key, in the store the server's settings name."""
    os.environ.update({k: v for k, v in env.items() if k.startswith("CLOUD_")})
    from controller.service.settings import load_settings

    settings, problems = load_settings()
    assert settings is not None, problems
    return serving.create_api_key(settings.resolved_database(), ("CompanyA", "CompanyB"))


def warm(url: str, key: str) -> None:
    with httpx.Client(base_url=url, headers={"X-API-Key": key}) as client:
        for _ in range(200):
            response = client.get(PATH)
            assert response.status_code == 200, response.text


# --- load generators ------------------------------------------------------------------------


def run_wrk(
    url: str, key: str, connections: int, duration: float
) -> tuple[float, float, float, int, int]:
    output = subprocess.run(
        ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{int(duration)}s", "--latency",
         "-H", f"X-API-Key: {key}", url + PATH],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    if os.environ.get("BENCH_VERBOSE"):
        print(output)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+([\d.]+\w+)", output).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+([\d.]+\w+)", output).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    errors = 0
    if match := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        errors += int(match.group(1))
    if match := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    ):
        errors += sum(int(n) for n in match.groups())
    return rps, p50, p99, errors, total


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_python(
    url: str, key: str, connections: int, duration: float
) -> tuple[float, float, float, int, int]:
    """The same load from asyncio keep-alive connections, in a process of its own."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        latencies, errors, elapsed = pool.apply(_generate, (url, key, connections, duration))
    latencies.sort()
    total = len(latencies) + errors

    def pick(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    return len(latencies) / elapsed, pick(0.50), pick(0.99), errors, total


def _generate(
    url: str, key: str, connections: int, duration: float
) -> tuple[list[float], int, float]:
    """A minimal HTTP/1.1 client on asyncio streams: httpx itself would be the bottleneck."""
    host, port = url.removeprefix("http://").split(":")
    request = f"GET {PATH} HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {key}\r\n\r\n".encode()

    async def client(stop: float, out: list[float], bad: list[int]) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.perf_counter() < stop:
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
                await reader.readexactly(length)
                if head.startswith(b"HTTP/1.1 200"):
                    out.append(time.perf_counter() - started)
                else:
                    bad.append(1)
        finally:
            writer.close()

    async def run() -> tuple[list[float], int, float]:
        out: list[float] = []
        bad: list[int] = []
        begun = time.perf_counter()
        stop = begun + duration
        await asyncio.gather(*(client(stop, out, bad) for _ in range(connections)))
        return out, len(bad), time.perf_counter() - begun

    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
