"""Two `cloud serve` replicas on one PostgreSQL database, as a team runs the service.

Each replica is a real process (uvicorn, the local dispatcher, the simulated engine) on
its own port; they share the database (CLOUD_DATABASE_URL), the signing secret and the
checkout. What one replica starts, the other reports and streams; their operation lock
is one; a replica killed in the middle of an operation is noticed by the other, which
reports it interrupted and can retry it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.service.serving import free_port, start_service
from tests.service.test_cli_service import PASSWORD, add_user, data_dir  # noqa: F401
from tests.service.test_operations_restart import wait_for

D1 = "/api/v1/deployments/D1BRV40"
SECRET = "replicas-share-this-signing-secret-" + "x" * 16


@dataclass
class Replica:
    url: str
    process: subprocess.Popen[bytes]
    http: httpx.Client

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws"


@pytest.fixture
def replicas(
    checkout: Path,
    tmp_path: Path,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,  # noqa: F811
) -> Iterator[tuple[Replica, Replica]]:
    env = {
        "CLOUD_DATABASE_URL": postgres_url,
        "CLOUD_JWT_SECRET": SECRET,
        "CLOUD_OPERATION_PARALLEL": "2",
        "CLOUD_OPERATION_LEASE_SECONDS": "10",  # the dead are looked for every ~3 s
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert add_user(monkeypatch, checkout, "admin", "--role", "Administrator") == 0
    started: list[Replica] = []
    try:
        for name in ("a", "b"):
            port = free_port()
            process = start_service(checkout, port, tmp_path / f"replica-{name}.log", **env)
            url = f"http://127.0.0.1:{port}"
            started.append(Replica(url, process, httpx.Client(base_url=url, timeout=20)))
        token = (
            started[0]
            .http.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
            .json()["data"]["accessToken"]
        )
        for replica in started:  # a token issued by one replica is good on the other
            replica.http.headers["Authorization"] = f"Bearer {token}"
        yield started[0], started[1]
    finally:
        for replica in started:
            replica.http.close()
            if replica.process.poll() is None:
                replica.process.terminate()
                replica.process.wait(timeout=30)


def finished(replica: Replica, status_url: str) -> dict:
    return wait_for(
        lambda: (
            (d := replica.http.get(status_url).json()["data"])["status"]
            not in ("pending", "in_progress")
            and d
        ),
        what=f"{status_url} to finish",
    )


def test_a_deploy_started_on_one_replica_is_polled_and_streamed_on_the_other(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    token = a.http.headers["Authorization"].removeprefix("Bearer ")
    messages: list[dict] = []
    subscribed = threading.Event()
    channel: list[str] = []

    def follow() -> None:  # seeds/001 Example 3, on replica b
        with connect(b.ws_url, open_timeout=10) as ws:
            ws.send(json.dumps({"type": "authenticate", "token": token}))
            assert json.loads(ws.recv(10))["type"] == "authenticated"
            subscribed.wait(30)
            ws.send(json.dumps({"type": "subscribe", "channel": channel[0]}))
            while True:
                message = json.loads(ws.recv(60))
                messages.append(message)
                if message["type"] == "operation.completed":
                    return

    follower = threading.Thread(target=follow)
    follower.start()
    started = a.http.post(f"{D1}/deploy", json={"environment": "dev", "stackFilter": ["network"]})
    assert started.status_code == 202, started.text
    data = started.json()["data"]
    channel.append(f"deployments/D1BRV40/operations/{data['operationId']}")
    subscribed.set()
    final = finished(b, data["statusUrl"])  # seeds/001 Example 1, polled on replica b
    follower.join(60)
    assert not follower.is_alive()
    assert final["status"] == "success", final
    kinds = [m["type"] for m in messages if m["type"] != "subscribed"]
    assert kinds[0] == "operation.started" and kinds[-1] == "operation.completed"
    assert "stack.completed" in kinds
    assert {m["data"]["operationId"] for m in messages if "data" in m} == {data["operationId"]}


def test_fifty_concurrent_deploys_over_both_replicas_start_exactly_one(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    statuses: list[tuple[int, dict]] = []
    gate = threading.Barrier(50)

    def deploy(replica: Replica) -> None:
        gate.wait(30)
        response = replica.http.post(
            f"{D1}/deploy", json={"environment": "dev", "stackFilter": ["network"]}
        )
        statuses.append((response.status_code, response.json()))

    threads = [threading.Thread(target=deploy, args=((a, b)[n % 2],)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    codes = sorted(code for code, _ in statuses)
    assert codes == [202] + [409] * 49, codes
    refused = {body["error"]["code"] for code, body in statuses if code == 409}
    assert refused == {"OPERATION_IN_PROGRESS"}
    winner = next(body for code, body in statuses if code == 202)["data"]
    assert finished(a, winner["statusUrl"])["status"] == "success"


def test_a_replica_killed_mid_operation_is_reported_interrupted_by_the_other_which_retries(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    started = a.http.post(f"{D1}/deploy", json={"environment": "dev"})
    assert started.status_code == 202, started.text
    status_url = started.json()["data"]["statusUrl"]

    def midway() -> dict | None:
        data = b.http.get(status_url).json()["data"]
        done = [s for s in data["completedStacks"] if s["status"] == "deployed"]
        return data if len(done) >= 3 and data["currentStacks"] else None

    before = wait_for(midway, what="three stacks deployed and one running")
    a.process.send_signal(signal.SIGKILL)
    a.process.wait(timeout=10)

    after = finished(b, status_url)  # replica b notices, without any restart of a
    assert after["status"] == "failed", after
    assert after["error"]["code"] == "OPERATION_INTERRUPTED"
    deployed_before = {s["name"] for s in before["completedStacks"] if s["status"] == "deployed"}
    deployed_after = {s["name"] for s in after["completedStacks"] if s["status"] == "deployed"}
    assert deployed_before <= deployed_after  # nothing recorded before the kill is lost
    interrupted = [s for s in after["completedStacks"] if s["status"] == "failed"]
    assert interrupted and all("interrupted" in s["error"] for s in interrupted)

    retry = b.http.post(f"/api/v1/operations/{after['operationId']}/retry")
    assert retry.status_code == 202, retry.text
    rerun = {s["name"] for s in retry.json()["data"]["stacksToDeploy"]}
    assert rerun and not rerun & deployed_after  # only what did not complete
    assert finished(b, retry.json()["data"]["statusUrl"])["status"] == "success"
