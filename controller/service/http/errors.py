"""Errors as the API reports them, and the one table that maps exceptions to them.

Every failure a client sees is an `ApiError`: an HTTP status, a seed error code
(`RESOURCE_NOT_FOUND`, `AUTH_TOKEN_EXPIRED`…), a message, details and a suggestion.
Domain exceptions raised below the routes (a core `ProblemError`, a store or repo error)
are translated here, in `TRANSLATIONS`, and nowhere else. Translations of server-side
failures never carry the exception's text, which may hold paths: that goes to the log.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException

from controller.adapters.callbacks import CallbackRefusedError
from controller.adapters.catalog_sources import SourceConflictError, SourceError
from controller.adapters.inventory import InventoryUnavailableError
from controller.adapters.local_repo import RepoPathError
from controller.core.problems import Problem, ProblemError
from controller.edits.catalog_state import WriteRefused
from controller.edits.checks import problem_data as problem_view
from controller.edits.errors import DocumentInvalid, EditError
from controller.operations.control import OperationError
from controller.service.http.error_codes import documentation_url
from controller.store.base import StoreConflictError, StoreError

# Seed codes (seeds/001, "Common Error Codes") and the few this service adds.
AUTH_INVALID_TOKEN = "AUTH_INVALID_TOKEN"
AUTH_TOKEN_EXPIRED = "AUTH_TOKEN_EXPIRED"
AUTH_INVALID_CREDENTIALS = "AUTH_INVALID_CREDENTIALS"
AUTHZ_FORBIDDEN = "AUTHZ_FORBIDDEN"
AUTHZ_RESOURCE_ACCESS_DENIED = "AUTHZ_RESOURCE_ACCESS_DENIED"
AUTHZ_ORGANIZATION_MISMATCH = "AUTHZ_ORGANIZATION_MISMATCH"
VALIDATION_REQUIRED_FIELD = "VALIDATION_REQUIRED_FIELD"
VALIDATION_INVALID_FORMAT = "VALIDATION_INVALID_FORMAT"
VALIDATION_INVALID_TEMPLATE = "VALIDATION_INVALID_TEMPLATE"
RESOURCE_NOT_FOUND = "RESOURCE_NOT_FOUND"
RESOURCE_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
RESOURCE_CONFLICT = "RESOURCE_CONFLICT"
DEPLOYMENT_HAS_ACTIVE_STACKS = "DEPLOYMENT_HAS_ACTIVE_STACKS"
RATE_LIMIT_EXCEEDED = "RATE_LIMIT_EXCEEDED"
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
REPOSITORY_ERROR = "REPOSITORY_ERROR"
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
INTERNAL_ERROR = "INTERNAL_ERROR"

SUGGESTIONS = {
    AUTH_INVALID_TOKEN: "Sign in again (POST /api/v1/auth/login) or send a valid X-API-Key",
    AUTH_TOKEN_EXPIRED: "Use refresh token to obtain new access token",
    AUTH_INVALID_CREDENTIALS: "Check the username and password",
    AUTHZ_FORBIDDEN: "Ask an administrator for a role that grants this permission",
    AUTHZ_ORGANIZATION_MISMATCH: "Use a deployment of one of your organizations",
    VALIDATION_REQUIRED_FIELD: "Add the missing field to the request",
    VALIDATION_INVALID_FORMAT: "Fix the field's format; GET /api/v1/openapi.json has the schema",
    RESOURCE_NOT_FOUND: "Check the identifier; list the collection to see what exists",
    RESOURCE_ALREADY_EXISTS: "Choose another name or identifier",
    RESOURCE_CONFLICT: "Resolve the conflict (see details) and retry",
    DEPLOYMENT_HAS_ACTIVE_STACKS: "Run destroy operation first or use force=true to delete",
    RATE_LIMIT_EXCEEDED: "Reduce request frequency or upgrade to higher tier",
    PAYLOAD_TOO_LARGE: "Send a smaller request body",
    METHOD_NOT_ALLOWED: "See GET /api/v1/openapi.json for the methods of each path",
    REPOSITORY_ERROR: "Retry; if it persists, check the repository's state and the service log",
    SERVICE_UNAVAILABLE: "Retry shortly; GET /health shows which dependency is down",
    INTERNAL_ERROR: "Retry; if it persists, report the requestId to the operators",
    "OPERATION_IN_PROGRESS": "Wait for the running operation (details.statusUrl) or cancel it",
    "QUOTA_EXCEEDED": "Wait for one of your operations to end, or use a higher tier",
    "PULUMI_STATE_ERROR": "Check the engine's backend (PULUMI_BACKEND_URL, credentials)",
}

# Business validation is 422; problems about the shape of what was sent are 400.
_FORMAT_CODES = {
    "VALIDATION_REQUIRED_FIELD",
    "VALIDATION_INVALID_FORMAT",
    "VALIDATION_UNKNOWN_FIELD",
    "VALIDATION_INVALID_ACCOUNT_ID",
    "VALIDATION_INVALID_DEPLOYMENT_ID",
    "VALIDATION_YAML_SYNTAX",
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        suggestion: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.suggestion = suggestion if suggestion is not None else SUGGESTIONS.get(code, "")
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "details": self.details,
            "suggestion": self.suggestion,
            "documentationUrl": documentation_url(self.code),
        }


def not_found(kind: str, name: str) -> ApiError:
    return ApiError(404, RESOURCE_NOT_FOUND, f"{kind} {name!r} not found", details={kind: name})


def problems_error(
    problems: list[Problem], *, status: int | None = None, code: str | None = None
) -> ApiError:
    """A 422 (business rules) or 400 (format) carrying every problem with file and line;
    `code` names the failure as a whole (the first problem's code otherwise)."""
    errors = [p for p in problems if p.severity == "error"] or problems
    first = errors[0]
    if status is None:
        status = 400 if all(p.code in _FORMAT_CODES for p in errors) else 422
    message = first.message
    if first.file and first.line:
        message = f"{first.file}:{first.line}: {message}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return ApiError(
        status,
        code or first.code,
        message,
        details={"problems": [problem_view(p) for p in problems]},
        suggestion="Fix the problems listed in details; nothing was written",
    )


