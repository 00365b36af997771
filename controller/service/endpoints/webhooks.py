"""`POST /webhooks/github`: GitHub's deliveries, verified, deduplicated, answered at once.

In this order, and nothing is recorded before the signature holds: the body is capped
before it is hashed (`BodyLimitMiddleware`, `CLOUD_WEBHOOK_MAX_BYTES`: 413); the
`X-Hub-Signature-256` HMAC (sha256 only) of the raw body is compared in constant time
(401); a `ping` is answered; the delivery id is recorded once (`X-GitHub-Delivery`: a
redelivery is acknowledged and changes nothing, whether it comes after the first or at
the same moment); then the event is queued and the answer (202) goes back at once, well
under GitHub's 10 seconds. A single worker applies the queue in order:
`workflow_run` / `workflow_job` become operation and stack events (`GitHubIntake`),
`push` refreshes the repo view, anything else is ignored.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from controller.core.json_input import JsonInputError, parse_json
from controller.core.webhooks import map_workflow_job, map_workflow_run, verify_signature
from controller.service.http.envelope import iso_at, success
from controller.service.http.errors import AUTH_INVALID_TOKEN, VALIDATION_INVALID_FORMAT, ApiError

log = logging.getLogger("cloud.webhooks")
PATH = "/webhooks/github"
HANDLED = ("workflow_run", "workflow_job", "push")
# GitHub keeps deliveries (and lets them be redelivered) for 3 days; ids are kept longer
DELIVERY_RETENTION_SECONDS = 7 * 86_400


class GitHubWebhooks:
    def __init__(self, services: Any) -> None:
        self.services = services
        secret = services.settings.webhook_secret
        self.secret = secret.get_secret_value().encode() if secret is not None else b""
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhooks")
        self.pending: list[Future[None]] = []

    async def receive(self, request: Request) -> Response:
        if not self.secret:
            raise ApiError(
                404,
                "RESOURCE_NOT_FOUND",
                "GitHub webhooks are not enabled here: set CLOUD_WEBHOOK_SECRET",
            )
        body = await request.body()  # capped by the body limit before we get it
        if not verify_signature(self.secret, body, request.headers.get("x-hub-signature-256")):
            raise ApiError(
                401,
                AUTH_INVALID_TOKEN,
                "X-Hub-Signature-256 is missing or does not match the body (sha256 HMAC with "
                "the webhook secret); nothing was recorded",
            )
        event = request.headers.get("x-github-event", "")
        delivery = request.headers.get("x-github-delivery", "")
        if not event or not delivery or len(delivery) > 100:
            raise ApiError(
                400,
                VALIDATION_INVALID_FORMAT,
                "X-GitHub-Event and X-GitHub-Delivery are required",
            )
        if event == "ping":
            return success(request.scope, {"pong": True, "delivery": delivery})
        try:
            payload = parse_json(body)
        except JsonInputError as error:
            raise ApiError(400, VALIDATION_INVALID_FORMAT, f"the body {error}") from None
        if not isinstance(payload, dict):
            raise ApiError(400, VALIDATION_INVALID_FORMAT, "the body is not a JSON object")
        services = self.services
        first = services.store.record_delivery(
            delivery,
            event=event,
            at=services.now(),
            forget_before=iso_at(services.clock() - DELIVERY_RETENTION_SECONDS),
        )
        if not first:
            return success(
                request.scope, {"delivery": delivery, "duplicate": True}, message="already seen"
            )
        if event not in HANDLED:
            return success(request.scope, {"delivery": delivery, "ignored": event})
        self.pending = [future for future in self.pending if not future.done()]
        self.pending.append(self.pool.submit(self.process, event, payload, delivery))
        return success(request.scope, {"delivery": delivery, "queued": event}, status=202)

    def process(self, event: str, payload: dict[str, Any], delivery: str) -> None:
        try:
            intake = self.services.intake
            if event == "push":
                forget = getattr(self.services.repo.source, "forget_head", None)
                if callable(forget):
                    forget()
                self.services.repo.invalidate()
            elif event == "workflow_run" and intake is not None:
                update = map_workflow_run(payload)
                if update is not None:
                    intake.apply_run(update)
            elif event == "workflow_job" and intake is not None:
                job = map_workflow_job(payload)
                if job is not None:
                    intake.apply_job(job)
        except Exception:  # one bad delivery must not stop the queue
            log.exception("processing delivery %s (%s) failed", delivery, event)

    def drain(self, timeout: float | None = None) -> None:
        """Wait for the queued deliveries (tests, shutdown)."""
        for future in list(self.pending):
            future.result(timeout)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=False)


def webhook_route(services: Any) -> Route:
    return Route(PATH, services.webhooks.receive, methods=["POST"], name="github-webhooks")
