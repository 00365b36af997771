"""`cloud logs`: the local store's operation log (what the logs endpoint serves), a running
service's with `--url`/`--api-key`, and `--follow` printing a deploy that runs in another
process while it runs."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from controller.cli.main import main
from tests.conftest import REPO_ROOT
from tests.service.conftest import HarnessFactory
from tests.service.serving import free_port, start_service

PASSWORD = "a long enough password"


def cloud_process(root: Path, *argv: str, **env: str) -> subprocess.Popen[str]:
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1", **env}
    return subprocess.Popen(
        [sys.executable, "-m", "controller.cli.main", "--root", str(root), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )


class Follower:
    """A `cloud` process whose lines a thread reads as they come."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def until(self, done: str, *, timeout: float, watch: Any = None) -> list[tuple[str, bool]]:
        """Lines until one contains `done`, each with whether `watch` (another process) was
        still running when it arrived."""
        seen: list[tuple[str, bool]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                break
            seen.append((line.rstrip("\n"), watch is not None and watch.poll() is None))
            if done in line:
                return seen
        raise AssertionError(f"no {done!r} within {timeout}s; saw: {seen[-5:]}")

    def stop(self) -> str:
        """End it (a follow runs until interrupted); its standard error."""
        self.process.terminate()
        self.process.wait(timeout=10)
        self.reader.join(timeout=10)
        assert self.process.stdout is not None and self.process.stderr is not None
        self.process.stdout.close()
        error = self.process.stderr.read()
        self.process.stderr.close()
        return error


def test_cloud_logs_is_the_endpoints_logs(
    checkout: Path, make_harness: HarnessFactory, capsys
) -> None:
    argv = ["deploy", "D1BRV40", "-e", "dev", "--engine", "simulate", "--stacks", "network"]
    assert main(["--root", str(checkout), *argv]) == 0
    capsys.readouterr()
    harness = make_harness(repo_root=checkout, database=checkout / ".cloud" / "cloud.db")
    for query in ({"limit": "50"}, {"level": "info", "stack": "network"},
                  {"search": "deploy success"}, {"since": "1h", "limit": "3"}):  # fmt: skip
        reply = harness.client.get(
            "/api/v1/deployments/D1BRV40/logs",
            params={"environment": "dev", **query},
            headers=harness.bearer(),
        )
        assert reply.status_code == 200, reply.text
        options = [part for key, value in query.items() for part in (f"--{key}", value)]
        code = main(["--root", str(checkout), "logs", "D1BRV40", "-e", "dev", *options,
                     "--format", "json"])  # fmt: skip
        out, _ = capsys.readouterr()
        assert code == 0
        assert json.loads(out) == reply.json()["data"], query
    assert main(["--root", str(checkout), "logs", "D1BRV40", "--stack", "network"]) == 0
    text = capsys.readouterr().out
    assert "info  [dev] network: stack network started (layer 1)" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["--since", "yesterday"], "since must be a range", id="bad-since"),
        pytest.param(["--limit", "0"], "must be between 1 and 1000", id="bad-limit"),
        pytest.param(["--url", "http://127.0.0.1:9"], "needs an API key", id="no-key"),
    ],
)
def test_bad_log_queries_are_usage_errors(checkout: Path, capsys, argv, message) -> None:
    with pytest.raises(SystemExit) if "--limit" in argv else _nothing() as raised:
        code = main(["--root", str(checkout), "logs", "D1BRV40", *argv])
    err = capsys.readouterr().err
    assert (raised.value.code if raised else code) == 2  # type: ignore[union-attr]
    assert message in err


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return False


def test_follow_prints_a_deploy_running_in_another_process_as_it_happens(checkout: Path) -> None:
    follower = Follower(cloud_process(checkout, "logs", "D1BRV40", "-e", "dev", "--follow"))
    try:
        time.sleep(1.0)  # following before anything ran: it waits for the first operation
        deploy = cloud_process(checkout, "deploy", "D1BRV40", "-e", "dev", "--engine",
                               "simulate", "--stacks", "network,security")  # fmt: skip
        seen = follower.until("deploy success", timeout=120, watch=deploy)
        _, err = deploy.communicate(timeout=60)
        assert deploy.returncode == 0, err
    finally:
        follower.stop()
    texts = [line for line, _ in seen]
    started = next(i for i, t in enumerate(texts) if "network: stack network started" in t)
    assert "deploy started by" in texts[0]
    assert any("security: stack security" in t for t in texts[started:])
    # printed while the deploy was still running, not after
    assert seen[started][1] is True


