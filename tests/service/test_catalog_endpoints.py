"""Stacks, templates, manifest generation and the validate/* endpoints."""

from __future__ import annotations

import yaml

from controller.core import rbac
from tests.service.conftest import Harness

NEW_STACK = {
    "name": "custom-monitoring",
    "displayName": "Custom Monitoring Stack",
    "description": "CloudWatch dashboards, alarms, and custom metrics",
    "category": "devops",
    "layer": 5,
    "dependencies": ["network", "security"],
    "outputs": {"dashboardUrl": {"type": "string", "description": "CloudWatch dashboard URL"}},
    "configuration": {
        "alarmEmail": {"type": "string", "description": "Email for alarms", "required": True}
    },
}
NEW_TEMPLATE = {
    "name": "custom-web",
    "displayName": "Custom Web",
    "description": "network, security and EC2",
    "stacks": ["network", "security", "compute-ec2"],
    "defaultConfig": {
        "security": {"vpcId": "{{RUNTIME:network:vpcId}}"},
        "compute-ec2": {
            "privateSubnetIds": "{{RUNTIME:network:privateSubnetIds}}",
            "appSecurityGroupId": "{{RUNTIME:security:appSecurityGroupId}}",
            "instanceProfileName": "{{RUNTIME:security:instanceProfileName}}",
        },
    },
    "environments": {"dev": {"region": "us-east-1", "enabled": True}},
}


def code(response) -> str:
    return response.json()["error"]["code"]


# --- stacks ---------------------------------------------------------------------------------


def test_stacks_are_listed_with_layers_and_filtered(harness: Harness, admin) -> None:
    data = harness.client.get("/api/v1/stacks", headers=admin).json()["data"]
    assert data["total"] == 16
    network = next(s for s in data["stacks"] if s["name"] == "network")
    assert network["layer"] == 1 and "default" in network["templates"]
    assert "vpcId" in network["outputs"]

    def names(**query: object) -> list[str]:
        response = harness.client.get("/api/v1/stacks", params=query, headers=admin)
        return [s["name"] for s in response.json()["data"]["stacks"]]

    assert names(category="network") == ["dns", "network"]
    assert names(layer=2) == ["dns", "security"]
    assert names(template="minimal") == ["network", "security", "storage", "compute-ec2"]
    assert (
        harness.client.get("/api/v1/stacks", params={"template": "nope"}, headers=admin).status_code
        == 404
    )
    assert (
        harness.client.get("/api/v1/stacks", params={"category": "food"}, headers=admin).status_code
        == 400
    )


def test_a_stack_shows_its_dependents(harness: Harness, admin) -> None:
    data = harness.client.get("/api/v1/stacks/security", headers=admin).json()["data"]
    assert data["dependencies"] == ["network"]
    assert {"monitoring", "secrets", "storage"} <= set(data["dependents"])
    assert data["configuration"]["vpcId"]["type"] == "string"
    missing = harness.client.get("/api/v1/stacks/nope", headers=admin)
    assert missing.status_code == 404 and code(missing) == "RESOURCE_NOT_FOUND"


def test_a_stack_is_registered_updated_and_unregistered(harness: Harness) -> None:
    editor = harness.bearer("editor", (rbac.TEMPLATE_EDITOR,))
    created = harness.client.post("/api/v1/stacks", json=NEW_STACK, headers=editor)
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    assert data["path"] == "stacks/custom-monitoring/stack.yaml"
    assert any("layer is computed" in warning for warning in data["warnings"])
    written = yaml.safe_load(harness.source.files[data["path"]])
    assert written["configuration"]["alarmEmail"] == {
        "type": "string",
        "description": "Email for alarms",
        "required": True,
    }
    again = harness.client.post("/api/v1/stacks", json=NEW_STACK, headers=editor)
    assert again.status_code == 409 and code(again) == "RESOURCE_ALREADY_EXISTS"

    updated = harness.client.put(
        "/api/v1/stacks/custom-monitoring",
        json={"description": "Enhanced monitoring", "estimatedDuration": 120},
        headers=editor,
    )
    assert updated.status_code == 200
    assert updated.json()["data"]["changes"] == [
        "description: CloudWatch dashboards, alarms, and custom metrics → Enhanced monitoring",
        "estimatedDuration: 60 → 120",
    ]
    removed = harness.client.delete("/api/v1/stacks/custom-monitoring", headers=editor)
    assert removed.status_code == 200
    assert "stacks/custom-monitoring/stack.yaml" not in harness.source.files


