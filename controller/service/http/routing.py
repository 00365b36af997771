"""From the endpoint table to Starlette routes: the one place requests are parsed and checked.

An `Endpoint` is data: method, path, handler, the models of its query, body and reply,
and its status. `build_routes` wraps each handler so that, in this order, the caller is
authenticated and authorized (from the access table), the path parameters are checked
against the catalog's name patterns before anything touches the repo, the query and the
body are parsed into their models (400 with the field named when they do not fit; a body
nested too deep or with an outsized number is refused before any model sees it), and
the handler's reply is put in the envelope. Handlers only see valid, typed input.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route, Router, WebSocketRoute
from starlette.types import Receive, Scope, Send

from controller.core.documents import data_path, validate_data
from controller.core.json_input import JsonInputError, parse_json
from controller.core.names import NAMES, name_problem
from controller.core.problems import Problem
from controller.service.auth.authentication import AUTH_ERROR, PRINCIPAL, Principal
from controller.service.http.access import AUTHENTICATED, PUBLIC, ROUTE_ACCESS
from controller.service.http.envelope import success
from controller.service.http.errors import (
    AUTH_INVALID_TOKEN,
    AUTHZ_FORBIDDEN,
    VALIDATION_INVALID_FORMAT,
    VALIDATION_REQUIRED_FIELD,
    ApiError,
)
from controller.service.http.middleware import AUDIT_DETAILS

# path parameter -> the kind of name it holds (`core.names`: one check for every entry point)
PATH_NAMES = {
    "deployment_id": "deployment_id",
    "stack_name": "stack_name",
    "template_name": "stack_name",
    "environment_name": "environment_name",
    "key_id": "key_id",
    "operation_id": "operation_id",
}
PATH_PATTERNS = {param: NAMES[kind][0] for param, kind in PATH_NAMES.items()}


@dataclass
class Call:
    """What a handler gets: the request, the services, the caller and the parsed input."""

    request: Request
    services: Any
    principal: Principal | None
    params: dict[str, str]
    query: Any = None
    body: Any = None

    @property
    def user(self) -> Principal:
        if self.principal is None:  # pragma: no cover - routing guarantees it
            raise ApiError(401, AUTH_INVALID_TOKEN, "authentication required")
        return self.principal

    def audit(self, **details: Any) -> None:
        """Add details to this request's audit-log entry."""
        self.request.scope.setdefault(AUDIT_DETAILS, {}).update(details)


class Reply(NamedTuple):  # one per request: a tuple is the cheapest record to build
    data: Any
    status: int | None = None
    message: str | None = None
    warning: str | None = None


