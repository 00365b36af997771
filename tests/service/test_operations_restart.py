"""The service killed (SIGKILL) in the middle of a local operation, then started again."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.service.serving import free_port, start_service
from tests.service.test_cli_service import PASSWORD, add_user, data_dir  # noqa: F401

D1 = "/api/v1/deployments/D1BRV40"


def wait_for(check, timeout: float = 90.0, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def checkout(checkout: Path, monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> Path:  # noqa: F811
    """The shared checkout, with its first administrator."""
    assert add_user(monkeypatch, checkout, "admin", "--role", "Administrator") == 0
    return checkout


def test_a_killed_service_reports_the_operation_interrupted_and_a_retry_finishes_it(
    checkout: Path, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    process = start_service(checkout, port, log, CLOUD_OPERATION_PARALLEL="2")
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

    # the same store, a new process
    process = start_service(checkout, port, log, CLOUD_OPERATION_PARALLEL="2")
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
