"""Statuses come from what the stacks' recorded state says, the same in every answer.

The measured defect (issue 13, item 2): after destroying one stack, the deployment and its
`dev` environment said `destroyed` while 15 of 16 stacks were still deployed, every
`stacks[].status` said `pending`, and a deployment reported `destroyed` refused DELETE with
`DEPLOYMENT_HAS_ACTIVE_STACKS`.
"""

from __future__ import annotations

from tests.service.conftest import HarnessFactory
from tests.service.test_operations_local import D1, local, wait_until_done


def test_destroying_one_stack_leaves_the_deployment_deployed_with_the_rest(
    make_harness: HarnessFactory, checkout
) -> None:
    harness = local(make_harness, checkout, inventory="engine")
    admin = harness.bearer()
    started = harness.client.post(f"{D1}/deploy", json={"environment": "dev"}, headers=admin)
    assert wait_until_done(harness, started.json()["data"]["statusUrl"], admin)["status"] == (
        "success"
    )
    detail = harness.client.get(D1, headers=admin).json()["data"]
    assert detail["status"] == "deployed"
    assert {s["status"] for s in detail["stacks"]} == {"deployed"}
    _has_the_documented_fields_of_a_deployed_deployment(harness, admin, detail)
    destroyed = harness.client.post(
        f"{D1}/stacks/monitoring/destroy", json={"environment": "dev"}, headers=admin
    )
    assert destroyed.status_code == 202, destroyed.text
    done = wait_until_done(harness, destroyed.json()["data"]["statusUrl"], admin)
    assert done["status"] == "success", done

    detail = harness.client.get(D1, headers=admin).json()["data"]
    assert detail["status"] == "deployed"
    dev = next(env for env in detail["environments"] if env["name"] == "dev")
    assert dev["status"] == "deployed"
    assert (dev["stacksDeployed"], dev["stacksFailed"], dev["stacks"]) == (15, 0, 16)
    statuses = {s["name"]: s["status"] for s in detail["stacks"]}
    assert statuses.pop("monitoring") == "destroyed"
    assert set(statuses.values()) == {"deployed"}
    listed = harness.client.get(f"{D1}/environments", headers=admin).json()["data"]
    assert next(e for e in listed["environments"] if e["name"] == "dev")["status"] == "deployed"
    rows = harness.client.get("/api/v1/deployments", headers=admin).json()["data"]["deployments"]
    row = next(r for r in rows if r["deploymentId"] == "D1BRV40")
    assert row["status"] == "deployed" and row["environments"]["dev"]["status"] == "deployed"
    refused = harness.client.delete(D1, headers=admin)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "DEPLOYMENT_HAS_ACTIVE_STACKS"
    assert "monitoring" not in refused.json()["error"]["details"]["activeStacks"]


def _has_the_documented_fields_of_a_deployed_deployment(harness, admin, detail) -> None:
    """seeds/001 GET /deployments/:id: who created and last deployed it, what each
    environment and stack holds, and the metrics."""
    assert detail["createdBy"]  # the author of the manifest's first commit
    assert detail["lastDeployedBy"] == "admin@example.com"
    assert detail["lastDeployedAt"]
    network = next(s for s in detail["stacks"] if s["name"] == "network")
    assert network["outputs"]["vpcId"] and network["resourceCount"] > 0
    assert network["lastDeployedAt"]
    dev = next(env for env in detail["environments"] if env["name"] == "dev")
    assert (dev["stacksDeployed"], dev["stacksFailed"]) == (16, 0)
    assert dev["lastDeployedAt"] == detail["lastDeployedAt"]
    assert isinstance(dev["endpoints"], dict)
    costs = sum(
        harness.services.repo.current().snapshot.catalog.stacks[s["name"]].estimated_monthly_cost
        for s in detail["stacks"]
    )
    assert dev["estimatedMonthlyCost"] == round(costs, 2) > 0
    metrics = detail["metrics"]
    assert metrics["totalResources"] == sum(s["resourceCount"] for s in detail["stacks"]) > 16
    assert metrics["deploymentDuration"] > 0
    assert metrics["estimatedMonthlyCost"] >= dev["estimatedMonthlyCost"]
    listed = harness.client.get(f"{D1}/environments", headers=admin).json()["data"]
    assert next(e for e in listed["environments"] if e["name"] == "dev") == dev
    numbers = harness.client.get(f"{D1}/metrics", headers=admin).json()["data"]["metrics"]
    assert numbers["resources"]["total"] == metrics["totalResources"]
    assert numbers["resources"]["failed"] == 0
    assert numbers["costs"]["estimatedMonthly"] == dev["estimatedMonthlyCost"]


