"""`cloud serve` as a real process on loopback, for the tests that need one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import REPO_ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_service(root: Path, port: int, log: Path, **env: str) -> subprocess.Popen[bytes]:
    """`cloud serve --port port` on the checkout `root` with the simulated engine (and the
    `CLOUD_…` values of `env`), its output appended to `log`; returns once it answers."""
    environment = {**os.environ, "CLOUD_ENGINE": "simulate", "PYTHONPATH": str(REPO_ROOT), **env}
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "controller.cli.main", "serve", "--port", str(port)],
            cwd=root,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "cloud serve did not start"
        time.sleep(0.1)