def test_registering_a_stack_with_a_cycle_is_422(harness: Harness, admin) -> None:
    looped = NEW_STACK | {"name": "loop-a", "dependencies": ["loop-b"]}
    response = harness.client.post("/api/v1/stacks", json=looped, headers=admin)
    assert response.status_code == 422  # loop-b does not exist: an unknown dependency
    assert harness.source.commits == []
    update = harness.client.put(
        "/api/v1/stacks/network", json={"dependencies": ["security"]}, headers=admin
    )
    assert update.status_code == 422
    assert code(update) == "VALIDATION_CIRCULAR_DEPENDENCY"
    assert harness.source.commits == []


def test_a_stack_in_use_cannot_be_unregistered(harness: Harness, admin) -> None:
    response = harness.client.delete("/api/v1/stacks/network", headers=admin)
    assert response.status_code == 409 and code(response) == "RESOURCE_CONFLICT"
    used_by = response.json()["error"]["details"]["usedBy"]
    assert "default" in used_by["templates"] and "security" in used_by["stacks"]


def test_a_malformed_stack_is_400(harness: Harness, admin) -> None:
    response = harness.client.post(
        "/api/v1/stacks", json=NEW_STACK | {"category": "food"}, headers=admin
    )
    assert (
        response.status_code == 400 and response.json()["error"]["details"]["field"] == "category"
    )
    traversal = harness.client.post(
        "/api/v1/stacks", json=NEW_STACK | {"name": "../../etc"}, headers=admin
    )
    assert traversal.status_code == 400 and harness.source.commits == []


# --- templates ------------------------------------------------------------------------------


def test_templates_are_listed_and_shown(harness: Harness, admin) -> None:
    listing = harness.client.get("/api/v1/templates", headers=admin).json()["data"]
    assert listing["total"] == 4
    assert {t["type"] for t in listing["templates"]} == {"built-in"}
    default = harness.client.get("/api/v1/templates/default", headers=admin).json()["data"]
    assert len(default["stacks"]) == 16 and default["stacks"][0]["layer"] == 1
    assert default["deploymentTime"] > 0 and default["environments"]["dev"]["region"]
    assert harness.client.get("/api/v1/templates/nope", headers=admin).status_code == 404


def test_a_template_is_created_updated_validated_and_deleted(harness: Harness) -> None:
    editor = harness.bearer("editor", (rbac.TEMPLATE_EDITOR,))
    created = harness.client.post("/api/v1/templates", json=NEW_TEMPLATE, headers=editor)
    assert created.status_code == 201, created.text
    assert created.json()["data"]["type"] == "custom"
    assert "stacks/templates/custom-web.yaml" in harness.source.files
    duplicate = harness.client.post("/api/v1/templates", json=NEW_TEMPLATE, headers=editor)
    assert duplicate.status_code == 409

    updated = harness.client.put(
        "/api/v1/templates/custom-web", json={"description": "web tier"}, headers=editor
    )
    assert updated.json()["data"]["changes"] == [
        "description: network, security and EC2 → web tier"
    ]
    valid = harness.client.post("/api/v1/templates/custom-web/validate", headers=editor)
    assert valid.status_code == 200 and valid.json()["data"]["valid"] is True
    assert [c["name"] for c in valid.json()["data"]["checks"]] == [
        "stack-definitions",
        "dependencies",
        "configuration",
    ]
    deleted = harness.client.delete("/api/v1/templates/custom-web", headers=editor)
    assert deleted.status_code == 200
    assert "stacks/templates/custom-web.yaml" not in harness.source.files


def test_a_template_missing_a_dependency_is_422(harness: Harness, admin) -> None:
    broken = NEW_TEMPLATE | {"name": "broken", "stacks": ["security"], "defaultConfig": {}}
    response = harness.client.post("/api/v1/templates", json=broken, headers=admin)
    assert response.status_code == 422 and code(response) == "VALIDATION_INVALID_TEMPLATE"
    problem = response.json()["error"]["details"]["problems"][0]
    assert problem["file"] == "stacks/templates/broken.yaml"
    assert problem["code"] == "VALIDATION_MISSING_DEPENDENCY"


def test_templates_in_use_or_built_in_are_not_deleted(harness: Harness, admin) -> None:
    built_in = harness.client.delete("/api/v1/templates/minimal", headers=admin)
    assert built_in.status_code == 409
    harness.client.post("/api/v1/templates", json=NEW_TEMPLATE, headers=admin)
    harness.client.post(
        "/api/v1/deployments",
        json={
            "organization": "CompanyA",
            "project": "web",
            "template": "custom-web",
            "accounts": {"dev": "111111111111"},
        },
        headers=admin,
    )
    used = harness.client.delete("/api/v1/templates/custom-web", headers=admin)
    assert used.status_code == 409 and used.json()["error"]["details"]["usedBy"]["deployments"]


