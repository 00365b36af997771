"""What a route accepts: its documented shapes (seeds 000-004), nothing it does not know.

Strict models are right for typos; a field the documents define is not a typo. And a
parameter a route does not know is refused (400) rather than silently ignored.
"""

from __future__ import annotations

import pytest

from tests.service.conftest import Harness
from tests.service.contract import INIT_002 as SEEDS_002_INIT
from tests.service.contract import REGISTER

D1 = "/api/v1/deployments/D1BRV40"


def error(response) -> dict:
    return response.json()["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/stacks/network",
        "/api/v1/templates/default",
        f"{D1}/manifest",
        f"{D1}/environments",
        "/api/v1/auth/api-keys",
        "/api/v1/users/me",
    ],
)
def test_a_query_parameter_a_route_does_not_know_is_400(harness: Harness, admin, path: str) -> None:
    response = harness.client.get(path, params={"verbose": "1"}, headers=admin)
    assert response.status_code == 400, response.text
    assert error(response)["code"] == "VALIDATION_INVALID_FORMAT"
    assert "verbose" in error(response)["message"]
    assert error(response)["details"]["field"] == "verbose"


def test_deleting_a_stack_of_a_deployment_points_at_the_deployment_scoped_destroy(
    harness: Harness, admin
) -> None:
    """seeds/002 2.4 `DELETE /stacks/{name}?deployment_id=&environment=` means "destroy
    this stack there", seeds/001 `DELETE /stacks/{name}` means "unregister the type": the
    first must never do the second."""
    before = len(harness.source.commits)
    response = harness.client.delete(
        "/api/v1/stacks/monitoring",
        params={"deployment_id": "D1BRV40", "environment": "dev"},
        headers=admin,
    )
    assert response.status_code == 400, response.text
    assert (
        "POST /api/v1/deployments/D1BRV40/stacks/monitoring/destroy" in error(response)["message"]
    )
    assert len(harness.source.commits) == before  # nothing unregistered


def test_a_trailing_slash_reaches_the_same_route(harness: Harness, admin) -> None:
    response = harness.client.get("/api/v1/stacks/", headers=admin, follow_redirects=False)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["total"] == 16


@pytest.mark.parametrize("path", ["/api/v1/deployments", "/api/v1/deployments/init"])
def test_seeds_002_init_body_creates_a_deployment(harness: Harness, admin, path: str) -> None:
    response = harness.client.post(path, json=SEEDS_002_INIT, headers=admin)
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["status"] == "initialized" and data["deploymentId"].startswith("D")
    assert data["manifestPath"].endswith("/manifest.yaml")
    envs = {e["name"]: e for e in data["environments"]}
    assert envs["dev"]["enabled"] and envs["stage"]["enabled"]
    assert envs["stage"]["account"] == "222222222222" and envs["dev"]["region"] == "us-east-1"


def test_list_pages_by_offset_as_seeds_002_does(harness: Harness, admin) -> None:
    everything = harness.client.get("/api/v1/deployments", headers=admin).json()["data"]
    ids = [d["deploymentId"] for d in everything["deployments"]]
    assert len(ids) >= 2
    page = harness.client.get(
        "/api/v1/deployments", params={"limit": 1, "offset": 1}, headers=admin
    ).json()["data"]
    assert [d["deploymentId"] for d in page["deployments"]] == ids[1:2]
    assert page["pagination"]["offset"] == 1 and page["pagination"]["total"] == len(ids)


def test_a_stack_definition_may_come_as_the_documented_stack_definition(
    harness: Harness, admin
) -> None:
    """seeds/001 POST /stacks: the fields, and `stackDefinition` with the stack.yaml."""
    body = REGISTER | {"stackDefinition": "estimatedDuration: 120\nestimatedResources: 6\n"}
    response = harness.client.post("/api/v1/stacks", json=body, headers=admin)
    assert response.status_code == 201, response.text
    shown = harness.client.get("/api/v1/stacks/custom-monitoring", headers=admin).json()["data"]
    assert shown["estimatedDuration"] == 120 and shown["estimatedResources"] == 6
    clash = body | {"name": "other-mon", "stackDefinition": {"name": "else"}}
    refused = harness.client.post("/api/v1/stacks", json=clash, headers=admin)
    assert refused.status_code == 400 and "stackDefinition" in refused.text


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("status", "status"),
        ("outputs", "outputs"),
        ("resources", "resources"),
        ("export", "state"),
    ],
)
def test_seeds_002_stack_scoped_reads_answer_like_the_deployment_scoped_ones(
    harness: Harness, admin, path: str, key: str
) -> None:
    params = {"deployment_id": "D1BRV40", "environment": "dev"}
    response = harness.client.get(f"/api/v1/stacks/network/{path}", params=params, headers=admin)
    # nothing is deployed in this harness: status answers not_deployed, the rest 404
    if path == "status":
        assert response.status_code == 200, response.text
        assert response.json()["data"][key] == "not_deployed"
    else:
        assert response.status_code == 404, response.text
        assert "network" in response.json()["error"]["message"]
    missing = harness.client.get(f"/api/v1/stacks/network/{path}", headers=admin)
    assert missing.status_code == 400 and "deployment_id" in missing.text
