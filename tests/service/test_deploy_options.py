"""The documented deploy options, implemented for real (seeds/002 `dry_run`, seeds/003
`options` and retry `stepName`, seeds/004 `env`), on the local dispatcher."""

from __future__ import annotations

import time

import yaml

from controller.engines.simulated import SimulatedEngine
from tests.conftest import git
from tests.fakes import Breakable
from tests.service.conftest import HarnessFactory
from tests.service.test_operations_local import D1, local, wait_until_done

MANIFEST = "deployments/D1BRV40-CompanyA-ecommerce/manifest.yaml"


def breakable(tmp_path, breaks):
    engine = Breakable(SimulatedEngine(state_dir=tmp_path / "sim"), breaks)
    return engine, (lambda: engine)


def test_seeds_002_deploy_takes_environment_and_dry_run_in_the_query(
    make_harness: HarnessFactory, checkout
) -> None:
    harness = local(make_harness, checkout)
    admin = harness.bearer()
    response = harness.client.post(
        f"{D1}/deploy", params={"environment": "dev", "dry_run": "true"}, headers=admin
    )
    assert response.status_code == 202, response.text
    data = response.json()["data"]
    assert data["type"] == "preview" and data["preview"] is True
    wait_until_done(harness, data["statusUrl"], admin)
    missing = harness.client.post(f"{D1}/deploy", headers=admin)
    assert missing.status_code == 400 and "environment" in missing.json()["error"]["message"]


def test_seeds_003_options_dry_run_is_a_preview(make_harness: HarnessFactory, checkout) -> None:
    harness = local(make_harness, checkout)
    admin = harness.bearer()
    body = {"deploymentId": "D1BRV40", "environment": "dev", "options": {"dryRun": True}}
    response = harness.client.post(f"{D1}/deploy", json=body, headers=admin)
    assert response.status_code == 202, response.text
    assert response.json()["data"]["type"] == "preview"
    other = harness.client.post(
        f"{D1}/deploy", json=body | {"deploymentId": "D2K7Q1M"}, headers=admin
    )
    assert other.status_code == 400 and "deploymentId" in other.text


def test_max_retries_runs_a_failing_stack_again(make_harness, checkout, tmp_path) -> None:
    attempts = {"network": 0}

    def flaky(spec):
        if spec.stack == "network" and attempts["network"] < 2:
            attempts["network"] += 1
            return "throttled (transient)"
        return None

    _, engine = breakable(tmp_path, flaky)
    harness = local(make_harness, checkout, engine=engine)
    admin = harness.bearer()
    body = {"environment": "dev", "stackFilter": ["network"], "options": {"maxRetries": 2}}
    started = harness.client.post(f"{D1}/deploy", json=body, headers=admin)
    assert started.status_code == 202, started.text
    done = wait_until_done(harness, started.json()["data"]["statusUrl"], admin)
    assert done["status"] == "success", done
    assert attempts["network"] == 2
    events = harness.store.list_events(operation_id=done["operationId"], limit=100_000)
    lines = [e.payload.get("message", "") for e in events if e.type == "log"]
    assert any("attempt 2 of 3 failed" in line for line in lines)


def test_env_reaches_the_run_and_secret_values_are_never_shown(
    make_harness, checkout, tmp_path
) -> None:
    raw, engine = breakable(tmp_path, lambda spec: None)
    harness = local(make_harness, checkout, engine=engine)
    admin = harness.bearer()
    body = {
        "environment": "dev",
        "stackFilter": ["network"],
        "env": {"RELEASE": "2026.11", "DEPLOY_TOKEN": "s3cr3t-value"},
    }
    started = harness.client.post(f"{D1}/deploy", json=body, headers=admin)
    assert started.status_code == 202, started.text
    done = wait_until_done(harness, started.json()["data"]["statusUrl"], admin)
    assert done["status"] == "success"
    assert dict(raw.ups[-1].env) == body["env"]  # the program's process got both
    assert done["env"] == {"RELEASE": "2026.11", "DEPLOY_TOKEN": "[secret]"}
    events = harness.store.list_events(operation_id=done["operationId"], limit=10_000)
    assert "s3cr3t-value" not in str([e.payload for e in events])
    assert "s3cr3t-value" not in str(harness.store.get_operation(done["operationId"]).payload)


