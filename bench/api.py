"""Benchmark: `GET /api/v1/deployments` with an API key, against a bare Starlette floor.

For each store (SQLite, and PostgreSQL when a server can be started: `scripts/postgres.py`
starts a throwaway one, or give `--database-url`), `cloud serve` runs on loopback in its
own process (uvicorn, its structured access log on, rate limiting on with a tier too high
to refuse) over a copy of this repo's catalog, and the load comes from another process:
`wrk` when it is installed, else an asyncio generator. Right after, on the same port
range and the same uvicorn with the same options, `bench/bare.py` serves the bytes
`cloud serve` answered, after one constant-time compare of the key: the floor. Both stay
up while the load alternates between them (`--rounds`, 5 by default, of `--duration` /
rounds seconds each), so other work on the machine weighs on both alike. Prints
requests/s, the median round's p50 and p99 of both, and the ratio cloud / bare (this
machine is shared: absolute numbers move, the ratio much less), and on Linux the share
of CPU time the hypervisor took meanwhile (steal): on a busy host vCPUs wait, and the
p99 of both servers with them. Each round is a wrk run that opens its connections at
once, and the slowest answers of a run come in its first tenth of a second: the more
rounds in the same duration, the higher both servers' p99.

    python bench/api.py                       # both stores, 50 clients, 10 s, 1 worker
    python bench/api.py --stores sqlite --tool python --duration 5

Target: ratio >= 0.5 and p99 <= 50 ms for every store, with no non-2xx answer. wrk runs
one thread by default (BENCH_WRK_THREADS): on a 2-core machine that leaves one core to
the load and one to the server. BENCH_VERBOSE=1 prints wrk's report; BENCH_KEEP_LOG=DIR
keeps the servers' logs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import serving

REPO = Path(__file__).resolve().parents[1]
PATH = "/api/v1/deployments"
TARGET_RATIO, TARGET_P99_MS = 0.5, 50.0
STEAL_WARNING = 0.05  # the hypervisor's share of CPU time above which p99 is the host's
UNTHROTTLED = {"minute": 100_000_000, "hour": None, "day": None}
WRK_THREADS = int(os.environ.get("BENCH_WRK_THREADS", "1"))


@dataclass(frozen=True)
class Figures:
    rps: float
    p50: float
    p99: float
    errors: int
    total: int

    def line(self, name: str) -> str:
        return (
            f"  {name:<16} {self.rps:>9,.0f} req/s   p50 {self.p50:6.2f} ms   "
            f"p99 {self.p99:6.2f} ms   requests {self.total:,}   non-2xx/errors {self.errors}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per server")
    parser.add_argument("--rounds", type=int, default=5, help="alternations cloud/bare")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--tool", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--stores", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument("--database-url", help="a PostgreSQL database to use (else one is started)")
    parser.add_argument(
        "--paced-bare", type=float, default=0.0, metavar="US",
        help="also load a bare app that spends US µs of CPU per request (a control: the "
        "same stack at cloud's pace; the floor and the ratio stay the plain bare app's)",
    )  # fmt: skip
    args = parser.parse_args()
    tool = args.tool if args.tool != "auto" else ("wrk" if shutil.which("wrk") else "python")
    stores = [name.strip() for name in args.stores.split(",") if name.strip()]
    load = os.getloadavg()
    print(
        f"GET {PATH} with an API key: {args.connections} connections, {args.duration:g} s each, "
        f"{args.workers} worker(s), load from {tool}; load average before: "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores"
    )
    ok = True
    for store in stores:
        with database_for(store, args.database_url) as url:
            if url is None:
                print(f"{store}: PostgreSQL could not be started here: skipped")
                ok = False
                continue
            print(f"{store}:")
            rounds, paced = measure(args, tool, database_url=url)
        cloud = combined([c for c, _ in rounds])
        bare = combined([b for _, b in rounds])
        ratio = cloud.rps / bare.rps if bare.rps else 0.0
        met = (
            ratio >= TARGET_RATIO
            and cloud.p99 <= TARGET_P99_MS
            and cloud.errors == bare.errors == 0
        )
        ok = ok and met
        print(cloud.line("cloud serve"))
        print(bare.line("bare Starlette"))
        each = "  ".join(f"{c.rps / b.rps:.2f}" for c, b in rounds if b.rps)
        print(
            f"  ratio cloud/bare: {ratio:.3f} (rounds: {each})   "
            f"target (ratio >= {TARGET_RATIO:g}, p99 <= {TARGET_P99_MS:g} ms): "
            f"{'met' if met else 'MISSED'}"
        )
        if paced:
            print(combined(paced).line(f"bare +{args.paced_bare:g} us"))
            print("  (the control: bare Starlette at about cloud's pace, same uvicorn and load)")
    return 0 if ok else 1


def combined(slices: list[Figures]) -> Figures:
    """Rounds of one server as one: requests over time, the median round's percentiles."""
    seconds = sum(f.total / f.rps for f in slices if f.rps)
    total = sum(f.total for f in slices)
    return Figures(
        total / seconds if seconds else 0.0,
        statistics.median(f.p50 for f in slices),
        statistics.median(f.p99 for f in slices),
        sum(f.errors for f in slices),
        total,
    )


