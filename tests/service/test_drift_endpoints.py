"""Drift through the API: `POST …/stacks/{stack}/refresh` (seeds/002 2.5), the last check's
result in stack status and in `GET /deployments/{id}`, and `drift.detected` on the
deployment's WebSocket channels, with the simulated engine's cloud changed by hand."""

from __future__ import annotations

from typing import Any

import pytest

from controller.core import rbac
from controller.engines.simulated import SimulatedEngine
from controller.execution.specs import stack_spec
from controller.store.base import LockRecord
from tests.service.event_helpers import receive, token_of
from tests.service.test_operations_local import D1, local, wait_until_done


@pytest.fixture
def deployed(make_harness, checkout):
    harness = local(make_harness, checkout)
    admin = harness.bearer()
    body = {"environment": "dev", "stackFilter": ["network"]}
    data = harness.client.post(f"{D1}/deploy", json=body, headers=admin).json()["data"]
    assert wait_until_done(harness, data["statusUrl"], admin)["status"] == "success"
    return harness


def drift_the_vpc(harness: Any, **properties: Any) -> None:
    """What `cloud sim edit D1BRV40 network -e dev vpc …` does, on the service's engine."""
    engine: SimulatedEngine = harness.services.engine()
    deployment = harness.services.repo.current().snapshot.deployments["D1BRV40"]
    spec = stack_spec(deployment, "network", "dev", repo_root=harness.services.settings.repo_root)
    cloud = engine.cloud.current(spec, engine.export_state(spec)["deployment"]["resources"])
    [urn] = [u for u in cloud if u.endswith("::vpc")]
    cloud[urn]["properties"].update(properties)
    engine.cloud.write(spec, cloud)


def refresh(harness: Any, body: dict[str, Any] | None = None, **headers: str) -> Any:
    return harness.client.post(
        f"{D1}/stacks/network/refresh",
        json=body if body is not None else {"environment": "dev"},
        headers=headers or harness.bearer(),
    )


def test_a_refresh_of_a_stack_in_sync_detects_no_changes(deployed) -> None:
    answer = refresh(deployed, {"environment": "dev", "previewOnly": True})
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert (data["stackName"], data["deploymentId"], data["environment"]) == (
        "network", "D1BRV40", "dev")  # fmt: skip
    assert data["status"] == "refreshed" and data["changesDetected"] is False
    assert data["refreshedAt"].endswith("Z") and data["simulated"] is True
    assert data["drift"] == {"status": "in_sync", "resources": [], "inSync": 16}
    status = deployed.client.get(
        f"{D1}/stacks/network/status?environment=dev", headers=deployed.bearer()
    ).json()["data"]
    assert status["driftDetected"] is False and status["driftCheckedAt"] is not None


def test_drift_is_detected_reported_and_announced(deployed) -> None:
    admin = deployed.bearer()
    detail = deployed.client.get(f"{D1}?environment=dev", headers=admin).json()["data"]
    assert detail["driftDetected"] is None  # never checked
    drift_the_vpc(deployed, enableDnsHostnames=False)
    with deployed.client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "authenticate", "token": token_of(admin)})
        assert receive(ws)["type"] == "authenticated"
        ws.send_json({"type": "subscribe", "channel": "deployments/D1BRV40"})
        assert receive(ws)["type"] == "subscribed"
        answer = refresh(deployed, {"environment": "dev", "previewOnly": True})
        assert answer.status_code == 200, answer.text
        message = receive(ws)
        while message["type"] != "drift.detected":
            message = receive(ws)
    data = answer.json()["data"]
    assert data["changesDetected"] is True and data["driftDetected"] is True
    [resource] = data["drift"]["resources"]
    assert resource["name"] == "vpc" and resource["properties"] == [
        {"name": "enableDnsHostnames", "old": True, "new": False}
    ]
    assert message["channel"] == "deployments/D1BRV40"
    assert message["data"]["stackName"] == "network"
    assert message["data"]["operationId"] == data["operationId"]
    assert message["data"]["resources"] == data["drift"]["resources"]
    status = deployed.client.get(f"{D1}/stacks/network/status?environment=dev", headers=admin)
    assert status.json()["data"]["driftDetected"] is True
    detail = deployed.client.get(f"{D1}?environment=dev", headers=admin).json()["data"]
    assert detail["driftDetected"] is True and detail["driftedStacks"] == ["network"]
    assert {s["name"]: s["driftDetected"] for s in detail["stacks"]}["network"] is True
    operation = deployed.store.get_operation(data["operationId"])
    assert (operation.type, operation.status) == ("refresh", "success")


def test_a_refresh_takes_the_drift_into_the_state_and_the_next_deploy_repairs_it(
    deployed,
) -> None:
    admin = deployed.bearer()
    drift_the_vpc(deployed, cidrBlock="10.99.0.0/16")
    assert refresh(deployed).json()["data"]["changesDetected"] is True  # not preview-only
    started = deployed.client.post(f"{D1}/deploy", json={"environment": "dev",
                                   "stackFilter": ["network"]}, headers=admin)  # fmt: skip
    assert started.status_code == 202, started.text
    plan = {s["name"]: s for s in started.json()["data"]["stacksToDeploy"]}
    assert "drift" in plan["network"]["reason"]
    assert wait_until_done(deployed, started.json()["data"]["statusUrl"], admin)["status"] == (
        "success"
    )
    again = refresh(deployed, {"environment": "dev", "previewOnly": True}).json()["data"]
    assert again["changesDetected"] is False


def test_refresh_needs_a_deployed_stack_the_right_and_a_free_environment(deployed) -> None:
    missing = deployed.client.post(
        f"{D1}/stacks/storage/refresh", json={"environment": "dev"}, headers=deployed.bearer()
    )
    assert missing.status_code == 404
    auditor = deployed.bearer("auditor", (rbac.AUDITOR,))
    assert refresh(deployed, **auditor).status_code == 403
    deployed.store.start_operation(
        _operation(deployed), LockRecord("D1BRV40", "dev", "op-00000000beef", "other", "", "9"), []
    )
    busy = refresh(deployed)
    assert busy.status_code == 409
    assert busy.json()["error"]["code"] == "OPERATION_IN_PROGRESS"


def _operation(harness: Any) -> Any:
    from controller.store.base import OperationRecord

    now = harness.services.now()
    return OperationRecord("op-00000000beef", "D1BRV40", "dev", "deploy", "in_progress", now, now,
                           "someone", payload={"dispatcher": "github"})  # fmt: skip