Handler = Callable[[Call], Awaitable[Reply]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    reply: type[BaseModel] | None = None
    status: int = 200
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    body_required: bool = True
    errors: tuple[int, ...] = ()
    description: str = ""
    raw: bool = False  # the handler returns its own Response (docs, openapi.json)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.handler.__name__

    @cached_property  # asked at every request: looked up once
    def access(self) -> str:
        return ROUTE_ACCESS[(self.method, self.path)]


def build_routes(endpoints: list[Endpoint], services: Any) -> list[Route]:
    missing = [f"{e.method} {e.path}" for e in endpoints if (e.method, e.path) not in ROUTE_ACCESS]
    unused = sorted(set(ROUTE_ACCESS) - {(e.method, e.path) for e in endpoints})
    if missing or unused:
        raise RuntimeError(f"access table out of step: missing {missing}, unused {unused}")
    grouped: dict[str, list[Endpoint]] = {}
    for endpoint in endpoints:
        grouped.setdefault(endpoint.path, []).append(endpoint)
    routes = []
    for path, group in grouped.items():
        by_method = {endpoint.method: endpoint for endpoint in group}
        routes.append(Route(path, PathApp(by_method, services), methods=list(by_method), name=path))
    return routes


class TableRouter(Router):
    """Starlette's router, with a dictionary in front for the paths without parameters,
    and the endpoints of the request's frame found without an ASGI call.

    Starlette tries each route's pattern in order; for `GET /api/v1/deployments` that
    was a dozen regular expressions per request. A path whose first match in that order
    is its own route (no earlier pattern matches it) is looked up instead; anything
    else (parameters, 405s, redirects) goes through Starlette as before.
    """

    def __init__(self, routes: list[BaseRoute], **options: Any) -> None:
        super().__init__(routes, **options)
        self.exact: dict[str, Route] = {}  # path -> its route, when it is one of ours
        for index, route in enumerate(self.routes):
            if not isinstance(route, Route) or route.param_convertors:
                continue
            earlier = self.routes[:index]
            if not any(
                isinstance(other, Route | WebSocketRoute) and other.path_regex.match(route.path)
                for other in earlier
            ):
                self.exact.setdefault(route.path, route)

    def resolve(self, scope: Scope) -> PathApp | None:
        """The endpoints' app an HTTP request goes to, with the scope set as Starlette
        sets it (route, endpoint, path parameters); None for anything else (another kind
        of route, a 405, a redirect, a 404: `app` answers those as Starlette does)."""
        route = self._exact(scope)
        if route is None:
            if scope.get("root_path"):
                return None
            for candidate in self.routes:  # Starlette's order: the first full match wins
                match, child = candidate.matches(scope)
                if match is Match.FULL:
                    app = getattr(candidate, "app", None)
                    if not isinstance(app, PathApp):
                        return None
                    scope.setdefault("router", self)
                    scope["route"] = candidate
                    scope.update(child)
                    return app
            return None
        return route.app if isinstance(route.app, PathApp) else None

    def _exact(self, scope: Scope) -> Route | None:
        """The route of a path without parameters, with the scope set for it, when it
        takes this method; None when Starlette's matching must decide."""
        if scope.get("root_path"):
            return None
        route = self.exact.get(scope["path"])
        if route is None or (route.methods and scope["method"] not in route.methods):
            return None
        scope.setdefault("router", self)
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = {}
        return route

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (route := self._exact(scope)) is not None:
            await route.app(scope, receive, send)  # the method is checked: no `handle`
            return
        await super().app(scope, receive, send)


class PathApp:
    """The ASGI app of one path: its endpoints by method. An ASGI app rather than a
    request function, so Starlette calls it directly (one `Request` per request, no
    second exception wrapper: the app's own middleware translates errors). The request's
    frame calls `respond` instead, and sends the answer itself."""

    def __init__(self, by_method: dict[str, Endpoint], services: Any) -> None:
        self.by_method = by_method
        self.services = services

    async def respond(self, scope: Scope, receive: Receive) -> Response:
        endpoint = self.by_method.get(scope["method"]) or self.by_method["GET"]  # HEAD as GET
        return await run_endpoint(endpoint, Request(scope, receive), self.services)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.respond(scope, receive)
        await response(scope, receive, send)


async def run_endpoint(endpoint: Endpoint, request: Request, services: Any) -> Response:
    principal: Principal | None = request.scope.get(PRINCIPAL)
    rejected: ApiError | None = request.scope.get(AUTH_ERROR)
    if rejected is not None and endpoint.access != PUBLIC:
        raise rejected  # normally raised by the rate limiter, unless it is turned off
    authorize(endpoint.access, principal)
    params = check_path_params(request.path_params) if request.path_params else {}
    call = Call(request, services, principal, params)
    if endpoint.query is not None:
        call.query = parse_query(endpoint, request)
    elif request.scope.get("query_string") and request.query_params:
        name = next(iter(request.query_params))
        raise ApiError(
            400,
            VALIDATION_INVALID_FORMAT,
            f"{name[:60]} is not a query parameter of {endpoint.method} {endpoint.path} "
            "(it takes none)",
            details={"field": name[:60], "in": "query"},
        )
    if endpoint.body is not None:
        call.body = await parse_body(endpoint.body, request, required=endpoint.body_required)
    reply = await endpoint.handler(call)
    if endpoint.raw:
        return reply.data
    data = reply.data.dump() if hasattr(reply.data, "dump") else reply.data
    return success(
        request.scope,
        data,
        status=reply.status or endpoint.status,
        message=reply.message,
        warning=reply.warning,
    )


def authorize(rule: str, principal: Principal | None) -> None:
    if rule == PUBLIC:
        return
    if principal is None:
        raise ApiError(
            401,
            AUTH_INVALID_TOKEN,
            "authentication required: send 'Authorization: Bearer <token>' or 'X-API-Key'",
        )
    if rule != AUTHENTICATED and rule not in principal.permissions:
        raise ApiError(
            403,
            AUTHZ_FORBIDDEN,
            f"permission {rule!r} is required",
            details={"required": rule, "roles": list(principal.roles)},
        )


def check_path_params(params: dict[str, Any]) -> dict[str, str]:
    for name, value in params.items():
        kind = PATH_NAMES.get(name)
        problem = name_problem(kind, str(value)) if kind is not None else None
        if problem is not None:
            raise ApiError(
                400,
                VALIDATION_INVALID_FORMAT,
                f"{name} has the wrong format: {problem} (must match {PATH_PATTERNS[name]})",
                details={"field": name},
            )
    return {name: str(value) for name, value in params.items()}


async def parse_body(model: type[BaseModel], request: Request, *, required: bool) -> Any:
    raw = await request.body()
    if not raw.strip():
        if not required:
            return model()
        raise ApiError(400, VALIDATION_REQUIRED_FIELD, "a JSON request body is required")
    try:
        data = parse_json(raw)
    except JsonInputError as error:
        raise ApiError(400, VALIDATION_INVALID_FORMAT, f"the request body {error}") from None
    if not isinstance(data, dict):
        raise ApiError(400, VALIDATION_INVALID_FORMAT, "the request body must be a JSON object")
    return parse_model(model, data, where="body")


_QUERIES: dict[tuple[str, str, bytes], Any] = {}


def parse_query(endpoint: Endpoint, request: Request) -> Any:
    """The query parsed into its model, once per distinct query string (handlers read
    their query, never change it; the same few are sent again and again)."""
    assert endpoint.query is not None
    key = (endpoint.method, endpoint.path, request.scope["query_string"])
    parsed = _QUERIES.get(key)
    if parsed is None:
        parsed = parse_model(endpoint.query, dict(request.query_params), where="query")
        if len(_QUERIES) >= 1000:
            _QUERIES.clear()
        _QUERIES[key] = parsed
    return parsed


def parse_model(model: type[BaseModel], data: dict[str, Any], *, where: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise validation_error(error, where=where, data=data) from None


def validation_error(error: ValidationError, *, where: str, data: Any = None) -> ApiError:
    problems = []
    for item in error.errors():
        loc = [str(part) for part in data_path(item["loc"], data)]
        field_name = ".".join(loc) or where
        kind = item["type"]
        if kind == "missing":
            code, message = VALIDATION_REQUIRED_FIELD, f"{field_name} is required"
        elif kind == "extra_forbidden":
            what = "query parameter" if where == "query" else "field"
            code, message = VALIDATION_INVALID_FORMAT, f"{field_name} is not a known {what}"
        else:
            code, message = VALIDATION_INVALID_FORMAT, f"{field_name}: {item['msg']}"
        problems.append({"field": field_name, "code": code, "message": message})
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return ApiError(
        400,
        first["code"],
        first["message"] + more,
        details={"field": first["field"], "errors": problems, "in": where},
    )


def validate_document(
    data: Any, model: type[BaseModel], *, file: str
) -> tuple[Any | None, list[Problem]]:
    """`core.documents.validate_data` for a document sent in a request."""
    return validate_data(data, model, file=file)  # type: ignore[type-var]
