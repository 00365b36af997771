"""What a route accepts: its documented shapes (seeds 000-004), nothing it does not know.

Strict models are right for typos; a field the documents define is not a typo. And a
parameter a route does not know is refused (400) rather than silently ignored.
"""

from __future__ import annotations

import pytest

from tests.service.conftest import Harness

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