def measure(
    args: argparse.Namespace, tool: str, *, database_url: str
) -> tuple[list[tuple[Figures, Figures]], list[Figures]]:
    """Both servers up side by side; the load alternates between them, round by round,
    so that whatever else the machine does weighs on both alike."""
    with tempfile.TemporaryDirectory(prefix="cloud-bench-") as folder:
        scratch = Path(folder)
        env = prepared_env(scratch, database_url)
        key = create_api_key(env)
        command = [sys.executable, "-m", "controller.cli.main", "serve", "--workers",
                   str(args.workers)]  # fmt: skip
        with serving.running(command, env, scratch / "repo", scratch / "cloud.log") as cloud_url:
            body = warm(cloud_url, key)
            body_file = scratch / "body.json"
            body_file.write_bytes(body)
            bare_env = {**os.environ, "BENCH_BARE_BODY": str(body_file), "BENCH_BARE_KEY": key}
            bare_command = [sys.executable, str(Path(__file__).with_name("bare.py"))]
            paced_env = {**bare_env, "BENCH_BARE_SPIN_US": str(args.paced_bare)}
            with (
                serving.running(
                    bare_command, bare_env, scratch, scratch / "bare.log", port_flag=False
                ) as bare_url,
                contextlib.ExitStack() as optional,
            ):
                paced_url = (
                    optional.enter_context(
                        serving.running(
                            bare_command,
                            paced_env,
                            scratch,
                            scratch / "paced.log",
                            port_flag=False,
                        )
                    )
                    if args.paced_bare
                    else None
                )
                warm(bare_url, key)
                if paced_url:
                    warm(paced_url, key)
                rounds, paced = [], []
                before = cpu_times()
                for _ in range(args.rounds):
                    cloud = load(tool, cloud_url, key, args)
                    bare = load(tool, bare_url, key, args)
                    rounds.append((cloud, bare))
                    if paced_url:
                        paced.append(load(tool, paced_url, key, args))
                stolen = steal_share(before, cpu_times())
        cpu = {
            kind: cpu_per_request(kind, key, {**env, **bare_env}, scratch / "repo")
            for kind in ("cloud", "bare")
        }
    print(
        f"  CPU per request in process (no network, no uvicorn): cloud {cpu['cloud']:.1f} us, "
        f"bare {cpu['bare']:.1f} us"
    )
    if stolen is not None:
        print(
            f"  CPU time taken by the hypervisor (steal) during the load: {stolen:.1%}"
            + (
                ": the machine's host, not the servers, sets much of the latency"
                if stolen >= STEAL_WARNING
                else ""
            )
        )
    return rounds, paced