def test_a_sync_records_what_was_deployed_outside_the_service(
    make_harness: HarnessFactory, checkout
) -> None:
    harness = local(make_harness, checkout)
    admin = harness.bearer()
    body = {"environment": "dev", "stackFilter": ["network"]}
    started = harness.client.post(f"{D1}/deploy", json=body, headers=admin)
    wait_until_done(harness, started.json()["data"]["statusUrl"], admin)
    harness.sql("DELETE FROM stack_states")  # as if the CLI had deployed it
    assert harness.client.get(D1, headers=admin).json()["data"]["status"] == "initialized"
    synced = harness.client.post(f"{D1}/state/sync", json={"environment": "dev"}, headers=admin)
    assert synced.status_code == 200, synced.text
    detail = harness.client.get(D1, headers=admin).json()["data"]
    assert detail["status"] == "deployed"
    dev = next(env for env in detail["environments"] if env["name"] == "dev")
    assert dev["stacksDeployed"] == 1
    network = next(s for s in detail["stacks"] if s["name"] == "network")
    assert network["status"] == "deployed" and network["outputs"]["vpcId"]


def test_a_stack_filter_that_cannot_run_is_422_at_request_time(
    make_harness: HarnessFactory, checkout
) -> None:
    """seeds/001's example filter on a deployment where nothing ran: refused with the
    upstream and the output named, nothing started (it used to be 202, then fail)."""
    harness = local(make_harness, checkout)
    admin = harness.bearer()
    body = {"environment": "dev", "stackFilter": ["network", "security", "compute-*"]}
    refused = harness.client.post(f"{D1}/deploy", json=body, headers=admin)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "VALIDATION_UNRESOLVABLE_PLACEHOLDER"
    assert {"stack": "compute-lambda", "upstream": "secrets", "output": "appSecretArn"} in error[
        "details"
    ]["missing"]
    assert "secrets" in error["message"] and error["details"]["field"] == "stackFilter"
    assert harness.store.list_operations() == []
    single = harness.client.post(
        f"{D1}/stacks/compute-lambda/deploy", json={"environment": "dev"}, headers=admin
    )
    assert single.status_code == 422 and single.json()["error"]["details"]["field"] == "stack"
    preview = harness.client.post(f"{D1}/deploy", json=body | {"preview": True}, headers=admin)
    assert preview.status_code == 202, preview.text  # a preview just skips what it cannot see


def test_a_failed_operation_says_why_in_its_error(make_harness: HarnessFactory, checkout) -> None:
    from tests.fakes import FakeEngine

    harness = local(make_harness, checkout, engine=lambda: FakeEngine(fail={"network": "boom"}))
    admin = harness.bearer()
    body = {"environment": "dev", "stackFilter": ["network"]}
    started = harness.client.post(f"{D1}/deploy", json=body, headers=admin)
    done = wait_until_done(harness, started.json()["data"]["statusUrl"], admin)
    assert done["status"] == "failed"
    assert done["error"]["code"] == "OPERATION_FAILED"
    assert "network" in done["error"]["message"] and "boom" in done["error"]["message"]
    assert done["error"]["stacks"] == [
        {"name": "network", "code": "STACK_FAILED", "message": "boom"}
    ]
