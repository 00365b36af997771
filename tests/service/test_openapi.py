"""The OpenAPI document is complete and true: every route is in it, the docs page renders
offline, and schemathesis, driving the app in-process from the document alone, finds no
5xx and no response that breaks the document's schemas."""

from __future__ import annotations

import re

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from controller.core import rbac
from controller.service.http.access import ROUTE_ACCESS
from tests.service.conftest import Harness, HarnessFactory


def test_every_route_is_documented_with_its_permission(harness: Harness) -> None:
    document = harness.client.get("/api/v1/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    documented = {
        (method.upper(), path): operation["x-permission"]
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }
    assert documented == ROUTE_ACCESS
    operation_ids = [op["operationId"] for ops in document["paths"].values() for op in ops.values()]
    assert len(operation_ids) == len(set(operation_ids))
    create = document["paths"]["/api/v1/deployments"]["post"]
    assert set(create["responses"]) >= {"201", "202", "400", "401", "403", "409", "422", "429"}
    body = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    required = document["components"]["schemas"][body.rsplit("/", 1)[-1]]["required"]
    assert required == ["organization", "project"]
    path_params = document["paths"]["/api/v1/deployments/{deployment_id}"]["get"]["parameters"]
    assert path_params[0]["schema"]["pattern"] == "^D[0-9A-Z]{6}$"


def test_the_docs_page_works_offline(harness: Harness) -> None:
    page = harness.client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<script" not in page.text
    external = re.findall(r"(?:src|href)=['\"](https?://[^'\"]+)", page.text)
    assert external == []
    assert "/api/v1/deployments/{deployment_id}" in page.text
    assert "deployments:create" in page.text
    css = harness.client.get("/docs/docs.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]


def test_the_api_honours_its_own_document(harness: Harness) -> None:
    """Every operation, a bounded number of generated requests each, as an all-powerful key."""
    headers = {"X-API-Key": harness.api_key(list(rbac.PERMISSIONS))}
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", harness.client.app)
    failures = []
    statuses: dict[int, int] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    tested = {(op.method.upper(), op.path) for op in operations}
    assert set(ROUTE_ACCESS) - tested <= {("GET", "/api/v1/openapi.json")}  # it skips itself
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=12,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case: schemathesis.Case) -> None:
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        try:
            exercise()
        except Exception as error:  # collect them all: one report for the whole API
            failures.append(f"{operation.method.upper()} {operation.path}: {error}")
    assert failures == [], "\n\n".join(failures)
    assert statuses.get(200, 0) + statuses.get(201, 0) > 50  # not only refusals


def test_schemathesis_would_notice_a_lie(make_harness: HarnessFactory) -> None:
    """The check is real: a response that breaks its schema is reported."""
    harness = make_harness()
    app = harness.client.app
    document = harness.client.get("/api/v1/openapi.json").json()
    info = document["components"]["schemas"]["Info"]
    info["properties"]["apiVersion"] = {"type": "integer"}
    app.state.openapi = document
    lying = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    operation = lying["/api/v1/info"]["GET"]
    case = operation.Case()
    with pytest.raises(FailureGroup, match="Response violates schema"):
        case.call_and_validate(checks=[response_schema_conformance])


def test_the_document_is_served_as_yaml_too(harness: Harness) -> None:
    as_json = harness.client.get("/api/v1/openapi.json").json()
    response = harness.client.get("/api/v1/openapi.yaml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/yaml")
    assert yaml.safe_load(response.text) == as_json


def test_an_errors_documentation_url_is_its_section_of_the_docs_page(
    harness: Harness, admin
) -> None:
    page = harness.client.get("/docs").text
    missing = harness.client.get("/api/v1/deployments/DZZZZZZ", headers=admin).json()["error"]
    assert missing["documentationUrl"] == "/docs#error-RESOURCE_NOT_FOUND"
    assert "id='error-RESOURCE_NOT_FOUND'" in page
    for item in harness.client.get("/api/v1/openapi.json").json()["x-error-codes"]:
        assert f"id='error-{item['code']}'" in page


def _raised_codes() -> set[str]:
    """Every error code a route, the operations or the core can raise, read off the source:
    the second argument of `ApiError(...)` / `OperationError(...)` / `Problem(...)` first
    argument, and the `code` of an error dict."""
    import ast
    from pathlib import Path

    from controller.core import problems
    from controller.service.http import errors

    names = {**vars(errors), **vars(problems)}
    found: set[str] = set()

    def value(node: ast.AST) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)
        resolved = names.get(name) if name else None
        return resolved if isinstance(resolved, str) else None

    root = Path(__file__).resolve().parents[2] / "controller"
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                called = getattr(node.func, "id", getattr(node.func, "attr", ""))
                position = {"ApiError": 1, "OperationError": 1, "Problem": 0}.get(called)
                if position is not None and len(node.args) > position:
                    code = value(node.args[position])
                    if code and code.isupper():
                        found.add(code)
            if isinstance(node, ast.Dict):
                for key, item in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "code":
                        code = value(item)
                        if code and code.isupper() and "_" in code:
                            found.add(code)
    return found


def test_every_error_code_raised_has_a_documented_section() -> None:
    from controller.service.http.error_codes import ERROR_CODES

    raised = _raised_codes()
    assert len(raised) > 20
    assert raised - set(ERROR_CODES) == set()
