"""Deployments over the API: create, list, show, update, delete, validate, environments,
manifest; the seeds' status codes and error codes; organization isolation."""

from __future__ import annotations

import yaml

from controller.core import rbac
from tests.service.conftest import Harness, HarnessFactory, example_files
from tests.service.fakes import FakeInventory

EXAMPLE_2 = {
    "organization": "CompanyA",
    "project": "ecommerce-platform",
    "domain": "ecommerce.companyA.com",
    "template": "default",
    "region": "us-east-1",
    "accounts": {"dev": "111111111111", "stage": "222222222222", "prod": "333333333333"},
    "contact": {"email": "platform@companyA.com", "team": "Platform Engineering"},
    "tags": {"Department": "Engineering", "CostCenter": "CC-1234", "Project": "E-Commerce"},
}
D1 = "/api/v1/deployments/D1BRV40"
D1_FILE = "deployments/D1BRV40-CompanyA-ecommerce/manifest.yaml"


def code(response) -> str:
    return response.json()["error"]["code"]


def test_example_2_create_list_get_validate_with_an_api_key(harness: Harness) -> None:
    key = harness.api_key(
        [rbac.DEPLOYMENTS_CREATE, rbac.DEPLOYMENTS_READ],
        username="manager",
        roles=(rbac.DEPLOYMENT_MANAGER,),
        orgs=("CompanyA",),
    )
    headers = {"X-API-Key": key}
    created = harness.client.post("/api/v1/deployments", json=EXAMPLE_2, headers=headers)
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    deployment_id = data["deploymentId"]
    assert data["status"] == "initialized" and data["createdBy"] == "manager@example.com"
    assert data["directory"] == f"deployments/{deployment_id}-CompanyA-ecommerce-platform"
    assert data["stacks"][0] == {
        "name": "network",
        "layer": 1,
        "status": "pending",
        "dependencies": [],
        "outputs": {},
        "resourceCount": 0,
        "lastDeployedAt": None,
        "driftDetected": None,  # never checked
    }
    assert len(data["stacks"]) == 16
    assert data["change"]["mode"] == "commit" and data["change"]["commit"]
    commit = harness.source.commits[-1]
    assert commit["paths"] == [f"{data['directory']}/manifest.yaml"]
    assert commit["author"].name == "Manager"

    listing = harness.client.get("/api/v1/deployments", headers=headers).json()["data"]
    assert deployment_id in [d["deploymentId"] for d in listing["deployments"]]
    shown = harness.client.get(f"/api/v1/deployments/{deployment_id}", headers=headers)
    assert shown.status_code == 200
    assert shown.json()["data"]["tags"]["CostCenter"] == "CC-1234"
    validated = harness.client.post(
        f"/api/v1/deployments/{deployment_id}/validate",
        json={"environment": "dev"},
        headers=headers,
    )
    assert validated.status_code == 200
    assert validated.json()["data"]["valid"] is True


def test_a_created_manifest_is_the_one_cloud_init_would_write(harness: Harness, admin) -> None:
    body = EXAMPLE_2 | {"deploymentId": "D9TEST1", "template": "minimal"}
    assert harness.client.post("/api/v1/deployments", json=body, headers=admin).status_code == 201
    text = harness.source.files["deployments/D9TEST1-CompanyA-ecommerce-platform/manifest.yaml"]
    manifest = yaml.safe_load(text)
    assert manifest["deploymentId"] == "D9TEST1" and manifest["template"] == "minimal"
    assert manifest["contact"]["email"] == "platform@companyA.com"


def test_creating_an_existing_deployment_id_is_409(harness: Harness, admin) -> None:
    body = EXAMPLE_2 | {"deploymentId": "D1BRV40"}
    response = harness.client.post("/api/v1/deployments", json=body, headers=admin)
    assert response.status_code == 409 and code(response) == "RESOURCE_ALREADY_EXISTS"
    assert harness.source.commits == []


def test_a_create_missing_a_field_is_400_naming_it(harness: Harness, admin) -> None:
    response = harness.client.post("/api/v1/deployments", json={"project": "x"}, headers=admin)
    assert response.status_code == 400 and code(response) == "VALIDATION_REQUIRED_FIELD"
    assert response.json()["error"]["details"]["field"] == "organization"


def test_a_create_with_a_malformed_field_is_400(harness: Harness, admin) -> None:
    body = EXAMPLE_2 | {"accounts": {"dev": "12345"}}
    response = harness.client.post("/api/v1/deployments", json=body, headers=admin)
    assert response.status_code == 400 and code(response) == "VALIDATION_INVALID_FORMAT"
    assert response.json()["error"]["details"]["field"] == "accounts.dev"