def _http(error: HTTPException) -> ApiError:
    if error.status_code == 404:
        return ApiError(404, RESOURCE_NOT_FOUND, "no such endpoint")
    if error.status_code == 405:
        return ApiError(405, METHOD_NOT_ALLOWED, "method not allowed on this endpoint")
    return ApiError(error.status_code, INTERNAL_ERROR, "request failed")


# The one table: exception type -> ApiError. Looked up along the exception's MRO.
TRANSLATIONS: dict[type[BaseException], Callable[[Any], ApiError]] = {
    ApiError: lambda error: error,
    WriteRefused: lambda error: problems_error(error.problems, status=422),
    ProblemError: lambda error: problems_error(error.problems),
    HTTPException: _http,
    RepoPathError: lambda _: ApiError(404, RESOURCE_NOT_FOUND, "no such file in the repository"),
    SourceConflictError: lambda error: ApiError(409, RESOURCE_CONFLICT, str(error)),
    SourceError: lambda _: ApiError(502, REPOSITORY_ERROR, "the repository could not be updated"),
    StoreConflictError: lambda _: ApiError(409, RESOURCE_ALREADY_EXISTS, "the record exists"),
    StoreError: lambda _: ApiError(503, SERVICE_UNAVAILABLE, "the store is unavailable"),
    InventoryUnavailableError: lambda _: ApiError(
        503,
        SERVICE_UNAVAILABLE,
        "cannot tell which stacks are deployed: the engine's backend is unavailable",
        suggestion="Retry when the engine is available, or use force=true",
    ),
}


_OPERATION_STATUS = {
    "invalid": 400,
    "not_found": 404,
    "conflict": 409,
    "unavailable": 503,
    "quota": 429,
    "locked": 423,
    "unprocessable": 422,
}


def _operation(error: OperationError) -> ApiError:
    return ApiError(_OPERATION_STATUS[error.kind], error.code, error.message, details=error.details)


TRANSLATIONS[OperationError] = _operation

_EDIT_STATUS = {
    "not_found": (404, RESOURCE_NOT_FOUND),
    "exists": (409, RESOURCE_ALREADY_EXISTS),
    "conflict": (409, RESOURCE_CONFLICT),
}


def _edit(error: EditError) -> ApiError:
    status, code = _EDIT_STATUS[error.kind]
    return ApiError(status, code, error.message, details=error.details, suggestion=error.suggestion)


TRANSLATIONS[EditError] = _edit
TRANSLATIONS[DocumentInvalid] = lambda error: problems_error(error.problems, status=400)
TRANSLATIONS[CallbackRefusedError] = lambda error: ApiError(
    400, VALIDATION_INVALID_FORMAT, f"webhookUrl: {error}", details={"field": "webhookUrl"}
)


def translate(error: BaseException) -> ApiError | None:
    """The ApiError for an exception, or None when it is unexpected (a 500)."""
    for kind in type(error).__mro__:
        translator = TRANSLATIONS.get(kind)
        if translator is not None:
            return translator(error)
    return None


def internal_error() -> ApiError:
    return ApiError(500, INTERNAL_ERROR, "internal server error")
