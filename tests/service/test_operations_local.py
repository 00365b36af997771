"""Operations on the local dispatcher and the simulated engine, as a new user tries them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from controller.adapters.catalog_sources import LocalCatalogSource
from tests.conftest import git
from tests.service.conftest import Harness, HarnessFactory

D1 = "/api/v1/deployments/D1BRV40"


def local(make_harness: HarnessFactory, root: Path, **options: Any) -> Harness:
    return make_harness(source=LocalCatalogSource(root), repo_root=root, **options)


def wait_until_done(harness: Harness, url: str, headers: dict[str, str], timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = harness.client.get(url, headers=headers).json()
        assert body["success"], body
        if body["data"]["status"] not in ("pending", "in_progress"):
            return body["data"]
        time.sleep(0.2)
    raise AssertionError(f"{url} still running after {timeout}s")


def test_deploy_then_status_then_a_second_deploy_skips_everything(make_harness, checkout):
    harness = local(make_harness, checkout)
    admin = harness.bearer()
    started = harness.client.post(f"{D1}/deploy", json={"environment": "dev"}, headers=admin)
    assert started.status_code == 202, started.text
    data = started.json()["data"]
    assert data["status"] == "in_progress" and data["operationId"].startswith("op-")
    assert data["statusUrl"] == f"{D1}/operations/{data['operationId']}"
    assert data["websocketChannel"] == f"deployments/D1BRV40/operations/{data['operationId']}"
    names = [s["name"] for s in data["stacksToDeploy"]]
    assert len(names) == 16 and names[0] == "network" and data["stacksSkipped"] == []
    assert [s["layer"] for s in data["stacksToDeploy"]] == sorted(
        s["layer"] for s in data["stacksToDeploy"]
    )
    # recorded before the 202: the operation and its first event
    assert harness.store.get_operation(data["operationId"]) is not None
    first = harness.store.list_events(operation_id=data["operationId"], limit=1)
    assert [e.type for e in first] == ["operation.started"]

    done = wait_until_done(harness, data["statusUrl"], admin)
    assert done["status"] == "success", done
    assert done["progress"]["completedStacks"] == 16 and done["progress"]["percentage"] == 100
    assert {s["status"] for s in done["completedStacks"]} == {"deployed"}
    assert done["currentStacks"] == [] and done["estimatedTimeRemaining"] == 0

    again = harness.client.post(f"{D1}/deploy", json={"environment": "dev"}, headers=admin)
    assert again.status_code == 202, again.text
    second = again.json()["data"]
    assert second["stacksToDeploy"] == [] and len(second["stacksSkipped"]) == 16
    assert all(s["lastDeployed"] for s in second["stacksSkipped"])
    done = wait_until_done(harness, second["statusUrl"], admin)
    assert done["status"] == "success"
    assert {s["status"] for s in done["completedStacks"]} == {"skipped"}


def test_one_running_operation_per_environment_and_another_environment_is_free(
    make_harness, checkout
):
    from concurrent.futures import ThreadPoolExecutor

    harness = local(make_harness, checkout)
    admin = harness.bearer()
    body = {"environment": "dev", "stackFilter": ["network", "security"]}

    def post(_: int):
        return harness.client.post(f"{D1}/deploy", json=body, headers=admin)

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(post, range(6)))
    accepted = [a for a in answers if a.status_code == 202]
    refused = [a for a in answers if a.status_code == 409]
    assert len(accepted) == 1 and len(refused) == 5, [a.text for a in answers]
    running = accepted[0].json()["data"]["operationId"]
    for answer in refused:
        error = answer.json()["error"]
        assert error["code"] == "OPERATION_IN_PROGRESS"
        assert error["details"]["operationId"] == running
        assert running in error["message"]
    stage = harness.client.post(
        f"{D1}/deploy", json={**body, "environment": "stage"}, headers=admin
    )
    assert stage.status_code == 202, stage.text
    assert harness.store.get_lock("D1BRV40", "dev").operation_id == running
    for url in (accepted[0].json()["data"]["statusUrl"], stage.json()["data"]["statusUrl"]):
        assert wait_until_done(harness, url, admin)["status"] == "success"
    assert harness.store.get_lock("D1BRV40", "dev") is None  # released by its owner
    again = harness.client.post(f"{D1}/deploy", json=body, headers=admin)
    assert again.status_code == 202  # free once it ended


def test_cancel_stops_new_stacks_and_retry_runs_only_what_is_left(make_harness, checkout):
    harness = local(make_harness, checkout, operation_parallel=1)
    admin = harness.bearer()
    started = harness.client.post(f"{D1}/deploy", json={"environment": "dev"}, headers=admin)
    operation = started.json()["data"]["operationId"]
    cancel = harness.client.post(f"/api/v1/operations/{operation}/cancel", headers=admin)
    assert cancel.status_code == 202, cancel.text
    assert cancel.json()["data"]["cancelRequestedBy"] == "admin@example.com"
    done = wait_until_done(harness, started.json()["data"]["statusUrl"], admin)
    assert done["status"] == "cancelled"
    finished = {s["name"]: s["status"] for s in done["completedStacks"]}
    assert "cancelled" in finished.values() and len(finished) == 16
    deployed = {name for name, status in finished.items() if status == "deployed"}
    assert len(deployed) < 16
    again = harness.client.post(f"/api/v1/operations/{operation}/cancel", headers=admin)
    assert again.status_code == 409  # it already ended

    retry = harness.client.post(f"/api/v1/operations/{operation}/retry", headers=admin)
    assert retry.status_code == 202, retry.text
    data = retry.json()["data"]
    assert data["retryOf"] == operation
    assert {s["name"] for s in data["stacksToDeploy"]} == set(finished) - deployed
    assert wait_until_done(harness, data["statusUrl"], admin)["status"] == "success"
    nothing = harness.client.post(f"/api/v1/operations/{data['operationId']}/retry", headers=admin)
    assert nothing.status_code == 409
    assert "nothing to retry" in nothing.json()["error"]["message"]


def test_rights_to_start_and_change_operations_follow_the_matrix(make_harness, checkout):
    harness = local(make_harness, checkout)
    developer = harness.bearer("dev", roles=("Developer",))
    operator = harness.bearer("ops", roles=("Stack Operator",), orgs=("CompanyA",))
    outsider = harness.bearer("bob", roles=("Deployment Manager",), orgs=("CompanyB",))
    body = {"environment": "dev"}
    assert harness.client.post(f"{D1}/deploy", json=body, headers=developer).status_code == 403
    assert harness.client.post(f"{D1}/deploy", json=body, headers=operator).status_code == 403
    assert harness.client.post(f"{D1}/deploy", json=body, headers=outsider).status_code == 404
    stack = harness.client.post(f"{D1}/stacks/network/deploy", json=body, headers=operator)
    assert stack.status_code == 202, stack.text
    data = stack.json()["data"]
    assert data["stackName"] == "network"
    assert [s["name"] for s in data["stacksToDeploy"]] == ["network"]
    status = harness.client.get(data["statusUrl"], headers=developer)
    assert status.status_code == 200  # reading is deployments:read
    assert status.json()["data"]["progress"]["totalStacks"] == 1  # its own stack only
    assert harness.client.get(data["statusUrl"], headers=outsider).status_code == 404
    cancel = harness.client.post(
        f"/api/v1/operations/{data['operationId']}/cancel", headers=developer
    )
    assert cancel.status_code == 403
    wait_until_done(harness, data["statusUrl"], operator)


def test_bad_requests_name_what_is_wrong(make_harness, checkout):
    harness = local(make_harness, checkout)
    admin = harness.bearer()
    cases = [
        ({"environment": "qa"}, 404, "no environment 'qa'"),
        ({"environment": "prod"}, 409, "disabled"),
        ({"environment": "dev", "stackFilter": ["nope-*"]}, 400, "matches no stack"),
        ({"environment": "dev", "webhookUrl": "http://example.com/x"}, 400, "webhookUrl"),
        ({"environment": "dev", "webhookUrl": "https://127.0.0.1/x"}, 400, "webhookUrl"),
        ({"environment": "dev", "parallel": 0}, 400, "parallel"),
        ({"environment": "dev", "bogus": 1}, 400, "bogus"),
    ]
    for body, status, text in cases:
        answer = harness.client.post(f"{D1}/deploy", json=body, headers=admin)
        assert answer.status_code == status, (body, answer.text)
        assert text in answer.json()["error"]["message"], (body, answer.text)
    assert harness.store.list_operations() == []  # nothing started, nothing half-written
    destroy = harness.client.post(
        f"{D1}/stacks/network/destroy", json={"environment": "dev"}, headers=admin
    )
    assert destroy.status_code == 202  # nothing deployed: runs and skips
    missing = harness.client.get(f"{D1}/operations/op-000000000000", headers=admin)
    assert missing.status_code == 404


def test_a_destroy_preview_starts_nothing_and_a_destroy_goes_in_reverse(make_harness, checkout):
    harness = local(make_harness, checkout)
    admin = harness.bearer()
    body = {"environment": "dev", "stackFilter": ["network", "security", "dns"]}
    deployed = harness.client.post(f"{D1}/deploy", json=body, headers=admin).json()["data"]
    wait_until_done(harness, deployed["statusUrl"], admin)
    blocked = harness.client.post(
        f"{D1}/destroy", json={"environment": "dev", "stackFilter": ["network"]}, headers=admin
    )
    assert blocked.status_code == 409 and "would break deployed dependents" in blocked.text
    preview = harness.client.post(
        f"{D1}/destroy", json={"environment": "dev", "preview": True}, headers=admin
    )
    assert preview.status_code == 200, preview.text
    plan = preview.json()["data"]
    assert {s["name"] for s in plan["stacksToDestroy"]} == {"network", "security", "dns"}
    assert plan["stacksToDestroy"][-1]["name"] == "network"  # last: everything needs it
    assert len(plan["stacksSkipped"]) == 13
    assert len(harness.store.list_operations()) == 1
    destroy = harness.client.post(f"{D1}/destroy", json={"environment": "dev"}, headers=admin)
    assert destroy.status_code == 202, destroy.text
    done = wait_until_done(harness, destroy.json()["data"]["statusUrl"], admin)
    assert done["status"] == "success"
    order = [s["name"] for s in done["completedStacks"] if s["status"] == "destroyed"]
    assert set(order) == {"network", "security", "dns"}
    events = harness.store.list_events(operation_id=destroy.json()["data"]["operationId"])
    finished = [
        e.payload["stackName"]
        for e in events
        if e.type == "stack.completed" and e.payload.get("status") == "destroyed"
    ]
    assert finished.index("network") > finished.index("security")


def test_rollback_redeploys_the_manifest_of_the_last_good_deploy(make_harness, checkout):
    harness = local(make_harness, checkout)
    admin = harness.bearer()
    body = {"environment": "dev", "stackFilter": ["network"]}
    first = harness.client.post(f"{D1}/deploy", json=body, headers=admin).json()["data"]
    wait_until_done(harness, first["statusUrl"], admin)
    good = git(checkout, "rev-parse", "HEAD")
    manifest = checkout / "deployments/D1BRV40-CompanyA-ecommerce/manifest.yaml"
    document = yaml.safe_load(manifest.read_text())
    document["stacks"].setdefault("network", {}).setdefault("config", {})["vpcCidr"] = "10.9.0.0/16"
    manifest.write_text(yaml.safe_dump(document, sort_keys=False))
    git(checkout, "-c", "user.name=A", "-c", "user.email=a@example.com", "commit", "-qam", "cidr")
    harness.services.repo.invalidate()
    answer = harness.client.post(f"{D1}/deploy", json=body, headers=admin)
    assert answer.status_code == 202, answer.text
    second = answer.json()["data"]
    assert [s["name"] for s in second["stacksToDeploy"]] == ["network"]
    wait_until_done(harness, second["statusUrl"], admin)
    assert harness.services.engine().outputs(_spec(harness, "network"))[0]["vpcCidr"] == (
        "10.9.0.0/16"
    )

    rollback = harness.client.post(
        f"{D1}/rollback", json={"environment": "dev", "reason": "bad cidr"}, headers=admin
    )
    assert rollback.status_code == 202, rollback.text
    data = rollback.json()["data"]
    assert data["rollbackOf"] == first["operationId"] and data["commit"] == good
    assert [s["name"] for s in data["stacksToDeploy"]] == ["network"]  # changed back
    assert wait_until_done(harness, data["statusUrl"], admin)["status"] == "success"
    assert not list((harness.services.settings.resolved_data_dir() / "rollbacks").iterdir())
    engine = harness.services.engine()
    record = engine.record(_spec(harness, "network"))
    assert record.commit == good and record.operation_id == data["operationId"]
    assert engine.outputs(_spec(harness, "network"))[0]["vpcCidr"] != "10.9.0.0/16"


def _spec(harness: Harness, stack: str):
    from controller.execution.specs import stack_spec

    deployment = harness.services.repo.current().snapshot.deployments["D1BRV40"]
    return stack_spec(deployment, stack, "dev", repo_root=harness.services.settings.resolved_root())


def test_the_webhook_url_gets_the_result_once_the_operation_ended(make_harness, checkout):
    import json

    from controller.adapters.callbacks import CallbackSender
    from tests.test_callbacks import PUBLIC, Pool

    pool = Pool([200])
    sender = CallbackSender(resolve=PUBLIC, pool_factory=pool.factory, sleep=lambda s: None)
    harness = local(make_harness, checkout, services_options={"callback_sender": sender})
    admin = harness.bearer()
    body = {
        "environment": "dev",
        "stackFilter": ["network"],
        "webhookUrl": "https://hooks.example.com/ops?x=1",
    }
    data = harness.client.post(f"{D1}/deploy", json=body, headers=admin).json()["data"]
    wait_until_done(harness, data["statusUrl"], admin)
    harness.services.callbacks.drain(10)
    [(method, path, sent)] = pool.requests
    assert (method, path) == ("POST", "/ops?x=1")
    result = json.loads(sent["body"])
    assert result["operationId"] == data["operationId"] and result["status"] == "success"
    assert result["result"]["stacksSucceeded"] == 1
    logs = harness.store.list_events(operation_id=data["operationId"])
    assert logs[-1].type == "log" and "webhookUrl answered 200" in logs[-1].payload["message"]


def test_example_3_a_websocket_client_follows_a_deploy_in_dependency_order(make_harness, checkout):
    """seeds/001 "Example 3": deploy, then connect, authenticate with the API key and
    subscribe to the operation's channel; then "Example 1": poll statusUrl to the end."""
    from controller.core import rbac
    from tests.service.event_helpers import receive

    harness = local(make_harness, checkout)
    key = harness.api_key([rbac.DEPLOYMENTS_READ, rbac.DEPLOYMENTS_DEPLOY])
    headers = {"X-API-Key": key}
    started = harness.client.post(f"{D1}/deploy", json={"environment": "dev"}, headers=headers)
    assert started.status_code == 202, started.text
    data = started.json()["data"]
    channel = data["websocketChannel"]
    with harness.client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "authenticate", "apiKey": key})
        assert receive(ws)["type"] == "authenticated"
        ws.send_json({"type": "subscribe", "channel": channel})
        messages = []
        while not messages or messages[-1]["type"] != "operation.completed":
            message = receive(ws, timeout=60)
            if message["type"] in ("subscribed", "heartbeat"):
                continue
            assert message["channel"] == channel
            messages.append(message)
    kinds = [m["type"] for m in messages]
    assert kinds[0] == "operation.started" and kinds[-1] == "operation.completed"
    assert messages[-1]["data"]["status"] == "success"
    assert messages[-1]["data"]["stacksSucceeded"] == 16
    order = {(m["type"], m["data"].get("stackName")): i for i, m in enumerate(messages)}
    state = harness.services.repo.current()
    catalog = state.snapshot.catalog
    stacks = [s["name"] for s in data["stacksToDeploy"]]
    for stack in stacks:
        started_at = order[("stack.started", stack)]
        assert order[("stack.completed", stack)] > started_at
        for upstream in catalog.stacks[stack].dependencies:
            assert order[("stack.completed", upstream)] < started_at, (upstream, stack)
    ids = [m["data"]["operationId"] for m in messages]
    assert set(ids) == {data["operationId"]}
    final = harness.client.get(data["statusUrl"], headers=headers).json()["data"]
    assert final["status"] == "success"