def test_a_create_of_an_unknown_template_is_422(harness: Harness, admin) -> None:
    body = EXAMPLE_2 | {"template": "defualt"}
    response = harness.client.post("/api/v1/deployments", json=body, headers=admin)
    assert response.status_code == 422
    assert "did you mean 'default'" in response.json()["error"]["message"]
    assert harness.source.commits == []


def test_a_create_in_another_organization_is_403(harness: Harness) -> None:
    headers = harness.bearer("b-manager", (rbac.DEPLOYMENT_MANAGER,), ("CompanyB",))
    response = harness.client.post("/api/v1/deployments", json=EXAMPLE_2, headers=headers)
    assert response.status_code == 403 and code(response) == "AUTHZ_ORGANIZATION_MISMATCH"


# --- listing ------------------------------------------------------------------------------


def test_listing_filters_paginates_and_sorts(harness: Harness, admin) -> None:
    for index in range(3):
        body = EXAMPLE_2 | {
            "project": f"p{index}",
            "deploymentId": f"D00000{index}",
            "template": "minimal",
        }
        assert harness.client.post("/api/v1/deployments", json=body, headers=admin).is_success

    def page(**query: object) -> dict:
        response = harness.client.get("/api/v1/deployments", params=query, headers=admin)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    everything = page()
    assert everything["pagination"]["total"] == 5
    ids = [d["deploymentId"] for d in everything["deployments"]]
    assert ids == sorted(ids)
    first = page(limit=2, page=1, sortBy="deploymentId", sortOrder="desc")
    assert [d["deploymentId"] for d in first["deployments"]] == ["D2K7Q1M", "D1BRV40"]
    assert first["pagination"] == {
        "offset": 0,
        "page": 1,
        "limit": 2,
        "total": 5,
        "totalPages": 3,
        "hasNext": True,
        "hasPrev": False,
        "nextPage": 2,
        "prevPage": None,
    }
    assert page(template="minimal")["pagination"]["total"] == 3
    assert [d["deploymentId"] for d in page(organization="companyb")["deployments"]] == ["D2K7Q1M"]
    assert page(environment="prod")["pagination"]["total"] == 1  # only D2K7Q1M enables prod
    assert page(status="deployed")["pagination"]["total"] == 0
    assert page(page=9)["deployments"] == []


def test_bad_list_parameters_are_400(harness: Harness, admin) -> None:
    for query in ({"limit": 0}, {"limit": 101}, {"sortBy": "name"}, {"page": "x"}):
        response = harness.client.get("/api/v1/deployments", params=query, headers=admin)
        assert response.status_code == 400, query
        assert code(response) == "VALIDATION_INVALID_FORMAT"


def test_users_see_only_their_organizations(harness: Harness) -> None:
    headers = harness.bearer("a-dev", (rbac.DEVELOPER,), ("CompanyA",))
    listing = harness.client.get("/api/v1/deployments", headers=headers).json()["data"]
    assert [d["organization"] for d in listing["deployments"]] == ["CompanyA"]
    other = harness.client.get("/api/v1/deployments/D2K7Q1M", headers=headers)
    assert other.status_code == 404 and "payments" not in other.text
    manifest = harness.client.get("/api/v1/deployments/D2K7Q1M/manifest", headers=headers)
    assert manifest.status_code == 404


# --- one deployment -----------------------------------------------------------------------


def test_a_deployment_shows_its_environments_and_layers(harness: Harness, admin) -> None:
    data = harness.client.get(D1, headers=admin).json()["data"]
    assert data["environment"] == "dev"
    assert [e["name"] for e in data["environments"]] == ["dev", "stage", "prod"]
    assert data["environments"][2] | {} == {
        "name": "prod",
        "enabled": False,
        "region": "us-west-2",
        "account": "333333333333",
        "status": "disabled",
        "stacks": 16,
        "stacksDeployed": 0,
        "stacksFailed": 0,
        "lastDeployedAt": None,
        "endpoints": {},
        "resourceCount": 0,
        "estimatedMonthlyCost": None,
    }
    layers = {s["name"]: s["layer"] for s in data["stacks"]}
    assert layers["network"] == 1 and layers["security"] == 2
    assert data["manifest"]["deploymentId"] == "D1BRV40"
    prod = harness.client.get(D1, params={"environment": "prod"}, headers=admin)
    assert prod.json()["data"]["environment"] == "prod"
    missing = harness.client.get(D1, params={"environment": "qa"}, headers=admin)
    assert missing.status_code == 404


