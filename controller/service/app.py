"""The Starlette application: middleware in order, routes from the table, lifespan.

`create_app()` is what uvicorn runs (`cloud serve`, or `uvicorn --factory
controller.service.app:create_app`); tests call it with their own settings and services.
Middleware, outermost first: the client behind trusted proxies (when some are
configured), request context (ids, headers, error envelope, logs, audit, the body size
limit and, unless CORS is configured, authentication then rate limiting), and where
origins are configured, CORS, then authentication and rate limiting as a layer of their
own (preflights are answered before anyone is authenticated, as before).
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
from starlette.types import ASGIApp, Receive, Scope, Send

from controller.service.auth.authentication import Authentication, AuthenticationMiddleware
from controller.service.http.access import SIGN_IN_PATHS
from controller.service.http.envelope import failure
from controller.service.http.errors import internal_error, translate
from controller.service.http.middleware import (
    AccessLog,
    BodyLimit,
    RequestContextMiddleware,
    access_logger,
)
from controller.service.http.proxies import ForwardedClientMiddleware
from controller.service.http.rate_limits import Policy, RateLimits, tier_limits
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
    checks: list[RateLimits] = []  # run once the caller is known, in order
    if settings.rate_limit_enabled:
        policy = Policy(
            tiers=tier_limits(settings.rate_limit_tiers),
            anonymous_per_minute=settings.rate_limit_anonymous_per_minute,
            auth_per_minute=settings.rate_limit_auth_per_minute,
            auth_paths=SIGN_IN_PATHS,
        )
        checks.append(
            RateLimits(policy=policy, limiter=services.rate_limiter, clock=services.clock)
        )
    authentication = Authentication(authenticator=services.authenticator, checks=checks)
    middleware = [
        Middleware(
            RequestContextMiddleware,
            store=services.store,
            access_log=settings.access_log,
            log=access_log,
            counts=services.requests,
            body_limit=BodyLimit(
                max_bytes=settings.max_body_bytes,
                by_prefix={"/webhooks/": settings.webhook_max_bytes},
            ),
            # the frame authenticates, unless CORS must answer preflights first
            authentication=None if settings.cors_origins else authentication,
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
        middleware.append(Middleware(AuthenticationMiddleware, authentication=authentication))

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

    app = ServiceApp(
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


class ServiceApp(Starlette):
    """Starlette, with HTTP requests through our middleware alone.

    Starlette wraps the middleware in two of its own: an outer one that answers a bare
    500 to an exception that escaped, and an inner one that gives exceptions to their
    handlers. For HTTP, `RequestContextMiddleware` already catches every exception and
    answers it in the envelope (an `HTTPException` as `_http_error` did: both go through
    `errors.translate`), so those two layers were a frame and a send wrapper each per
    request, and never acted. WebSockets and the lifespan go through Starlette's whole
    stack, as before (the exception middleware closes a WebSocket on its exceptions).
    When the frame wraps the router directly (no CORS layer between), it is given the
    router's `resolve` and calls the endpoints itself.
    """

    _http_stack: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        if self._http_stack is None:
            routes: ASGIApp = self.router.middleware_stack  # what Router.__call__ awaits
            stack = routes
            for cls, args, kwargs in reversed(self.user_middleware):
                inner, stack = stack, cls(stack, *args, **kwargs)
                if (
                    isinstance(stack, RequestContextMiddleware)
                    and inner is routes
                    and isinstance(self.router, TableRouter)
                ):  # nothing between the frame and the routes: it calls the endpoints
                    stack.resolve = self.router.resolve
            self._http_stack = stack
        await self._http_stack(scope, receive, send)


async def _http_error(request: Request, exc: Exception) -> Response:
    return failure(request.scope, translate(exc) or internal_error())
