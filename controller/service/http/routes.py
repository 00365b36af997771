"""The endpoint table: every route the service answers, in one list.

Each group of endpoints keeps its rows beside its handlers; this module puts the groups
together in the order the documentation shows them. The access table
(`controller.service.http.access`) must name exactly these routes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.routing import BaseRoute

from controller.service.endpoints import auth as auth_endpoints
from controller.service.endpoints import catalog as catalog_endpoints
from controller.service.endpoints import deployments as deployment_endpoints
from controller.service.endpoints import logs as log_endpoints
from controller.service.endpoints import manifests as manifest_endpoints
from controller.service.endpoints import monitoring as monitoring_endpoints
from controller.service.endpoints import operations as operation_endpoints
from controller.service.endpoints import preflight as preflight_endpoints
from controller.service.endpoints import stack_scoped as stack_scoped_endpoints
from controller.service.endpoints import state as state_endpoints
from controller.service.endpoints import system as system_endpoints
from controller.service.endpoints import validation as validation_endpoints
from controller.service.endpoints import webhooks as github_webhooks
from controller.service.http.routing import Endpoint
from controller.service.realtime import sessions as realtime_sessions

ENDPOINTS: list[Endpoint] = [
    *auth_endpoints.ENDPOINTS,
    *deployment_endpoints.ENDPOINTS,
    *manifest_endpoints.ENDPOINTS,
    *operation_endpoints.ENDPOINTS,
    *preflight_endpoints.ENDPOINTS,
    *state_endpoints.ENDPOINTS,
    *log_endpoints.ENDPOINTS,
    *monitoring_endpoints.ENDPOINTS,
    *catalog_endpoints.ENDPOINTS,
    *stack_scoped_endpoints.ENDPOINTS,
    *validation_endpoints.ENDPOINTS,
    *system_endpoints.ENDPOINTS,
]

# Routes that are not request/response endpoints of the table (the WebSocket at /ws and at
# seeds/004's /deployments/ws/{client_id}, a receiver authenticated by its own signature),
# each group built from the services.
EXTRA_ROUTES: list[Callable[[Any], list[BaseRoute]]] = [
    realtime_sessions.websocket_routes,
    lambda services: [github_webhooks.webhook_route(services)],
]