def test_unknown_and_malformed_ids(harness: Harness, admin) -> None:
    unknown = harness.client.get("/api/v1/deployments/DZZZZZZ", headers=admin)
    assert unknown.status_code == 404 and code(unknown) == "RESOURCE_NOT_FOUND"
    malformed = harness.client.get("/api/v1/deployments/d1brv40", headers=admin)
    assert malformed.status_code == 400 and code(malformed) == "VALIDATION_INVALID_FORMAT"


def test_an_update_reports_its_changes_and_commits_the_manifest(harness: Harness, admin) -> None:
    response = harness.client.put(
        D1,
        json={
            "contact": {"email": "new-devops@companya.com", "team": "Platform Engineering"},
            "tags": {
                "Department": "Engineering",
                "CostCenter": "CC-5678",
                "Environment": "Production",
            },
        },
        headers=admin,
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["changes"] == [
        "contact.email: devops@companya.com → new-devops@companya.com",
        "contact.team: Platform Team → Platform Engineering",
        "tags.CostCenter: CC-1234 → CC-5678",
        "tags.Environment: <new> → Production",
    ]
    assert data["change"]["commit"] == harness.source.commits[-1]["sha"]
    assert "CC-5678" in harness.source.files[D1_FILE]
    again = harness.client.put(
        D1, json={"tags": yaml.safe_load(harness.source.files[D1_FILE])["tags"]}, headers=admin
    )
    assert again.json()["data"]["changes"] == [] and again.json()["data"]["change"] is None


def test_an_update_that_breaks_the_graph_is_422_and_writes_nothing(harness: Harness, admin) -> None:
    before = dict(harness.source.files)
    manifest = yaml.safe_load(before[D1_FILE])
    manifest["stacks"]["network"]["dependencies"] = ["security"]
    response = harness.client.put(f"{D1}/manifest", json=manifest, headers=admin)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_CIRCULAR_DEPENDENCY"
    problem = error["details"]["problems"][0]
    assert problem["file"] == D1_FILE and problem["line"] > 0
    assert harness.source.files == before and harness.source.commits == []


def test_an_update_cannot_rename_a_deployment(harness: Harness, admin) -> None:
    manifest = yaml.safe_load(harness.source.files[D1_FILE]) | {"organization": "CompanyB"}
    response = harness.client.put(f"{D1}/manifest", json=manifest, headers=admin)
    assert response.status_code == 400 and "cannot change" in response.json()["error"]["message"]
    empty = harness.client.put(D1, json={}, headers=admin)
    assert empty.status_code == 400


def test_the_manifest_can_be_read_and_replaced(harness: Harness, admin) -> None:
    shown = harness.client.get(f"{D1}/manifest", headers=admin).json()["data"]
    assert shown["path"] == D1_FILE and shown["revision"] == "sha0"
    manifest = shown["manifest"]
    manifest["stacks"]["network"]["config"]["vpcCidr"] = "10.11.0.0/16"
    response = harness.client.put(f"{D1}/manifest", json=manifest, headers=admin)
    assert response.status_code == 200
    assert response.json()["data"]["changes"] == [
        "stacks.network.config.vpcCidr: 10.10.0.0/16 → 10.11.0.0/16"
    ]
    unknown_key = manifest | {"stackz": {}}
    bad = harness.client.put(f"{D1}/manifest", json=unknown_key, headers=admin)
    assert bad.status_code == 400 and bad.json()["error"]["details"]["field"] == "stackz"


# --- delete -------------------------------------------------------------------------------


def test_delete_is_refused_while_stacks_are_deployed_unless_forced(
    make_harness: HarnessFactory,
) -> None:
    inventory = FakeInventory({("D1BRV40", "dev"): ["network", "security"]})
    harness = make_harness(inventory=inventory)
    admin = harness.bearer()
    refused = harness.client.delete(D1, headers=admin)
    assert refused.status_code == 400 and code(refused) == "DEPLOYMENT_HAS_ACTIVE_STACKS"
    assert refused.json()["error"]["details"]["activeStacks"] == ["network", "security"]
    assert refused.json()["error"]["details"]["environments"] == ["dev"]
    assert D1_FILE in harness.source.files
    forced = harness.client.delete(D1, params={"force": "true"}, headers=admin)
    assert forced.status_code == 200 and forced.json()["data"]["forced"] is True
    assert forced.json()["message"] == "Deployment D1BRV40 deleted successfully"
    assert D1_FILE not in harness.source.files
    assert harness.client.get(D1, headers=admin).status_code == 404


def test_delete_is_503_when_the_backend_cannot_say_what_is_deployed(
    make_harness: HarnessFactory,
) -> None:
    harness = make_harness()
    harness.inventory.unavailable = True
    response = harness.client.delete(D1, headers=harness.bearer())
    assert response.status_code == 503 and D1_FILE in harness.source.files


def test_delete_of_a_deployment_with_nothing_deployed(harness: Harness, admin) -> None:
    response = harness.client.delete(D1, headers=admin)
    assert response.status_code == 200
    assert harness.source.commits[-1]["paths"] == [D1_FILE]


# --- validate -----------------------------------------------------------------------------


def test_validate_reports_the_seeds_checks_with_file_and_line(
    make_harness: HarnessFactory,
) -> None:
    files = dict(example_files())
    files[D1_FILE] = files[D1_FILE].replace(
        "mfa: OPTIONAL", "mfa: OPTIONAL\n      userPool: '{{RUNTIME:nowhere:poolId}}'"
    )
    harness = make_harness(files=files)
    response = harness.client.post(f"{D1}/validate", json={}, headers=harness.bearer())
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["valid"] is False
    checks = {c["name"]: c["status"] for c in data["checks"]}
    assert checks["manifest"] == "passed" and checks["aws-credentials"] == "skipped"
    assert "failed" in (checks["configuration"], checks["runtime-placeholders"])
    assert all(e["file"] == D1_FILE and e["line"] for e in data["errors"])


def test_validate_a_manifest_that_does_not_load(make_harness: HarnessFactory) -> None:
    files = dict(example_files())
    files[D1_FILE] = files[D1_FILE].replace('version: "3.1"', 'version: "2.0"')
    harness = make_harness(files=files)
    admin = harness.bearer()
    response = harness.client.post(f"{D1}/validate", headers=admin)
    assert response.status_code == 200
    assert response.json()["data"]["valid"] is False
    assert response.json()["data"]["errors"][0]["line"] == 5
    shown = harness.client.get(D1, headers=admin)
    assert shown.status_code == 422


# --- environments -------------------------------------------------------------------------


def test_environments_are_listed_enabled_and_disabled(harness: Harness, admin) -> None:
    listing = harness.client.get(f"{D1}/environments", headers=admin).json()["data"]
    assert listing["total"] == 3
    enabled = harness.client.post(f"{D1}/environments/prod/enable", headers=admin)
    assert enabled.status_code == 200
    assert enabled.json()["data"]["enabled"] is True and enabled.json()["data"]["change"]
    assert "Enable environment prod" in harness.source.commits[-1]["message"]
    again = harness.client.post(f"{D1}/environments/prod/enable", json={}, headers=admin)
    assert again.json()["data"]["change"] is None
    disabled = harness.client.post(
        f"{D1}/environments/stage/disable", json={"destroyResources": False}, headers=admin
    )
    assert disabled.json()["data"]["status"] == "disabled"
    manifest = yaml.safe_load(harness.source.files[D1_FILE])
    assert manifest["environments"]["prod"]["enabled"] is True
    assert manifest["environments"]["stage"]["enabled"] is False


def test_enabling_an_environment_without_an_account_is_422(make_harness: HarnessFactory) -> None:
    files = dict(example_files())
    files[D1_FILE] = files[D1_FILE].replace('  prod: "333333333333"\n', "")
    harness = make_harness(files=files)
    response = harness.client.post(f"{D1}/environments/prod/enable", headers=harness.bearer())
    assert response.status_code == 422
    assert code(response) == "VALIDATION_REQUIRED_FIELD"
    assert harness.source.commits == []


def test_environment_errors(harness: Harness, admin) -> None:
    missing = harness.client.post(f"{D1}/environments/qa/enable", headers=admin)
    assert missing.status_code == 404
    bad = harness.client.post(f"{D1}/environments/Prod!/enable", headers=admin)
    assert bad.status_code in (400, 404)
    unsupported = harness.client.post(
        f"{D1}/environments/prod/enable", json={"autoDeploy": True}, headers=admin
    )
    assert unsupported.status_code == 400
    manager = harness.bearer("env", (rbac.ENVIRONMENT_MANAGER,), ("CompanyA",))
    assert harness.client.post(f"{D1}/environments/prod/enable", headers=manager).is_success
    dev = harness.bearer("dev", (rbac.DEVELOPER,), ("CompanyA",))
    assert harness.client.post(f"{D1}/environments/prod/disable", headers=dev).status_code == 403