def test_a_manifest_is_generated_from_a_template_without_writing(harness: Harness, admin) -> None:
    response = harness.client.post(
        "/api/v1/templates/minimal/generate",
        json={
            "organization": "MyOrg",
            "project": "my-project",
            "domain": "myproject.example.com",
            "environments": {
                "dev": {"enabled": True, "region": "us-west-1", "accountId": "111111111111"}
            },
        },
        headers=admin,
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["valid"] is True and data["manifest"]["template"] == "minimal"
    assert data["manifest"]["environments"]["dev"]["region"] == "us-west-1"
    assert yaml.safe_load(data["yaml"])["deploymentId"] == data["deploymentId"]
    assert harness.source.commits == []
    unknown_env = harness.client.post(
        "/api/v1/templates/minimal/generate",
        json={"organization": "MyOrg", "project": "p", "environments": {"qa": {}}},
        headers=admin,
    )
    assert unknown_env.status_code == 422


# --- validate/* -----------------------------------------------------------------------------


def test_validate_manifest_reports_problems_without_writing(harness: Harness, admin) -> None:
    manifest = harness.client.get("/api/v1/deployments/D1BRV40/manifest", headers=admin).json()[
        "data"
    ]["manifest"]
    ok = harness.client.post(
        "/api/v1/validate/manifest", json={"manifest": manifest}, headers=admin
    )
    assert ok.status_code == 200 and ok.json()["data"]["valid"] is True
    manifest["stacks"]["network"]["config"]["vpcCidr"] = 42
    manifest["stacks"]["monitoring"]["config"]["nope"] = 1
    bad = harness.client.post(
        "/api/v1/validate/manifest", json={"manifest": manifest}, headers=admin
    ).json()["data"]
    assert bad["valid"] is False
    assert {e["code"] for e in bad["errors"]} == {
        "VALIDATION_INVALID_FORMAT",
        "VALIDATION_UNKNOWN_CONFIG_KEY",
    }
    schema = harness.client.post(
        "/api/v1/validate/manifest", json={"manifest": {"version": "3.1"}}, headers=admin
    ).json()["data"]
    assert schema["valid"] is False and schema["errors"][0]["code"] == "VALIDATION_REQUIRED_FIELD"
    missing = harness.client.post("/api/v1/validate/manifest", json={}, headers=admin)
    assert missing.status_code == 400
    assert harness.source.commits == []


def test_validate_dependencies_returns_the_graph_or_the_cycle(harness: Harness, admin) -> None:
    def check(body: dict) -> dict:
        response = harness.client.post("/api/v1/validate/dependencies", json=body, headers=admin)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    ok = check(
        {
            "stacks": {
                "network": {},
                "security": {},
                "database-rds": {"dependencies": ["network", "security"]},
            }
        }
    )
    assert {"from": "database-rds", "to": "network"} in ok["dependencyGraph"]["edges"]
    assert ok["valid"] is False  # database-rds needs secrets, which the request leaves out
    assert ok["errors"][0]["code"] == "VALIDATION_MISSING_DEPENDENCY"

    looped = check(
        {
            "deploymentId": "D1BRV40",
            "environment": "dev",
            "stacks": {"network": {"dependencies": ["monitoring"]}},
        }
    )
    assert looped["valid"] is False
    assert looped["errors"][0]["code"] == "VALIDATION_CIRCULAR_DEPENDENCY"
    assert looped["dependencyGraph"]["layers"] == []

    template = check({"template": "minimal"})
    assert template["valid"] is True
    assert template["dependencyGraph"]["layers"][0] == ["network"]
    unknown = check({"stacks": {"nope": {}}})
    assert unknown["errors"][0]["code"] == "VALIDATION_UNKNOWN_STACK"
    empty = harness.client.post("/api/v1/validate/dependencies", json={}, headers=admin)
    assert empty.status_code == 400


def test_validate_dependencies_of_a_deployment_needs_read_access(harness: Harness) -> None:
    editor = harness.bearer("editor", (rbac.TEMPLATE_EDITOR,))
    response = harness.client.post(
        "/api/v1/validate/dependencies", json={"deploymentId": "D1BRV40"}, headers=editor
    )
    assert response.status_code == 403


def test_a_template_naming_an_unknown_stack_is_an_invalid_template(harness: Harness, admin) -> None:
    """seeds/001: `VALIDATION_INVALID_TEMPLATE` (422) "Template validation failed"; the
    precise problem stays in the details."""
    body = NEW_TEMPLATE | {"name": "typo", "stacks": ["network", "netwrok"], "defaultConfig": {}}
    refused = harness.client.post("/api/v1/templates", json=body, headers=admin)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "VALIDATION_INVALID_TEMPLATE"
    assert error["details"]["problems"][0]["code"] == "VALIDATION_UNKNOWN_STACK"
    assert "netwrok" in error["message"]
