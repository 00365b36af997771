"""Pre-flight, dependency health and system metrics (seeds/002, seeds/003), as a user
calls them: skipped and said so with the simulated engine; real checks, through the
pre-flight seam, with the Pulumi engine (AWS's clients and the engine faked)."""

from __future__ import annotations

from controller.adapters.preflight import CloudPreflight
from tests.fakes import FakeEngine
from tests.service.conftest import Harness, HarnessFactory
from tests.test_preflight import Clients

D1 = "/api/v1/deployments/D1BRV40"


def cloud(make_harness: HarnessFactory, **clients) -> Harness:
    engine = FakeEngine()
    preflight = CloudPreflight(lambda: engine, clients=Clients(**clients))
    return make_harness(services_options={"preflight": preflight}, engine=lambda: engine)


def checks_of(data) -> dict:
    return {check["name"]: check for check in data["checks"]}


def test_validate_says_skipped_simulated_for_credentials_and_state(harness, admin) -> None:
    data = harness.client.post(f"{D1}/validate", json={"environment": "dev"}, headers=admin)
    found = checks_of(data.json()["data"])
    for name in ("aws-credentials", "pulumi-state"):
        assert found[name]["status"] == "skipped" and "simulated" in found[name]["message"]


def test_validate_checks_the_credentials_of_the_environments_account(make_harness) -> None:
    right = cloud(make_harness, account="111111111111")  # D1BRV40's dev account
    data = right.client.post(f"{D1}/validate", json={"environment": "dev"},
                             headers=right.bearer()).json()["data"]  # fmt: skip
    assert checks_of(data)["aws-credentials"]["status"] == "passed"
    assert checks_of(data)["pulumi-state"]["status"] == "passed"
    assert data["valid"] is True
    wrong = cloud(make_harness, account="999999999999")
    data = wrong.client.post(f"{D1}/validate", json={"environment": "dev"},
                             headers=wrong.bearer()).json()["data"]  # fmt: skip
    assert data["valid"] is False
    assert checks_of(data)["aws-credentials"]["status"] == "failed"
    assert data["errors"][-1]["code"] == "AWS_CREDENTIALS_INVALID"


def test_seeds_002_validate_aws(harness, admin, make_harness) -> None:
    body = {"region": "us-east-1", "account_id": "111111111111",
            "checks": ["credentials", "permissions", "quotas"]}  # fmt: skip
    simulated = harness.client.post("/api/v1/validate/aws", json=body, headers=admin)
    assert simulated.status_code == 200, simulated.text
    data = simulated.json()["data"]
    assert data["valid"] is None and data["simulated"] is True  # never a fake pass
    assert {c["status"] for c in data["checks"].values()} == {"skipped"}
    real = cloud(make_harness, vpcs=4, limit=5)
    data = real.client.post("/api/v1/validate/aws", json=body | {"checks": ["credentials",
                            "quotas"]}, headers=real.bearer()).json()["data"]  # fmt: skip
    assert data["valid"] is True
    assert data["checks"]["credentials"]["details"]["accountId"] == "111111111111"
    assert data["warnings"] == ["VPC limit: 4/5 used"]


def test_seeds_003_deploy_validate(harness, admin, make_harness) -> None:
    refused = harness.client.post(
        f"{D1}/deploy/validate",
        json={"environment": "dev", "credentials": {"apiToken": "x"}},
        headers=admin,
    )
    assert refused.status_code == 400 and "never takes cloud keys" in refused.text
    real = cloud(make_harness)
    data = real.client.post(f"{D1}/deploy/validate", json={"environment": "dev"},
                            headers=real.bearer()).json()["data"]  # fmt: skip
    assert data["valid"] is True and data["accountInfo"]["id"] == "111111111111"
    assert data["permissions"] == {"credentials": True, "backend": True}


def test_seeds_003_deploy_prepare(harness, admin) -> None:
    response = harness.client.post(f"{D1}/deploy/prepare", json={"environment": "dev"},
                                   headers=admin)  # fmt: skip
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["prepared"] is True
    assert data["checks"] == {"dependencies": "pass", "resources": "pass", "quotas": "skipped"}
    assert data["estimatedCost"]["monthly"] > 0 and data["estimatedCost"]["currency"] == "USD"
    assert len(data["stacksToDeploy"]) == 16
    failing = harness.client.post(
        f"{D1}/deploy/prepare",
        json={"environment": "dev", "stackFilter": ["compute-lambda"]},
        headers=admin,
    )
    assert failing.status_code == 424, failing.text
    error = failing.json()["error"]
    assert error["code"] == "PREFLIGHT_FAILED" and "never been deployed" in error["message"]
    assert error["details"]["checks"]["dependencies"] == "fail"
    assert harness.store.list_operations() == []  # a pre-flight starts nothing


def test_dependency_health_with_response_times(harness, admin, make_harness) -> None:
    data = harness.client.get("/api/v1/health/deployment", headers=admin).json()["data"]
    assert data["services"]["store"]["status"] == "healthy"
    assert data["services"]["store"]["responseTime"] >= 0
    assert data["services"]["pulumi"]["status"] == "skipped"
    assert "simulated" in data["services"]["pulumi"]["issues"][0]
    assert data["services"]["github"]["status"] == "disabled"
    assert data["healthy"] is True and data["activeDeployments"] == 0
    real = cloud(make_harness)
    pulumi = real.client.get("/api/v1/health/deployment", headers=real.bearer()).json()["data"]
    assert pulumi["services"]["pulumi"]["status"] == "healthy"


def test_system_metrics_count_requests_and_deploys(harness, admin) -> None:
    harness.client.get("/api/v1/deployments/DZZZZZZ", headers=admin)  # an error
    harness.client.get("/api/v1/deployments", headers=admin)
    response = harness.client.get("/api/v1/monitoring/metrics", params={"period": "1h"},
                                  headers=admin)  # fmt: skip
    assert response.status_code == 200, response.text
    metrics = response.json()["data"]["metrics"]
    assert metrics["apiRequests"] >= 2 and metrics["apiErrors"] >= 1
    assert metrics["deploymentsStarted"] == 0 and metrics["stacksDeployed"] == 0
    developer = harness.bearer("dev", ("Developer",))
    assert harness.client.get("/api/v1/monitoring/metrics", headers=developer).status_code == 403


def test_seeds_002_logs_path(harness, admin) -> None:
    response = harness.client.get(
        "/api/v1/monitoring/deployments/D1BRV40/logs",
        params={"stack_name": "network", "environment": "dev"},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["deploymentId"] == "D1BRV40"
