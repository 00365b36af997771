"""Health, version information, the OpenAPI document and the offline docs page.

`/health` reports each dependency's state (store, repo, GitHub, engine, OIDC issuer)
without calling out: the repo and GitHub report what their last read found, the store
answers a `SELECT 1`. It is 503 when the store or the repo is down, 200 otherwise
(`degraded` when only an optional dependency is). The docs page is rendered on the server
from the OpenAPI document, with no script and no CDN, so it works offline.
"""

from __future__ import annotations

from typing import Any

import yaml
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, JSONResponse, Response

from controller.service.endpoints.replies import Health, Info, ServiceState
from controller.service.http.access import API
from controller.service.http.docs_page import DOCS_CSS, render_docs
from controller.service.http.errors import SERVICE_UNAVAILABLE, ApiError
from controller.service.http.openapi import openapi_document
from controller.service.http.routing import Call, Endpoint, Reply


def _guarded(name: str, probe: Any) -> dict[str, Any]:
    try:
        return dict(probe())
    except Exception as error:  # a probe failing is the answer, not an error
        return {"status": "unhealthy", "error": f"{name} check failed: {type(error).__name__}"}


async def health(call: Call) -> Reply:
    return await run_in_threadpool(_health, call)


async def api_health(call: Call) -> Reply:
    return await health(call)


def _health(call: Call) -> Reply:
    services = call.services

    def store() -> dict[str, Any]:
        services.store.ping()
        return {"status": "healthy", "kind": "sqlite"}

    def repo() -> dict[str, Any]:
        services.repo.current()
        return services.repo.health()

    states = {
        "api": {"status": "healthy"},
        "store": _guarded("store", store),
        "repo": _guarded("repo", repo),
        "engine": _guarded("engine", services.inventory.health),
    }
    if services.settings.repo_backend == "github":
        states["github"] = {k: v for k, v in states["repo"].items() if k != "revision"}
    else:
        states["github"] = {"status": "disabled", "reason": "CLOUD_REPO_BACKEND=local"}
    if services.oidc is not None:
        states["oidc"] = services.oidc.health()
    # seeds/001's names for the same dependencies (and AWS, which /health does not call)
    states["database"] = dict(states["store"])
    states["pulumi"] = dict(states["engine"])
    states["aws"] = {
        "status": "skipped",
        "reason": "not called by /health: see /api/v1/health/deployment and the pre-flight checks",
    }
    essential = (states["store"]["status"], states["repo"]["status"])
    if "unhealthy" in essential:
        overall = "unhealthy"
    elif any(s["status"] in ("degraded", "unhealthy") for s in states.values()):
        overall = "degraded"
    else:
        overall = "healthy"
    report = Health(
        status=overall,  # type: ignore[arg-type]
        version=services.version,
        timestamp=services.now(),
        services={name: ServiceState(**state) for name, state in states.items()},
    )
    if overall == "unhealthy":
        raise ApiError(
            503, SERVICE_UNAVAILABLE, "a required dependency is down", details=report.dump()
        )
    return Reply(report)


async def info(call: Call) -> Reply:
    services = call.services
    endpoints = call.request.app.state.endpoints
    authentication = ["JWT (Bearer)", "API key (X-API-Key)"]
    if services.oidc is not None:
        authentication.append("OIDC (Bearer, external issuer)")
    return Reply(
        Info(
            api_version="v1",
            platform_version=services.version,
            endpoints=len(endpoints),
            authentication=authentication,
            repository=services.settings.repo_backend,
            write_mode=services.write_mode,
            engine=services.settings.engine,
            documentation="/docs",
            openapi=f"{API}/openapi.json",
        )
    )


def document(call: Call) -> dict[str, Any]:
    state = call.request.app.state
    if getattr(state, "openapi", None) is None:
        state.openapi = openapi_document(state.endpoints, version=call.services.version)
    return state.openapi


async def openapi_json(call: Call) -> Reply:
    return Reply(JSONResponse(document(call)))


async def openapi_yaml(call: Call) -> Reply:
    state = call.request.app.state
    if getattr(state, "openapi_yaml", None) is None:
        state.openapi_yaml = yaml.safe_dump(document(call), sort_keys=False, allow_unicode=True)
    return Reply(Response(state.openapi_yaml, media_type="application/yaml"))


async def docs(call: Call) -> Reply:
    return Reply(HTMLResponse(render_docs(document(call))))


async def docs_css(call: Call) -> Reply:
    return Reply(Response(DOCS_CSS, media_type="text/css"))


def _raw(media_type: str, description: str) -> dict[str, Any]:
    structured = media_type in ("application/json", "application/yaml")
    schema = {"type": "object"} if structured else {"type": "string"}
    return {
        "responses": {
            "200": {"description": description, "content": {media_type: {"schema": schema}}},
            "429": {
                "description": "Rate limit exceeded",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Failure"}}
                },
            },
        }
    }


ENDPOINTS = [
    Endpoint("GET", "/health", health, "Health of the service and its dependencies", "Monitoring",
             reply=Health, errors=(503,)),
    Endpoint("GET", f"{API}/health", api_health, "Health (same as /health)", "Monitoring",
             reply=Health, errors=(503,)),
    Endpoint("GET", f"{API}/info", info, "API version and configuration summary", "Monitoring",
             reply=Info),
    Endpoint("GET", f"{API}/openapi.json", openapi_json, "This OpenAPI document", "Monitoring",
             raw=True, extra=_raw("application/json", "OpenAPI 3.1 document")),
    Endpoint("GET", f"{API}/openapi.yaml", openapi_yaml, "This OpenAPI document, as YAML",
             "Monitoring", raw=True, extra=_raw("application/yaml", "OpenAPI 3.1 document")),
    Endpoint("GET", "/docs", docs, "API documentation (HTML, works offline)", "Monitoring",
             raw=True, extra=_raw("text/html", "HTML page")),
    Endpoint("GET", "/docs/docs.css", docs_css, "Stylesheet of the docs page", "Monitoring",
             raw=True, extra=_raw("text/css", "CSS")),
]  # fmt: skip
