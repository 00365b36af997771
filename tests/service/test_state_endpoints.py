"""What is deployed, read through the API: status, outputs, resources, metrics, state."""

from __future__ import annotations

import pytest

from controller.core.state_views import REDACTED
from tests.service.test_operations_local import D1, local, wait_until_done


@pytest.fixture
def deployed(make_harness, checkout):
    harness = local(make_harness, checkout)
    admin = harness.bearer()
    body = {
        "environment": "dev",
        "stackFilter": ["network", "dns", "security", "secrets", "authentication"],
    }
    data = harness.client.post(f"{D1}/deploy", json=body, headers=admin).json()["data"]
    assert wait_until_done(harness, data["statusUrl"], admin)["status"] == "success"
    harness.operation = data["operationId"]
    return harness


def get(harness, url, **headers):
    answer = harness.client.get(url, headers=headers or harness.bearer())
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def test_a_stack_status_says_what_is_deployed_by_whom(deployed):
    status = get(deployed, f"{D1}/stacks/network/status?environment=dev")
    assert status["status"] == "deployed" and status["simulated"] is True
    assert status["lastOperationId"] == deployed.operation
    assert status["lastDeployedBy"] == "admin@example.com"
    assert status["outputs"]["vpcId"].startswith("vpc-")
    assert status["resourceCount"] == len(status["resources"]) > 0
    assert status["deploymentDuration"] is not None and status["pendingOperations"] == 0
    never = get(deployed, f"{D1}/stacks/monitoring/status?environment=dev")
    assert never["status"] == "not_deployed" and never["resources"] == []
    missing = deployed.client.get(
        f"{D1}/stacks/no-such/status?environment=dev", headers=deployed.bearer()
    )
    assert missing.status_code == 404


def test_outputs_and_resources_hide_secrets(deployed):
    outputs = get(deployed, f"{D1}/outputs?environment=dev")["outputs"]
    assert set(outputs) == {"network", "dns", "security", "secrets", "authentication"}
    assert outputs["authentication"]["clientSecret"] == REDACTED
    one = get(deployed, f"{D1}/outputs?environment=dev&stack=network")["outputs"]
    assert list(one) == ["network"]
    resources = get(deployed, f"{D1}/stacks/network/resources?environment=dev")
    assert {r["type"] for r in resources["resources"]} >= {"aws:ec2/vpc:Vpc"}
    assert all(not r["type"].startswith("pulumi:") for r in resources["resources"])


def test_exported_state_is_redacted_and_cannot_be_imported_back(deployed):
    exported = get(deployed, f"{D1}/state/export?environment=dev&stack=authentication")
    text = str(exported["state"])
    assert REDACTED in text and "plaintext" not in text
    admin = deployed.bearer()
    back = deployed.client.post(
        f"{D1}/state/import",
        json={"environment": "dev", "stack": "authentication", "state": exported["state"]},
        headers=admin,
    )
    assert back.status_code == 400 and "redacted secrets" in back.text
    engine = deployed.services.engine()
    from tests.service.test_operations_local import _spec

    real = engine.export_state(_spec(deployed, "network"))
    real["deployment"]["pending_operations"] = [{"type": "creating", "resource": {"urn": "u"}}]
    refused = deployed.client.post(
        f"{D1}/state/import",
        json={"environment": "dev", "stack": "network", "state": real},
        headers=admin,
    )
    assert refused.status_code == 409 and "pending operation" in refused.text
    forced = deployed.client.post(
        f"{D1}/state/import",
        json={"environment": "dev", "stack": "network", "state": real, "force": True},
        headers=admin,
    )
    assert forced.status_code == 200, forced.text
    assert engine.pending_operations(_spec(deployed, "network"))
    status = get(deployed, f"{D1}/stacks/network/status?environment=dev")
    assert status["status"] == "needs_repair"
    sync = deployed.client.post(f"{D1}/state/sync", json={"environment": "dev"}, headers=admin)
    assert sync.status_code == 200, sync.text
    assert sync.json()["data"]["stacksSynced"] == 4 and sync.json()["data"]["conflicts"] == 1
    kinds = [op.type for op in deployed.store.list_operations()]
    assert kinds.count("import") == 1 and kinds.count("sync") == 1  # recorded, locked


def test_import_waits_for_no_operation(deployed):
    admin = deployed.bearer()
    started = deployed.client.post(f"{D1}/deploy", json={"environment": "dev"}, headers=admin)
    running = started.json()["data"]["operationId"]
    engine = deployed.services.engine()
    from tests.service.test_operations_local import _spec

    state = engine.export_state(_spec(deployed, "network"))
    answer = deployed.client.post(
        f"{D1}/state/import",
        json={"environment": "dev", "stack": "network", "state": state},
        headers=admin,
    )
    assert answer.status_code == 423, answer.text  # seeds/001 RESOURCE_LOCKED
    error = answer.json()["error"]
    assert error["code"] == "RESOURCE_LOCKED" and error["details"]["lockedBy"] == running
    assert error["details"]["lockType"] == "deploy" and error["details"]["lockedAt"]
    wait_until_done(deployed, started.json()["data"]["statusUrl"], admin)


def test_metrics_count_the_deploys_of_the_period(deployed):
    metrics = get(deployed, f"{D1}/metrics?environment=dev&period=1h")["metrics"]
    assert metrics["deployments"]["total"] == 1 and metrics["deployments"]["successful"] == 1
    assert metrics["resources"]["created"] > 0
    assert {row["name"] for row in metrics["stacks"]} == {
        "network",
        "dns",
        "security",
        "secrets",
        "authentication",
    }
    assert all(row["successRate"] == 100 for row in metrics["stacks"])
    other = get(deployed, f"{D1}/metrics?environment=stage")["metrics"]
    assert other["deployments"]["total"] == 0