def test_retry_step_name_runs_only_that_stack(make_harness, checkout, tmp_path) -> None:
    broken = {"dns", "security"}
    _, engine = breakable(tmp_path, lambda s: "boom" if s.stack in broken else None)
    harness = local(make_harness, checkout, engine=engine)
    admin = harness.bearer()
    body = {"environment": "dev", "stackFilter": ["network", "dns", "security"],
            "continueOnError": True}  # fmt: skip
    started = harness.client.post(f"{D1}/deploy", json=body, headers=admin)
    first = wait_until_done(harness, started.json()["data"]["statusUrl"], admin)
    assert first["status"] == "failed"
    broken.clear()
    url = f"/api/v1/operations/{first['operationId']}/retry"
    retried = harness.client.post(url, json={"stepName": "dns", "maxRetries": 1}, headers=admin)
    assert retried.status_code == 202, retried.text
    assert [s["name"] for s in retried.json()["data"]["stacksToDeploy"]] == ["dns"]
    done = wait_until_done(harness, retried.json()["data"]["statusUrl"], admin)
    assert done["status"] == "success"
    unknown = harness.client.post(url, json={"stepName": "network"}, headers=admin)
    assert unknown.status_code == 409 and "network" in unknown.text  # it did not fail


def test_rollback_on_failure_returns_the_failed_stacks_to_their_last_deploy(
    make_harness, checkout, tmp_path
) -> None:
    raw, engine = breakable(
        tmp_path, lambda s: "invalid CIDR" if s.config.get("vpcCidr") == "10.9.0.0/16" else None
    )
    harness = local(make_harness, checkout, engine=engine)
    admin = harness.bearer()
    body = {"environment": "dev", "stackFilter": ["network"]}
    first = harness.client.post(f"{D1}/deploy", json=body, headers=admin).json()["data"]
    assert wait_until_done(harness, first["statusUrl"], admin)["status"] == "success"
    good = git(checkout, "rev-parse", "HEAD")
    manifest = checkout / MANIFEST
    document = yaml.safe_load(manifest.read_text())
    document["stacks"].setdefault("network", {}).setdefault("config", {})["vpcCidr"] = "10.9.0.0/16"
    manifest.write_text(yaml.safe_dump(document, sort_keys=False))
    git(checkout, "-c", "user.name=A", "-c", "user.email=a@example.com", "commit", "-qam", "cidr")
    harness.services.repo.invalidate()
    body |= {"options": {"rollbackOnFailure": True}}
    started = harness.client.post(f"{D1}/deploy", json=body, headers=admin)
    assert started.status_code == 202, started.text
    assert started.json()["data"]["rollbackInfo"] == {"available": True, "previousVersion": good}
    failed = wait_until_done(harness, started.json()["data"]["statusUrl"], admin)
    assert failed["status"] == "failed"
    deadline = time.monotonic() + 30  # the rollback is recorded just after the failure
    while not failed.get("rollback") and time.monotonic() < deadline:
        time.sleep(0.1)
        failed = harness.client.get(started.json()["data"]["statusUrl"], headers=admin).json()[
            "data"
        ]
    rollback = failed["rollback"]
    assert rollback["stacks"] == ["network"] and rollback["commit"] == good
    back = wait_until_done(harness, f"{D1}/operations/{rollback['operationId']}", admin)
    assert back["status"] == "success" and back["rollbackOf"] == failed["operationId"]
    assert raw.ups[-1].config["vpcCidr"] == raw.ups[0].config["vpcCidr"] != "10.9.0.0/16"
