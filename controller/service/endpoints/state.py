"""What is deployed, read from the engine's backend: stack status, outputs, resources,
state export / import / sync (seeds/001 "State Endpoints", "Stack Endpoints"), and the
metrics of a deployment's operations ("Monitoring Endpoints").

Outputs marked secret come back as `[secret]`; an exported state has every secret value
redacted (and so cannot be imported back: import takes a `pulumi stack export`). Import
and sync hold the environment's operation lock, like a deploy, and are recorded as
operations of their own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import networkx as nx
from starlette.concurrency import run_in_threadpool

from controller.core import events
from controller.core.catalog import Deployment
from controller.core.environments import environment_view
from controller.core.state_views import (
    METRIC_EVENTS,
    holds_redacted_secrets,
    metrics,
    pending_operations,
    redact_secrets,
    state_resources,
)
from controller.core.statuses import StackState
from controller.engines.base import Engine, EngineError, StackSpec, mask_outputs
from controller.execution.specs import stack_spec
from controller.operations.records import message_of, stack_state_record
from controller.operations.refreshes import refresh_operation
from controller.operations.stack_status import stack_status as stack_status_data
from controller.service.endpoints.deployments import find_deployment
from controller.service.endpoints.operation_payloads import (
    DeploymentMetrics,
    DeploymentOutputs,
    EnvironmentQuery,
    MetricsQuery,
    OutputsQuery,
    StackRefreshed,
    StackRefreshRequest,
    StackResources,
    StackStatus,
    StateExported,
    StateExportQuery,
    StateImported,
    StateImportRequest,
    StateSynced,
    StateSyncRequest,
)
from controller.service.endpoints.views import default_environment
from controller.service.http.access import DEPLOYMENT, STACK_OF_DEPLOYMENT
from controller.service.http.errors import VALIDATION_INVALID_FORMAT, ApiError, not_found
from controller.service.http.routing import Call, Endpoint, Reply


def _engine(call: Call) -> Engine:
    try:
        return call.services.engine()
    except EngineError as error:
        raise ApiError(503, "SERVICE_UNAVAILABLE", f"the engine cannot run here: {error}") from None


async def _target(call: Call, environment: str | None) -> tuple[Deployment, str]:
    """The caller's deployment and the environment (default: its first enabled one)."""
    state = await call.services.repo.fresh()
    deployment = find_deployment(call, state, call.params["deployment_id"])
    chosen = environment or default_environment(deployment)
    if chosen is None or chosen not in deployment.manifest.environments:
        raise not_found("environment", str(environment))
    return deployment, chosen


def _spec(call: Call, deployment: Deployment, stack: str, environment: str) -> StackSpec:
    return stack_spec(
        deployment, stack, environment, repo_root=call.services.settings.resolved_root()
    )


def _backend(what: str, work: Any, *args: Any) -> Any:
    """An engine call; a backend failure is a 502 saying what was being done."""
    try:
        return work(*args)
    except EngineError as error:
        raise ApiError(502, "PULUMI_STATE_ERROR", f"{what}: {error}") from None


# --- stacks ---------------------------------------------------------------------------------


async def stack_status(call: Call) -> Reply:
    query: EnvironmentQuery = call.query
    deployment, environment = await _target(call, query.environment)
    stack = call.params["stack_name"]
    return Reply(await run_in_threadpool(_stack_status, call, deployment, stack, environment))


def _stack_status(call: Call, deployment: Deployment, stack: str, environment: str) -> StackStatus:
    engine = _engine(call)
    spec = _spec(call, deployment, stack, environment)
    known = stack in _instances(call, deployment, environment)
    if not _backend("reading the stack", engine.exists, spec) and not known:
        raise not_found("stack", stack)
    data = _backend(
        "reading the stack's state",
        lambda: stack_status_data(
            engine,
            call.services.store,
            deployment,
            stack,
            environment,
            repo_root=call.services.settings.resolved_root(),
        ),
    )
    return StackStatus.model_validate(data)


def _instances(call: Call, deployment: Deployment, environment: str) -> set[str]:
    state = call.services.repo.current()
    try:
        view = environment_view(deployment, state.snapshot.catalog, environment)
    except (KeyError, ValueError):
        return set()
    return set(view.instances)