def cpu_times() -> list[int] | None:
    """The machine's CPU time counters (`/proc/stat`: user … steal), or None off Linux."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    return [int(field) for field in fields[1:9]] if fields[:1] == ["cpu"] else None


def steal_share(before: list[int] | None, after: list[int] | None) -> float | None:
    """The share of CPU time the hypervisor gave to others between two readings: on a
    virtual machine whose host is busy, vCPUs wait for it, and so does every request."""
    if before is None or after is None or len(before) < 8 or len(after) < 8:
        return None
    spent = [later - earlier for earlier, later in zip(before, after, strict=True)]
    total = sum(spent)
    return spent[7] / total if total > 0 else None


def cpu_per_request(kind: str, key: str, env: dict[str, str], cwd: Path) -> float:
    """bench/inprocess.py's figure, in a process of its own."""
    script = Path(__file__).with_name("inprocess.py")
    output = subprocess.run(
        [sys.executable, str(script), kind, key, "5000"],
        env=env, cwd=cwd, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return float(output.strip().splitlines()[-1])


@contextlib.contextmanager
def database_for(store: str, given: str | None) -> Iterator[str | None]:
    """ "" for SQLite (the default file), a PostgreSQL URL, or None: none could be had."""
    if store == "sqlite":
        yield ""
        return
    if store != "postgresql":
        raise SystemExit(f"unknown store {store!r}: sqlite or postgresql")
    with serving.postgres_database(given) as url:
        yield url


def prepared_env(scratch: Path, database_url: str) -> dict[str, str]:
    root = scratch / "repo"
    for folder in ("stacks", "deployments"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    env = {
        **os.environ,
        "CLOUD_REPO_ROOT": str(root),
        "CLOUD_DATA_DIR": str(scratch / ".cloud"),
        "CLOUD_ENGINE": "simulate",
        "CLOUD_LOG_LEVEL": "info",
        # the limiter runs on every request; this tier is just too high to refuse any
        "CLOUD_RATE_LIMIT_TIERS": json.dumps({"enterprise": UNTHROTTLED}),
    }
    if database_url:
        env["CLOUD_DATABASE_URL"] = database_url
    return env


def create_api_key(env: dict[str, str]) -> str:
    """The bench user's key, in the store the server's settings name."""
    saved = dict(os.environ)
    os.environ.update({k: v for k, v in env.items() if k.startswith("CLOUD_")})
    try:
        from controller.service.settings import load_settings

        settings, problems = load_settings()
        assert settings is not None, problems
        target = getattr(settings, "store_target", settings.resolved_database)()  # older code
        return serving.create_api_key(target, ("CompanyA", "CompanyB"))
    finally:
        os.environ.clear()
        os.environ.update(saved)


def warm(url: str, key: str) -> bytes:
    with httpx.Client(base_url=url, headers={"X-API-Key": key}) as client:
        for _ in range(200):
            response = client.get(PATH)
            assert response.status_code == 200, response.text
    return response.content


def load(tool: str, url: str, key: str, args: argparse.Namespace) -> Figures:
    seconds = max(1.0, args.duration / args.rounds)
    if tool == "wrk":
        return run_wrk(url, key, args.connections, seconds)
    return run_python(url, key, args.connections, seconds)


# --- load generators ------------------------------------------------------------------------


def run_wrk(url: str, key: str, connections: int, duration: float) -> Figures:
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
    return Figures(rps, p50, p99, errors, total)


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_python(url: str, key: str, connections: int, duration: float) -> Figures:
    """The same load from asyncio keep-alive connections, in a process of its own."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        latencies, errors, elapsed = pool.apply(_generate, (url, key, connections, duration))
    latencies.sort()

    def pick(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    total = len(latencies) + errors
    return Figures(len(latencies) / elapsed, pick(0.50), pick(0.99), errors, total)


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
