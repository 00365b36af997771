"""The endpoint table: every route the service answers, in one list.

Each group of endpoints keeps its rows beside its handlers; this module puts the groups
together in the order the documentation shows them. The access table
(`controller.service.access`) must name exactly these routes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.routing import BaseRoute

from controller.service import (
    auth_endpoints,
    catalog_endpoints,
    deployment_endpoints,
    github_webhooks,
    log_endpoints,
    manifest_endpoints,
    operation_endpoints,
    realtime_sessions,
    state_endpoints,
    system_endpoints,
    validation_endpoints,
)
from controller.service.routing import Endpoint

ENDPOINTS: list[Endpoint] = [
    *auth_endpoints.ENDPOINTS,
    *deployment_endpoints.ENDPOINTS,
    *manifest_endpoints.ENDPOINTS,
    *operation_endpoints.ENDPOINTS,
    *state_endpoints.ENDPOINTS,
    *log_endpoints.ENDPOINTS,
    *catalog_endpoints.ENDPOINTS,
    *validation_endpoints.ENDPOINTS,
    *system_endpoints.ENDPOINTS,
]

# Routes that are not request/response endpoints of the table (a WebSocket, a receiver
# authenticated by its own signature), each built from the services.
EXTRA_ROUTES: list[Callable[[Any], BaseRoute]] = [
    realtime_sessions.websocket_route,
    github_webhooks.webhook_route,
]
