"""The OpenAPI 3.1 document, generated from the endpoint table and its pydantic models.

Nothing here is written by hand per endpoint: paths, parameters (with the path patterns
the router enforces), request bodies, the success envelope around each reply model, the
error envelope for each status an endpoint can return, the security each requires and
the permission (`x-permission`) from the access table. So the document, the validation
and the responses cannot disagree. A purely computational module.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from controller.service.http.access import PUBLIC
from controller.service.http.error_codes import ERROR_CODES
from controller.service.http.routing import PATH_PATTERNS, Endpoint

REF = "#/components/schemas/{model}"
_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted: the change is proposed as a pull request",
    400: "Bad request (malformed JSON, missing or invalid field)",
    401: "Not authenticated (missing, invalid, expired or revoked credentials)",
    403: "Forbidden (permission or organization)",
    404: "Not found",
    409: "Conflict",
    413: "Request body too large",
    423: "Locked by another operation",
    424: "A pre-flight check failed",
    422: "Validation failed (the change would break the catalog)",
    429: "Rate limit exceeded",
    502: "The repository could not be updated",
    503: "A dependency is unavailable",
}


def openapi_document(endpoints: list[Endpoint], *, version: str) -> dict[str, Any]:
    inputs = {model for e in endpoints for model in (e.body, e.query) if model is not None}
    outputs = {e.reply for e in endpoints if e.reply is not None}
    keys = [(m, "validation") for m in sorted(inputs, key=_name)]
    keys += [(m, "serialization") for m in sorted(outputs, key=_name)]
    refs, defs = models_json_schema(keys, ref_template=REF)
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    schemas |= _envelope_schemas()
    paths: dict[str, Any] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "cloud: GitOps controller for Pulumi stacks",
            "version": version,
            "description": "REST API of the Cloud Architecture v3.1 seeds: deployments, "
            "stacks, templates and environments kept in Git.",
            "license": {"name": "Apache 2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": "/"}],
        "tags": [{"name": tag} for tag in dict.fromkeys(e.tag for e in endpoints)],
        "paths": paths,
        "x-error-codes": [
            {"code": code, "status": status, "description": meaning}
            for code, (status, meaning) in ERROR_CODES.items()
        ],
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "BearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "ApiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }


def _name(model: type[BaseModel]) -> str:
    return model.__name__


def _operation(endpoint: Endpoint, refs: dict[Any, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": endpoint.name,
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "x-permission": endpoint.access,
        "parameters": _parameters(endpoint, refs),
        "responses": _responses(endpoint, refs),
        "security": [] if endpoint.access == PUBLIC else [{"BearerAuth": []}, {"ApiKeyAuth": []}],
    }
    if endpoint.description:
        operation["description"] = endpoint.description
    if "requestBody" in endpoint.extra:
        operation["requestBody"] = endpoint.extra["requestBody"]
    elif endpoint.body is not None:
        operation["requestBody"] = {
            "required": endpoint.body_required,
            "content": {"application/json": {"schema": refs[(endpoint.body, "validation")]}},
        }
    return operation


def _parameters(endpoint: Endpoint, refs: dict[Any, Any]) -> list[dict[str, Any]]:
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": PATH_PATTERNS.get(name, ".+")},
        }
        for name in re.findall(r"{(\w+)}", endpoint.path)
    ]
    if endpoint.query is not None:
        schema = endpoint.query.model_json_schema(ref_template=REF, mode="validation")
        required = set(schema.get("required", ()))
        for name, spec in schema.get("properties", {}).items():
            spec = {key: value for key, value in spec.items() if key != "title"}
            parameters.append(
                {"name": name, "in": "query", "required": name in required, "schema": spec}
            )
    return parameters


def _responses(endpoint: Endpoint, refs: dict[Any, Any]) -> dict[str, Any]:
    if endpoint.raw:
        responses = dict(endpoint.extra["responses"])
        for code in sorted(_error_statuses(endpoint)):
            responses.setdefault(
                str(code),
                {
                    "description": _STATUS_TEXT.get(code, "Error"),
                    "content": {
                        "application/json": {"schema": {"$ref": REF.format(model="Failure")}}
                    },
                },
            )
        return responses
    data = refs[(endpoint.reply, "serialization")] if endpoint.reply else {}
    success = {
        "type": "object",
        "additionalProperties": False,
        "required": ["success", "data", "meta"],
        "properties": {
            "success": {"const": True},
            "data": data,
            "message": {"type": "string"},
            "warning": {"type": "string"},
            "meta": {"$ref": REF.format(model="Meta")},
        },
    }
    codes = {endpoint.status}
    if 502 in endpoint.errors:
        codes.add(202)
    responses: dict[str, Any] = {
        str(code): {
            "description": _STATUS_TEXT.get(code, "OK"),
            "content": {"application/json": {"schema": success}},
        }
        for code in sorted(codes)
    }
    for code in sorted(_error_statuses(endpoint)):
        responses[str(code)] = {
            "description": _STATUS_TEXT[code],
            "content": {"application/json": {"schema": {"$ref": REF.format(model="Failure")}}},
        }
    return responses


def _error_statuses(endpoint: Endpoint) -> set[int]:
    statuses = {429, *endpoint.errors}
    if endpoint.access != PUBLIC:
        statuses |= {401, 403}
    statuses.add(400)  # a query parameter the route does not know, at least
    if endpoint.body is not None or endpoint.method in ("POST", "PUT"):
        statuses |= {400, 413}
    if "{" in endpoint.path:
        statuses.add(404)
    return statuses


def _envelope_schemas() -> dict[str, Any]:
    return {
        "Meta": {
            "type": "object",
            "additionalProperties": False,
            "required": ["requestId", "timestamp", "duration"],
            "properties": {
                "requestId": {"type": "string"},
                "timestamp": {"type": "string"},
                "duration": {"type": "number", "description": "milliseconds"},
            },
        },
        "Error": {
            "type": "object",
            "additionalProperties": False,
            "required": ["code", "message", "details", "suggestion", "documentationUrl"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object"},
                "suggestion": {"type": "string"},
                "documentationUrl": {
                    "type": "string",
                    "description": "the code's section of the docs page (/docs#error-CODE)",
                },
            },
        },
        "Failure": {
            "type": "object",
            "additionalProperties": False,
            "required": ["success", "error", "meta"],
            "properties": {
                "success": {"const": False},
                "error": {"$ref": REF.format(model="Error")},
                "meta": {"$ref": REF.format(model="Meta")},
            },
        },
    }