async def stack_resources(call: Call) -> Reply:
    query: EnvironmentQuery = call.query
    deployment, environment = await _target(call, query.environment)
    stack = call.params["stack_name"]

    def read() -> StackResources:
        engine = _engine(call)
        spec = _spec(call, deployment, stack, environment)
        if not _backend("reading the stack", engine.exists, spec):
            raise not_found("deployed stack", stack)
        checkpoint = _backend("exporting the state", engine.export_state, spec)
        resources = state_resources(checkpoint)
        return StackResources(
            deployment_id=deployment.deployment_id,
            stack_name=stack,
            environment=environment,
            resources=resources,
            resource_count=len(resources),
            simulated=engine.simulated,
        )

    return Reply(await run_in_threadpool(read))


async def deployment_outputs(call: Call) -> Reply:
    query: OutputsQuery = call.query
    deployment, environment = await _target(call, query.environment)

    def read() -> DeploymentOutputs:
        engine = _engine(call)
        names = _backend(
            "listing the stacks", engine.list_instances, deployment.deployment_id, environment
        )
        if query.stack is not None:
            if query.stack not in names:
                raise not_found("deployed stack", query.stack)
            names = [query.stack]
        found = {}
        for name in names:
            spec = _spec(call, deployment, name, environment)
            values, secret = _backend("reading outputs", engine.outputs, spec)
            found[name] = mask_outputs(values, secret)
        return DeploymentOutputs(
            deployment_id=deployment.deployment_id,
            environment=environment,
            outputs=found,
            simulated=engine.simulated,
        )

    return Reply(await run_in_threadpool(read))


async def refresh_stack(call: Call) -> Reply:
    """A refresh of one deployed stack, holding the environment's lock, recorded as an
    operation (its events, `drift.detected` on the deployment's channels when drift is
    found); the stack's status then shows this check."""
    body: StackRefreshRequest = call.body
    deployment, environment = await _target(call, body.environment)
    stack = call.params["stack_name"]
    engine = _engine(call)
    spec = _spec(call, deployment, stack, environment)
    if not await run_in_threadpool(_backend, "reading the stack", engine.exists, spec):
        raise not_found("deployed stack", stack)
    graph = nx.DiGraph()
    graph.add_node(stack)
    services = call.services

    def work() -> tuple[Any, Any]:
        return refresh_operation(
            services.store,
            engine,
            deployment,
            environment,
            graph,
            preview_only=body.preview_only,
            started_by=call.user.identity,
            repo_root=services.settings.resolved_root(),
            recorder=services.recorder,
            owner=f"api:{services.operations.dispatcher.owner}",
            dispatcher="api",
            patterns=[stack],
        )

    run, report = await run_in_threadpool(work)  # OperationInProgressError: a 409
    outcome = report.outcomes[stack]
    call.audit(deploymentId=deployment.deployment_id, stack=stack, operationId=run.operation.id)
    drift = outcome.drift or {"status": None, "driftDetected": False, "resources": []}
    return Reply(
        StackRefreshed(
            deployment_id=deployment.deployment_id,
            stack_name=stack,
            environment=environment,
            status="refreshed" if outcome.state == "succeeded" else "failed",
            changes_detected=bool(drift["driftDetected"]),
            refreshed_at=services.now(),
            preview_only=body.preview_only,
            drift_detected=bool(drift["driftDetected"]),
            drift={key: drift.get(key) for key in ("status", "resources", "inSync")},
            error=outcome.error,
            operation_id=run.operation.id,
            simulated=engine.simulated,
        ),
        status=200 if outcome.state == "succeeded" else 502,
    )


# --- metrics --------------------------------------------------------------------------------


async def deployment_metrics(call: Call) -> Reply:
    query: MetricsQuery = call.query
    state = await call.services.repo.fresh()
    deployment = find_deployment(call, state, call.params["deployment_id"])
    store = call.services.store

    def compute() -> DeploymentMetrics:
        history = store.list_operations(
            deployment_id=deployment.deployment_id, environment=query.environment, limit=10_000
        )
        rows = [
            {
                "id": op.id,
                "type": op.type,
                "status": op.status,
                "startedAt": op.started_at or op.created_at,
                "completedAt": op.completed_at,
            }
            for op in history
        ]
        others = tuple(kind for kind in events.EVENT_TYPES if kind not in METRIC_EVENTS)

        def messages(operation_id: str) -> list[dict[str, Any]]:
            found = store.list_events(
                operation_id=operation_id, exclude_types=others, limit=100_000
            )
            return [message_of(event) for event in found]

        now = datetime.fromtimestamp(call.services.clock(), UTC)
        deployed = [
            record
            for record in store.list_stack_states(deployment_id=deployment.deployment_id)
            if record.status == "deployed"
            and (query.environment is None or record.environment == query.environment)
        ]
        catalog = state.snapshot.catalog.stacks
        cost = sum(
            catalog[r.stack].estimated_monthly_cost or 0.0 for r in deployed if r.stack in catalog
        )
        return DeploymentMetrics(
            deployment_id=deployment.deployment_id,
            environment=query.environment,
            period=query.period,
            metrics=metrics(
                rows,
                messages,
                now=now,
                period=query.period,
                total_resources=sum(int(r.details.get("resourceCount") or 0) for r in deployed),
                estimated_monthly=round(cost, 2),
            ),
        )

    return Reply(await run_in_threadpool(compute))


