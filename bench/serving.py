"""What the benchmarks that run `cloud serve` share: a port, a bench user with an API key,
a server process that is waited for and stopped, and a throwaway PostgreSQL database."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"cloud serve exited:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit("cloud serve did not start in 30 s")


REPO = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def running(
    command: list[str], env: dict[str, str], cwd: Path, log: Path, *, port_flag: bool = True
) -> Iterator[str]:
    """`command` serving on a free port (`--port N`, or N as the last argument) until the
    block ends; its URL. BENCH_KEEP_LOG=DIR keeps its output there."""
    port = free_port()
    with log.open("wb") as output:
        server = subprocess.Popen(
            [*command, "--port", str(port)] if port_flag else [*command, str(port)],
            env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, server, log)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)
        if keep := os.environ.get("BENCH_KEEP_LOG"):
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(log, Path(keep) / f"{log.stem}-{port}.log")


@contextlib.contextmanager
def postgres_database(given: str | None) -> Iterator[str | None]:
    """`given`, or a database on a throwaway server (scripts/postgres.py); None when no
    server can be started here."""
    if given:
        yield given
        return
    sys.path.insert(0, str(REPO))
    from scripts.postgres import PostgresServer, Unavailable

    try:
        server = PostgresServer.start()
    except Unavailable as error:
        print(f"postgresql: {error}")
        yield None
        return
    with server:
        yield server.create_database("bench")


def create_api_key(database: Path | str, organizations: Sequence[str]) -> str:
    """A Developer of the enterprise tier in `organizations`, and its API key (reads
    deployments), in the store at `database` (a SQLite file or a PostgreSQL URL)."""
    from controller.service.auth.tokens import hash_password, new_api_key, new_id
    from controller.service.http.envelope import timestamp
    from controller.store import ApiKeyRecord, UserRecord, open_store

    store = open_store(database)
    now = timestamp()
    user = store.create_user(
        UserRecord(new_id("usr"), "bench", "bench@example.com", "Bench", ("Developer",),
                   tuple(organizations), "enterprise", hash_password("unused password"),
                   "local", False, now, now)
    )  # fmt: skip
    secret = new_api_key()
    store.create_api_key(
        ApiKeyRecord(new_id("key"), user.id, secret.lookup, secret.digest, "bench", "",
                     ("deployments:read",), now, "2999-01-01T00:00:00.000Z", None, None)
    )  # fmt: skip
    store.close()
    return secret.plaintext
