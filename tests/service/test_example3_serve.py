"""seeds/001 "Example 3" against `cloud serve`: the document's client (bench/example3.py,
its JavaScript line for line) prints a duration and a resource count for every stack that
completed, and never `undefined`, on a first deploy and on a second one that skips all.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bench.example3 import deploy_and_monitor
from tests.service.serving import free_port, start_service
from tests.service.test_cli_service import PASSWORD, add_user, data_dir  # noqa: F401

COMPLETED = r"^✓ \[[a-z0-9-]+\] Completed in \d+(\.\d+)?s \(\d+ resources\)$"


def test_example_3_prints_what_each_stack_took_and_made(
    checkout: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,  # noqa: F811
) -> None:
    import re

    assert add_user(monkeypatch, checkout, "admin", "--role", "Administrator") == 0
    port = free_port()
    process = start_service(checkout, port, tmp_path / "serve.log")
    try:
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, timeout=30) as http:
            token = http.post(
                "/api/v1/auth/login", json={"username": "admin", "password": PASSWORD}
            ).json()["data"]["accessToken"]
            key = http.post(
                "/api/v1/auth/api-keys",
                json={"name": "example 3",
                      "permissions": ["deployments:read", "deployments:deploy"]},
                headers={"Authorization": f"Bearer {token}"},
            ).json()["data"]["apiKey"]  # fmt: skip
        for run in ("first", "second"):
            lines: list[str] = []
            status = deploy_and_monitor(
                f"{url}/api/v1", f"ws://127.0.0.1:{port}/ws", key, "D1BRV40", "dev",
                out=lines.append,
            )  # fmt: skip
            assert status == "success", lines
            printed = "\n".join(lines)
            assert "undefined" not in printed, printed
            completed = [line for line in lines if line.startswith("✓")]
            assert all(re.match(COMPLETED, line) for line in completed), completed
            if run == "first":
                assert len(completed) == 16  # every stack ran, and said how long and what
            else:
                assert completed == []  # nothing ran: nothing announced as completed
            assert re.search(r"Deployment success in \d+(\.\d+)?s", printed)
    finally:
        process.terminate()
        process.wait(timeout=30)