# --- state ----------------------------------------------------------------------------------


async def export_state(call: Call) -> Reply:
    query: StateExportQuery = call.query
    deployment, environment = await _target(call, query.environment)

    def read() -> StateExported:
        engine = _engine(call)
        names = (
            [query.stack]
            if query.stack
            else _backend(
                "listing the stacks",
                engine.list_instances,
                deployment.deployment_id,
                environment,
            )
        )
        states = {}
        for name in names:
            spec = _spec(call, deployment, name, environment)
            if not _backend("reading the stack", engine.exists, spec):
                raise not_found("deployed stack", name)
            states[name] = redact_secrets(
                _backend("exporting the state", engine.export_state, spec)
            )
        call.audit(deploymentId=deployment.deployment_id, stacks=sorted(states))
        return StateExported(
            deployment_id=deployment.deployment_id,
            environment=environment,
            stack=query.stack,
            exported_at=call.services.now(),
            state=states[query.stack] if query.stack else None,
            stacks=None if query.stack else states,
        )

    return Reply(await run_in_threadpool(read))


async def import_state(call: Call) -> Reply:
    body: StateImportRequest = call.body
    deployment, _ = await _target(call, body.environment)
    if holds_redacted_secrets(body.state):
        raise ApiError(
            400,
            VALIDATION_INVALID_FORMAT,
            "state: it holds redacted secrets (an export of this API); import the output of "
            "`pulumi stack export` instead",
            details={"field": "state"},
        )
    pending = pending_operations(body.state)
    if pending and not body.force:
        raise ApiError(
            409,
            "RESOURCE_CONFLICT",
            f"state: it has {len(pending)} pending operation(s) (an interrupted update); "
            "check those resources, then import with force=true",
            details={"field": "state", "pendingOperations": len(pending)},
        )
    engine = _engine(call)
    spec = _spec(call, deployment, body.stack, body.environment)
    by = call.user.identity

    def work() -> dict[str, Any]:
        try:
            engine.import_state(spec, body.state)
        except EngineError as error:
            raise ApiError(
                400, VALIDATION_INVALID_FORMAT, f"state: {error}", details={"field": "state"}
            ) from None
        return {"stack": body.stack, "resources": len(state_resources(body.state))}

    operation, result = await run_in_threadpool(
        lambda: call.services.operations.exclusive(
            deployment.deployment_id,
            body.environment,
            "import",
            by=by,
            work=work,
            details={"stack": body.stack, "force": body.force},
        )
    )
    call.audit(deploymentId=deployment.deployment_id, stack=body.stack, operationId=operation.id)
    return Reply(
        StateImported(
            deployment_id=deployment.deployment_id,
            environment=body.environment,
            stack=body.stack,
            imported_at=operation.completed_at or call.services.now(),
            imported_by=by,
            resource_count=result["resources"],
        ),
        message="State imported successfully",
    )