@pytest.fixture
def service(checkout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    import io

    monkeypatch.setenv("CLOUD_DATA_DIR", str(tmp_path / "service-data"))
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["--root", str(checkout), "users", "add", "admin", "--role", "Administrator",
                 "--password-stdin"]) == 0  # fmt: skip
    port = free_port()
    process = start_service(
        checkout, port, tmp_path / "serve.log", CLOUD_DATA_DIR=str(tmp_path / "service-data")
    )
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            token = http.post(
                "/api/v1/auth/login", json={"username": "admin", "password": PASSWORD}
            ).json()["data"]["accessToken"]
            key = http.post(
                "/api/v1/auth/api-keys",
                json={
                    "name": "logs",
                    "permissions": ["deployments:read", "deployments:deploy", "logs:read"],
                },
                headers={"Authorization": f"Bearer {token}"},
            ).json()["data"]["apiKey"]
        yield url, key
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_logs_of_a_running_service_follow_its_deploy(service: Any, checkout: Path) -> None:
    url, key = service
    argv = ["logs", "D1BRV40", "-e", "dev", "--follow", "--format", "json"]
    follower = Follower(cloud_process(checkout, *argv, CLOUD_URL=url, CLOUD_API_KEY=key))
    errors = ""
    try:
        time.sleep(1.0)
        started = httpx.post(
            f"{url}/api/v1/deployments/D1BRV40/deploy",
            json={"environment": "dev", "stackFilter": ["network"]},
            headers={"X-API-Key": key},
            timeout=30,
        )
        assert started.status_code == 202, started.text
        operation = started.json()["data"]["operationId"]
        seen = follower.until("operation.completed", timeout=120)
    finally:
        errors = follower.stop()
    assert "Traceback" not in errors
    entries = [json.loads(line) for line, _ in seen]
    assert {entry["operationId"] for entry in entries} == {operation}
    assert entries[0]["type"] == "operation.started"
    assert ("stack.started", "network") in [(e["type"], e["stack"]) for e in entries]
    done = subprocess.run(
        [sys.executable, "-m", "controller.cli.main", "--root", str(checkout), "logs", "D1BRV40",
         "--url", url, "--api-key", key, "--operation", operation, "--format", "json"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["deploymentId"] == "D1BRV40" and data["returned"] == len(data["logs"]) >= 4
    wrong = subprocess.run(
        [sys.executable, "-m", "controller.cli.main", "--root", str(checkout), "logs", "D1BRV40",
         "--url", url, "--api-key", "nope"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        check=False,
    )  # fmt: skip
    assert wrong.returncode == 2 and "the service answered 401" in wrong.stderr


# one simulated deploy of the default deployment's network stack, reported as JSON
DEPLOY_NETWORK = ["deploy", "D1BRV40", "-e", "dev", "--engine", "simulate",
                  "--stacks", "network", "--format", "json"]  # fmt: skip


def test_a_cli_deploy_is_an_operation_the_service_serves(
    checkout: Path, make_harness: HarnessFactory, capsys
) -> None:
    assert main(["--root", str(checkout), *DEPLOY_NETWORK]) == 0
    report = json.loads(capsys.readouterr().out)
    harness = make_harness(repo_root=checkout, database=checkout / ".cloud" / "cloud.db")
    served = harness.client.get(
        f"/api/v1/deployments/D1BRV40/operations/{report['operationId']}",
        headers=harness.bearer(),
    )
    assert served.status_code == 200, served.text
    data = served.json()["data"]
    assert (data["status"], data["type"], data["dispatcher"]) == ("success", "deploy", "cli")
    assert data["startedBy"].endswith("(cli)")
    done = {s["name"] for s in data["completedStacks"]}
    assert "network" in done


def test_with_a_database_url_the_cli_records_in_the_services_postgresql(
    checkout: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from controller.store import open_store

    monkeypatch.setenv("CLOUD_DATABASE_URL", postgres_url)
    assert main(["--root", str(checkout), *DEPLOY_NETWORK]) == 0
    report = json.loads(capsys.readouterr().out)
    assert not (checkout / ".cloud" / "cloud.db").exists()  # not the embedded file
    store = open_store(postgres_url)
    try:
        operation = store.get_operation(report["operationId"])
    finally:
        store.close()
    assert operation is not None and operation.status == "success"
    assert main(["--root", str(checkout), "logs", "D1BRV40", "-e", "dev", "--format", "json"]) == 0
    logs = json.loads(capsys.readouterr().out)
    assert {entry["operationId"] for entry in logs["logs"]} == {report["operationId"]}
