"""What the benchmarks that run `cloud serve` share: a port, a bench user with an API key,
and waiting for the server to answer."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Sequence
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


def create_api_key(database: Path, organizations: Sequence[str]) -> str:
    """A Developer of the enterprise tier in `organizations`, and its API key (reads
    deployments), in the store at `database`."""
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