async def sync_state(call: Call) -> Reply:
    body: StateSyncRequest = call.body
    deployment, _ = await _target(call, body.environment)
    engine = _engine(call)
    by = call.user.identity

    def work() -> dict[str, Any]:
        names = engine.list_instances(deployment.deployment_id, body.environment)
        _reconcile_states(call, deployment, body.environment, engine, names)
        rows = []
        for name in names:
            spec = _spec(call, deployment, name, body.environment)
            try:
                pending = engine.pending_operations(spec)
                if pending:
                    rows.append(
                        {"stack": name, "status": "needs_repair", "pendingOperations": len(pending)}
                    )
                    continue
                result = engine.refresh(spec)
                rows.append({"stack": name, "status": "synced", "counts": result.counts})
            except EngineError as error:
                rows.append({"stack": name, "status": "error", "error": str(error)})
        return {"stacks": rows}

    operation, result = await run_in_threadpool(
        lambda: call.services.operations.exclusive(
            deployment.deployment_id, body.environment, "sync", by=by, work=work
        )
    )
    rows = result["stacks"]
    call.audit(deploymentId=deployment.deployment_id, operationId=operation.id)
    return Reply(
        StateSynced(
            deployment_id=deployment.deployment_id,
            environment=body.environment,
            synced_at=operation.completed_at or call.services.now(),
            stacks_synced=sum(row["status"] == "synced" for row in rows),
            conflicts=sum(row["status"] != "synced" for row in rows),
            stacks=rows,
        ),
        message="State synced successfully",
    )


def _reconcile_states(
    call: Call, deployment: Deployment, environment: str, engine: Engine, names: list[str]
) -> None:
    """Make the recorded stack states (what statuses say) agree with the backend: a stack
    deployed outside the service (the CLI, a CI job) becomes `deployed`, one destroyed
    outside it `destroyed`."""
    store = call.services.store
    now = call.services.now()
    recorded = {
        r.stack: r
        for r in store.list_stack_states(deployment_id=deployment.deployment_id)
        if r.environment == environment
    }
    for name in names:
        if name in recorded and recorded[name].status == "deployed":
            continue
        spec = _spec(call, deployment, name, environment)
        record = engine.record(spec)
        values, secret = engine.outputs(spec)
        resources = len(state_resources(engine.export_state(spec)))
        state = StackState(
            "deployed",
            now,
            (record.operation_id if record else None) or "sync",
            deployed_at=(record.deployed_at if record else None) or now,
            resource_count=resources,
            outputs=mask_outputs(values, secret),
        )
        store.put_stack_state(
            stack_state_record(deployment.deployment_id, environment, name, state)
        )
    for name, record in recorded.items():
        if name not in names and record.status != "destroyed":
            gone = StackState(
                "destroyed", now, "sync", deployed_at=record.details.get("deployedAt")
            )
            store.put_stack_state(
                stack_state_record(deployment.deployment_id, environment, name, gone)
            )


ENDPOINTS = [
    Endpoint("GET", f"{STACK_OF_DEPLOYMENT}/status", stack_status,
             "A stack's status in an environment: deployed, outputs, resources, last deploy",
             "Stacks", reply=StackStatus, query=EnvironmentQuery, errors=(404, 502, 503)),
    Endpoint("POST", f"{STACK_OF_DEPLOYMENT}/refresh", refresh_stack,
             "Refresh a stack's state from the cloud; report the drift (previewOnly: only "
             "report)", "Stacks", reply=StackRefreshed, body=StackRefreshRequest,
             body_required=False, errors=(404, 409, 502, 503)),
    Endpoint("GET", f"{STACK_OF_DEPLOYMENT}/resources", stack_resources,
             "The cloud resources a deployed stack holds", "Stacks", reply=StackResources,
             query=EnvironmentQuery, errors=(404, 502, 503)),
    Endpoint("GET", f"{DEPLOYMENT}/outputs", deployment_outputs,
             "The outputs of the deployed stacks (secrets as [secret])", "Deployments",
             reply=DeploymentOutputs, query=OutputsQuery, errors=(404, 502, 503)),
    Endpoint("GET", f"{DEPLOYMENT}/metrics", deployment_metrics,
             "Deploys, durations and resource changes over a period", "Monitoring",
             reply=DeploymentMetrics, query=MetricsQuery, errors=(404,)),
    Endpoint("GET", f"{DEPLOYMENT}/state/export", export_state,
             "Export stack state (pulumi stack export), secrets redacted", "State",
             reply=StateExported, query=StateExportQuery, errors=(404, 502, 503)),
    Endpoint("POST", f"{DEPLOYMENT}/state/import", import_state,
             "Import a stack's state (pulumi stack import), holding the environment's lock",
             "State", reply=StateImported, body=StateImportRequest,
             errors=(400, 404, 409, 503)),
    Endpoint("POST", f"{DEPLOYMENT}/state/sync", sync_state,
             "Refresh every deployed stack's state from the cloud; report conflicts",
             "State", reply=StateSynced, body=StateSyncRequest, errors=(404, 409, 503)),
]  # fmt: skip
