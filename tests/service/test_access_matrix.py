"""Every route x every role: the access table is what the router enforces.

Path parameters name things that do not exist, so an allowed call stops at 400/404
after the permission check and nothing is changed.
"""

from __future__ import annotations

import pytest

from controller.core import rbac
from controller.service.http.access import AUTHENTICATED, PUBLIC, ROUTE_ACCESS
from controller.service.http.routes import ENDPOINTS
from tests.service.conftest import Harness

PARAMS = {
    "deployment_id": "DZZZZZZ",
    "stack_name": "no-such-stack",
    "template_name": "no-such-template",
    "environment_name": "dev",
    "key_id": "key-0000000000000000",
    "operation_id": "op-000000000000",
}
ROUTES = sorted(ROUTE_ACCESS)


def send(harness: Harness, method: str, path: str, headers: dict[str, str]):
    url = path.format(**PARAMS)
    body = {} if method in ("POST", "PUT") else None
    return harness.client.request(method, url, json=body, headers=headers)


def test_the_access_table_names_exactly_the_routes() -> None:
    assert {(e.method, e.path) for e in ENDPOINTS} == set(ROUTE_ACCESS)
    assert len(ENDPOINTS) == len(ROUTE_ACCESS)
    known = {PUBLIC, AUTHENTICATED, *rbac.PERMISSIONS}
    assert set(ROUTE_ACCESS.values()) <= known


@pytest.mark.parametrize("role", rbac.ROLES)
def test_every_route_allows_exactly_the_roles_holding_its_permission(
    harness: Harness, role: str
) -> None:
    granted = rbac.role_permissions([role])
    wrong = []
    for method, path in ROUTES:
        rule = ROUTE_ACCESS[(method, path)]
        headers = harness.bearer(f"user-{role.replace(' ', '-').lower()}", (role,))
        response = send(harness, method, path, headers)
        allowed = rule in (PUBLIC, AUTHENTICATED) or rule in granted
        forbidden = response.status_code == 403 and (
            response.json()["error"]["code"] == "AUTHZ_FORBIDDEN"
        )
        if allowed == forbidden or response.status_code >= 500:
            wrong.append(f"{method} {path}: {response.status_code} (allowed={allowed})")
    assert wrong == []


def test_every_route_but_the_public_ones_needs_credentials(harness: Harness) -> None:
    wrong = []
    for method, path in ROUTES:
        response = send(harness, method, path, {})
        public = ROUTE_ACCESS[(method, path)] == PUBLIC
        if public == (response.status_code == 401):
            wrong.append(f"{method} {path}: {response.status_code}")
    assert wrong == []


def test_an_api_key_gets_only_its_scopes_on_every_route(harness: Harness) -> None:
    key = harness.api_key([rbac.DEPLOYMENTS_READ])
    wrong = []
    for method, path in ROUTES:
        rule = ROUTE_ACCESS[(method, path)]
        response = send(harness, method, path, {"X-API-Key": key})
        allowed = rule in (PUBLIC, AUTHENTICATED, rbac.DEPLOYMENTS_READ)
        if allowed == (response.status_code == 403):
            wrong.append(f"{method} {path}: {response.status_code}")
    assert wrong == []


def test_a_developer_cannot_create_deployments(harness: Harness) -> None:
    response = harness.client.post(
        "/api/v1/deployments",
        json={"organization": "CompanyA", "project": "shop", "accounts": {"dev": "111111111111"}},
        headers=harness.bearer("dev", (rbac.DEVELOPER,)),
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "AUTHZ_FORBIDDEN"
    assert harness.source.commits == []


PARAMETRIZED = [(m, p) for m, p in ROUTES if "{" in p]
MALFORMED = {
    "deployment_id": "d1brv40",
    "stack_name": "Not_A_Name",
    "template_name": "UPPER",
    "environment_name": "Dev!",
    "key_id": "key-xyz",
    "operation_id": "op-XYZ",
}


@pytest.mark.parametrize(("method", "path"), PARAMETRIZED)
def test_every_path_parameter_is_checked_before_anything_is_read(
    harness: Harness, method: str, path: str
) -> None:
    url = path.format(**(PARAMS | {name: MALFORMED[name] for name in MALFORMED if name in path}))
    response = harness.client.request(method, url, json={}, headers=harness.bearer())
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "VALIDATION_INVALID_FORMAT"
    assert harness.source.reads <= 1 and harness.source.commits == []


# routes that need a query (seeds/002's `?deployment_id=`) or a body to name what they act
# on: their 404 is tested with it, elsewhere
QUERY_NAMED = {
    (e.method, e.path)
    for e in ENDPOINTS
    if (e.query is not None and e.query.model_json_schema().get("required"))
    or (e.body is not None and e.body_required and e.body.model_json_schema().get("required"))
}
BODYLESS = [
    (m, p)
    for m, p in PARAMETRIZED
    if (m in ("GET", "DELETE") or p.endswith(("/validate", "able"))) and (m, p) not in QUERY_NAMED
]


@pytest.mark.parametrize(("method", "path"), BODYLESS)
def test_every_route_naming_something_missing_is_404(
    harness: Harness, method: str, path: str
) -> None:
    response = harness.client.request(method, path.format(**PARAMS), headers=harness.bearer())
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "RESOURCE_NOT_FOUND"
