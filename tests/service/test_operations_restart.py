"""The service killed (SIGKILL) in the middle of a local operation, then started again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO_ROOT
from tests.service.test_cli_service import PASSWORD, add_user, data_dir, free_port  # noqa: F401

D1 = "/api/v1/deployments/D1BRV40"


def start_service(root: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CLOUD_ENGINE": "simulate",
        "CLOUD_OPERATION_PARALLEL": "2",
        "PYTHONPATH": str(REPO_ROOT),
    }
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "controller.cli.main", "serve", "--port", str(port)],
            cwd=root,
            env=env,
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


def wait_for(check, timeout: float = 90.0, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def checkout(repo_copy: Path, monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> Path:  # noqa: F811
    for args in (["init", "-q", "-b", "main"], ["add", "."]):
        subprocess.run(["git", *args], cwd=repo_copy, check=True)
    subprocess.run(
        ["git", "-c", "user.name=S", "-c", "user.email=s@example.com", "commit", "-qm", "seed"],
        cwd=repo_copy,
        check=True,
    )
    assert add_user(monkeypatch, repo_copy, "admin", "--role", "Administrator") == 0
    return repo_copy


def test_a_killed_service_reports_the_operation_interrupted_and_a_retry_finishes_it(
    checkout: Path, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    process = start_service(checkout, port, log)
    http = httpx.Client(base_url=url, timeout=10)
    try:
        token = http.post(
            "/api/v1/auth/login", json={"username": "admin", "password": PASSWORD}
        ).json()["data"]["accessToken"]
        http.headers["Authorization"] = f"Bearer {token}"
        started = http.post(f"{D1}/deploy", json={"environment": "dev"})
        assert started.status_code == 202, started.text
        status_url = started.json()["data"]["statusUrl"]

        def midway():
            data = http.get(status_url).json()["data"]
            done = [s for s in data["completedStacks"] if s["status"] == "deployed"]
            return data if len(done) >= 3 and data["currentStacks"] else None

        before = wait_for(midway, what="three stacks deployed and one running")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()

    process = start_service(checkout, port, log)  # the same store, a new process
    try:
        after = wait_for(
            lambda: (d := http.get(status_url).json()["data"])["status"] != "in_progress" and d,
            timeout=30,
            what="the interrupted operation to be reported",
        )
        assert after["status"] == "failed", after
        assert after["error"]["code"] == "OPERATION_INTERRUPTED"
        deployed_before = {
            s["name"] for s in before["completedStacks"] if s["status"] == "deployed"
        }
        deployed_after = {s["name"] for s in after["completedStacks"] if s["status"] == "deployed"}
        assert deployed_before <= deployed_after  # nothing recorded before the kill is lost
        interrupted = [s for s in after["completedStacks"] if s["status"] == "failed"]
        assert interrupted and all("interrupted" in s["error"] for s in interrupted)
        assert http.get("/api/v1/health").status_code == 200

        retry = http.post(f"/api/v1/operations/{after['operationId']}/retry")
        assert retry.status_code == 202, retry.text
        rerun = {s["name"] for s in retry.json()["data"]["stacksToDeploy"]}
        assert rerun and not rerun & deployed_after  # only what did not complete
        retry_url = retry.json()["data"]["statusUrl"]
        final = wait_for(
            lambda: (d := http.get(retry_url).json()["data"])["status"] != "in_progress" and d,
            what="the retry to finish",
        )
        assert final["status"] == "success", final
        check = http.post(f"{D1}/deploy", json={"environment": "dev", "preview": True})
        assert check.status_code == 202
        assert check.json()["data"]["stacksToDeploy"] == []  # every stack is deployed now
    finally:
        http.close()
        process.terminate()
        process.wait(timeout=15)
