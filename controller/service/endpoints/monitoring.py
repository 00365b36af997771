"""System monitoring: the health of what deploys depend on (seeds/003 `GET
/health/deployment`), system metrics (seeds/002 5.2 `GET /monitoring/metrics`) and
seeds/002 5.1's path for a deployment's logs.

Each dependency is asked for real and timed: the store (a ping), GitHub (its rate-limit
endpoint, when the service uses GitHub), the Pulumi backend (a stack listing through the
pre-flight seam, "skipped: simulated" with the simulated engine). API requests and errors
are counted by this process (each replica counts its own, since it started).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field
from starlette.concurrency import run_in_threadpool

from controller.core import events
from controller.core.models import StackName
from controller.core.state_views import PERIODS, system_metrics
from controller.operations.records import message_of
from controller.service.endpoints import logs
from controller.service.endpoints.payloads import Payload
from controller.service.endpoints.replies import Reply
from controller.service.http.access import API
from controller.service.http.envelope import iso_at
from controller.service.http.routing import Call, Endpoint
from controller.service.http.routing import Reply as Answer

SLOW_MS = 2000.0  # a dependency answering slower than this is degraded
DependencyStatus = Literal["healthy", "degraded", "unhealthy", "disabled", "skipped"]


class DependencyHealth(Reply):
    status: DependencyStatus
    response_time: float | None = Field(None, description="milliseconds")
    last_check: str
    issues: list[str] = Field(default_factory=list)


class DeploymentHealth(Reply):
    healthy: bool
    services: dict[str, DependencyHealth]
    active_deployments: int
    queued_deployments: int
    simulated: bool


def _probe(call: Call, work: Any) -> DependencyHealth:
    started = time.monotonic()
    try:
        work()
    except Exception as error:  # the dependency failing is the answer
        return DependencyHealth(
            status="unhealthy",
            response_time=round((time.monotonic() - started) * 1000, 1),
            last_check=call.services.now(),
            issues=[f"{type(error).__name__}: {str(error)[:200]}"],
        )
    elapsed = round((time.monotonic() - started) * 1000, 1)
    slow = elapsed > SLOW_MS
    return DependencyHealth(
        status="degraded" if slow else "healthy",
        response_time=elapsed,
        last_check=call.services.now(),
        issues=["High response times detected"] if slow else [],
    )


def _health(call: Call) -> DeploymentHealth:
    services = call.services
    found: dict[str, DependencyHealth] = {"store": _probe(call, services.store.ping)}
    client = getattr(services.repo.source, "client", None)
    if client is not None and hasattr(client, "get_rate_limit"):
        found["github"] = _probe(call, client.get_rate_limit)
    else:
        found["github"] = DependencyHealth(
            status="disabled", last_check=services.now(), issues=["CLOUD_REPO_BACKEND=local"]
        )
    backend = services.preflight.backend(deployment_id="D000000", environment="health")
    found["pulumi"] = DependencyHealth(
        status={"passed": "healthy", "failed": "unhealthy", "skipped": "skipped"}[backend.status],
        response_time=backend.response_time_ms,
        last_check=services.now(),
        issues=[] if backend.status == "passed" else [backend.message],
    )
    running = services.store.list_operations(statuses=("pending", "in_progress"), limit=10_000)
    return DeploymentHealth(
        healthy=all(s.status != "unhealthy" for s in found.values()),
        services=found,
        active_deployments=sum(op.status == "in_progress" for op in running),
        queued_deployments=sum(op.status == "pending" for op in running),
        simulated=services.preflight.simulated,
    )


async def deployment_health(call: Call) -> Answer:
    return Answer(await run_in_threadpool(_health, call))


class SystemMetricsQuery(Payload):
    period: Literal["1h", "24h", "7d", "30d"] = "1h"


class SystemMetrics(Reply):
    period: str
    metrics: dict[str, Any]
    timestamp: str
    api_counted_since: str = Field(description="API counts are this process's, since then")


async def monitoring_metrics(call: Call) -> Answer:
    query: SystemMetricsQuery = call.query
    services = call.services
    store = services.store
    others = tuple(kind for kind in events.EVENT_TYPES if kind != events.STACK_COMPLETED)

    def compute() -> SystemMetrics:
        now = services.clock()
        rows = [
            {"id": op.id, "type": op.type, "status": op.status,
             "startedAt": op.started_at or op.created_at, "completedAt": op.completed_at}
            for op in store.list_operations(limit=100_000)
        ]  # fmt: skip
        requests, errors = services.requests.since(now - PERIODS[query.period].total_seconds())

        def stack_events(operation_id: str) -> list[dict[str, Any]]:
            found = store.list_events(
                operation_id=operation_id, exclude_types=others, limit=100_000
            )
            return [message_of(record) for record in found]

        return SystemMetrics(
            period=query.period,
            metrics=system_metrics(
                rows,
                stack_events,
                now=datetime.fromtimestamp(now, UTC),
                period=query.period,
                requests=requests,
                errors=errors,
            ),
            timestamp=iso_at(now),
            api_counted_since=iso_at(
                max(services.requests.started, now - PERIODS[query.period].total_seconds())
            ),
        )

    return Answer(await run_in_threadpool(compute))


class MonitoringLogQuery(logs.LogQuery):
    """seeds/002 5.1 names the stack filter `stack_name`."""

    stack_name: StackName | None = Field(None, alias="stack_name")


async def monitoring_logs(call: Call) -> Answer:
    query: MonitoringLogQuery = call.query
    values = query.model_dump(exclude={"stack_name"})
    if query.stack_name is not None:
        values["stack"] = values["stack"] or query.stack_name
    call.query = logs.LogQuery.model_validate(
        {logs.LogQuery.model_fields[k].alias or k: v for k, v in values.items()}
    )
    return await logs.deployment_logs(call)


ENDPOINTS = [
    Endpoint("GET", f"{API}/health/deployment", deployment_health,
             "Health of what deploys depend on, with response times (seeds/003)", "Monitoring",
             reply=DeploymentHealth),
    Endpoint("GET", f"{API}/monitoring/metrics", monitoring_metrics,
             "System metrics: deploys, stacks, API requests and errors (seeds/002 5.2)",
             "Monitoring", reply=SystemMetrics, query=SystemMetricsQuery),
    Endpoint("GET", f"{API}/monitoring/deployments/{{deployment_id}}/logs", monitoring_logs,
             "seeds/002 5.1's path for GET /deployments/{deploymentId}/logs", "Monitoring",
             reply=logs.DeploymentLogs, query=MonitoringLogQuery, raw=True, errors=(404, 422),
             extra={"responses": logs.log_responses()}),
]  # fmt: skip