def test_a_tier_runs_only_its_quota_of_operations_at_once(make_harness, checkout):
    from controller.store.base import OperationRecord

    harness = local(make_harness, checkout)
    free = harness.bearer("freebie", tier="free")  # the seeds' free tier: 1 at a time
    now = harness.services.now()
    elsewhere = OperationRecord(
        "op-0123456789ab", "D2K7Q1M", "dev", "deploy", "in_progress", now, now,
        "freebie@example.com", now,
    )  # fmt: skip
    harness.store.create_operation(elsewhere)
    refused = harness.client.post(f"{D1}/deploy", json={"environment": "dev"}, headers=free)
    assert refused.status_code == 429, refused.text
    error = refused.json()["error"]
    assert error["code"] == "QUOTA_EXCEEDED" and "free tier allows 1" in error["message"]
    assert error["details"] == {"limit": 1, "running": [elsewhere.id]}
    assert harness.store.get_lock("D1BRV40", "dev") is None  # nothing taken, nothing recorded
    assert harness.store.list_operations(deployment_id="D1BRV40") == []
    # another user's operations do not count; a standard user runs up to five
    other = harness.client.post(
        f"{D1}/deploy", json={"environment": "dev", "stackFilter": ["network"]},
        headers=harness.bearer(),
    )  # fmt: skip
    assert other.status_code == 202, other.text
    wait_until_done(harness, other.json()["data"]["statusUrl"], harness.bearer())
    harness.store.update_operation(elsewhere.id, status="success", updated_at=now)
    allowed = harness.client.post(
        f"{D1}/deploy", json={"environment": "dev", "stackFilter": ["network"]}, headers=free
    )
    assert allowed.status_code == 202, allowed.text
    assert wait_until_done(harness, allowed.json()["data"]["statusUrl"], free)["status"] == (
        "success"
    )
