"""The Starlette application: middleware in order, routes from the table, lifespan.

`create_app()` is what uvicorn runs (`cloud serve`, or `uvicorn --factory
controller.service.app:create_app`); tests call it with their own settings and services.
Middleware, outermost first: the client behind trusted proxies (when some are
configured), request context (ids, headers, error envelope, logs, audit), body size limit,
CORS (when origins are configured), authentication, rate limiting.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response

from controller.service.auth.authentication import AuthenticationMiddleware
from controller.service.http.access import SIGN_IN_PATHS
from controller.service.http.envelope import failure
from controller.service.http.errors import internal_error, translate
from controller.service.http.middleware import (
    AccessLog,
    BodyLimitMiddleware,
    RequestContextMiddleware,
    access_logger,
)
from controller.service.http.proxies import ForwardedClientMiddleware
from controller.service.http.rate_limits import Policy, RateLimitMiddleware, tier_limits
from controller.service.http.routes import ENDPOINTS, EXTRA_ROUTES
from controller.service.http.routing import TableRouter, build_routes
from controller.service.services import Services, build_services
from controller.service.settings import Settings, load_settings

logger = logging.getLogger("cloud.service")


class SettingsError(SystemExit):
    """Bad configuration: the message lists one problem per line."""


def create_app(
    settings: Settings | None = None,
    *,
    services: Services | None = None,
    freeze_heap: bool | None = None,
) -> Starlette:
    """The app; `freeze_heap` (default: when it builds its own services, i.e. in a server
    process) takes what start-up loaded out of the garbage collector's sight."""
    if freeze_heap is None:
        freeze_heap = services is None
    if services is None:
        if settings is None:
            settings, problems = load_settings()
            if settings is None:
                raise SettingsError("\n".join(problems))
        services = build_services(settings)
    settings = services.settings
    access_log = AccessLog(access_logger)
    middleware = [
        Middleware(
            RequestContextMiddleware,
            store=services.store,
            access_log=settings.access_log,
            log=access_log,
            counts=services.requests,
        ),
        Middleware(
            BodyLimitMiddleware,
            max_bytes=settings.max_body_bytes,
            by_prefix={"/webhooks/": settings.webhook_max_bytes},
        ),
    ]
    if settings.trusted_proxies:
        middleware.insert(
            0, Middleware(ForwardedClientMiddleware, trusted=settings.trusted_proxies)
        )
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST", "PUT", "DELETE"],
                allow_headers=["Authorization", "Content-Type", "X-API-Key", "X-Request-ID"],
                expose_headers=["X-Request-ID", "X-RateLimit-Limit", "X-RateLimit-Remaining",
                                "X-RateLimit-Reset", "X-RateLimit-Tier", "Retry-After"],
            )
        )  # fmt: skip
    middleware.append(Middleware(AuthenticationMiddleware, authenticator=services.authenticator))
    if settings.rate_limit_enabled:
        policy = Policy(
            tiers=tier_limits(settings.rate_limit_tiers),
            anonymous_per_minute=settings.rate_limit_anonymous_per_minute,
            auth_per_minute=settings.rate_limit_auth_per_minute,
            auth_paths=SIGN_IN_PATHS,
        )
        middleware.append(
            Middleware(
                RateLimitMiddleware,
                policy=policy,
                limiter=services.rate_limiter,
                clock=services.clock,
            )
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            await run_in_threadpool(services.repo.current)
        except Exception as error:  # start anyway: /health says what is wrong
            logger.warning("the repo could not be read at start-up: %s", type(error).__name__)
        if freeze_heap:
            # What start-up loaded (modules, models, the snapshot) lives as long as the
            # process: out of the collector's sight, full collections stay short.
            gc.collect()
            gc.freeze()
        access_log.start()
        for task in services.background:
            await task.start()
        try:
            yield
        finally:
            for task in reversed(services.background):
                await task.stop()
            access_log.stop()
        services.authenticator.flush_usage()
        if services.owns_store:
            services.store.close()

    app = Starlette(
        routes=[
            *build_routes(ENDPOINTS, services),
            *(route for make in EXTRA_ROUTES for route in make(services)),
        ],
        middleware=middleware,
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.router = TableRouter(app.router.routes, lifespan=lifespan)  # before the first call
    app.state.services = services
    app.state.endpoints = ENDPOINTS
    app.state.openapi = None
    return app


async def _http_error(request: Request, exc: Exception) -> Response:
    return failure(request.scope, translate(exc) or internal_error())
