"""Operations: deploy and destroy a deployment environment or one stack, follow them,
cancel, retry, roll back (seeds/001 "Deployment Endpoints", "Stack Endpoints";
seeds/003 rollback and retry).

A start answers 202 once the operation and its `operation.started` event are in the
store and the deployment environment's lock is taken; a second start on the same
environment gets 409 `OPERATION_IN_PROGRESS` with the running operation's id. The plan
behind `stacksToDeploy` / `stacksSkipped` is the engine issue's planner.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool

from controller.core import events, rbac
from controller.operations.control import (
    OperationError,
    OperationRequest,
    Prepared,
    channel_of,
    status_url,
)
from controller.operations.records import RUNNING
from controller.operations.runner_tokens import RunnerTokenError
from controller.service.endpoints.deployments import find_deployment
from controller.service.endpoints.operation_payloads import (
    CancelAccepted,
    DeployOptions,
    DeployQuery,
    DeployRequest,
    DestroyPreview,
    DestroyRequest,
    OperationAccepted,
    OperationStatus,
    RetryRequest,
    RollbackInfo,
    RollbackRequest,
    RunnerEventsAccepted,
    RunnerEventsRequest,
    StackOperationRequest,
)
from controller.service.http.access import DEPLOYMENT, OPERATION, STACK_OF_DEPLOYMENT
from controller.service.http.errors import (
    AUTH_INVALID_TOKEN,
    AUTHZ_FORBIDDEN,
    VALIDATION_INVALID_FORMAT,
    VALIDATION_REQUIRED_FIELD,
    ApiError,
    problems_error,
)
from controller.service.http.routing import Call, Endpoint, Reply
from controller.service.operation_sources import current_source, source_at

# --- starting -------------------------------------------------------------------------------


def _parallel(value: bool | int) -> int | None:
    if value is True:
        return None  # the service's default
    if value is False:
        return 1
    return int(value)


def _by(call: Call) -> str:
    return call.user.identity


def _environment(call: Call, body: DeployRequest, query: DeployQuery) -> str:
    """The environment, from the body or (seeds/002) the query; both must agree."""
    if body.environment and query.environment and body.environment != query.environment:
        raise ApiError(
            400,
            VALIDATION_INVALID_FORMAT,
            f"environment: the body says {body.environment}, the query {query.environment}",
            details={"field": "environment"},
        )
    environment = body.environment or query.environment
    if environment is None:
        raise ApiError(
            400,
            VALIDATION_REQUIRED_FIELD,
            "environment is required (in the JSON body, or as ?environment=)",
            details={"field": "environment"},
        )
    if body.deployment_id is not None and body.deployment_id != call.params["deployment_id"]:
        raise ApiError(
            400,
            VALIDATION_INVALID_FORMAT,
            f"deploymentId {body.deployment_id} is not the deployment of the path "
            f"({call.params['deployment_id']})",
            details={"field": "deploymentId"},
        )
    return environment


async def deploy_deployment(call: Call) -> Reply:
    body: DeployRequest = call.body
    query: DeployQuery = call.query
    options = body.options or DeployOptions()
    request = OperationRequest(
        deployment_id=call.params["deployment_id"],
        environment=_environment(call, body, query),
        kind="deploy",
        started_by=_by(call),
        preview=body.preview or options.dry_run or query.dry_run,
        parallel=_parallel(body.parallel),
        continue_on_error=body.continue_on_error,
        smart_skip=body.smart_skip,
        stack_filter=tuple(body.stack_filter),
        force=body.force,
        webhook_url=body.webhook_url,
        tier=call.user.tier,
        max_retries=options.max_retries,
        rollback_on_failure=options.rollback_on_failure,
        env=dict(body.env),
    )
    return await start(call, request, message="Deployment started")


async def destroy_deployment(call: Call) -> Reply:
    body: DestroyRequest = call.body
    request = OperationRequest(
        deployment_id=call.params["deployment_id"],
        environment=body.environment,
        kind="destroy",
        started_by=_by(call),
        parallel=_parallel(body.parallel),
        continue_on_error=body.continue_on_error,
        stack_filter=tuple(body.stack_filter),
        webhook_url=body.webhook_url,
        tier=call.user.tier,
    )
    if body.preview:
        prepared, _ = await prepare_operation(call, request)
        announced = prepared.announced
        return Reply(
            DestroyPreview(
                deployment_id=request.deployment_id,
                environment=request.environment,
                estimated_duration=announced.estimated_duration,
                stacks_to_destroy=announced.run,  # type: ignore[arg-type]
                stacks_skipped=announced.skipped,  # type: ignore[arg-type]
            ),
            status=200,
            message="Destroy preview: nothing was started",
        )
    return await start(call, request, message="Destroy operation started")


async def deploy_stack(call: Call) -> Reply:
    return await _stack_operation(call, "deploy")


async def destroy_stack(call: Call) -> Reply:
    return await _stack_operation(call, "destroy")


async def _stack_operation(call: Call, kind: str) -> Reply:
    body: StackOperationRequest = call.body
    if kind == "destroy" and body.preview:
        raise ApiError(
            400,
            "VALIDATION_INVALID_FORMAT",
            "preview: a destroy preview is POST /deployments/{id}/destroy with preview=true",
            details={"field": "preview"},
        )
    request = OperationRequest(
        deployment_id=call.params["deployment_id"],
        environment=body.environment,
        kind=kind,  # type: ignore[arg-type]
        started_by=_by(call),
        preview=body.preview,
        force=body.force,
        stack=call.params["stack_name"],
        webhook_url=body.webhook_url,
        tier=call.user.tier,
    )
    verb = "deployment" if kind == "deploy" else "destroy operation"
    return await start(call, request, message=f"Stack {verb} started")


async def start(call: Call, request: OperationRequest, *, message: str) -> Reply:
    prepared, cleanup = await prepare_operation(call, request)
    operations = call.services.operations
    try:
        operation = await run_in_threadpool(operations.start, prepared)
    except BaseException:
        if cleanup is not None:
            cleanup()
        raise
    call.audit(
        deploymentId=request.deployment_id,
        environment=request.environment,
        operationId=operation.id,
        type=request.kind,
        stack=request.stack,
    )
    announced = prepared.announced
    key = "stacks_to_destroy" if request.kind == "destroy" else "stacks_to_deploy"
    reply = OperationAccepted(
        deployment_id=request.deployment_id,
        environment=request.environment,
        operation_id=operation.id,
        type=operation.type,
        status=operation.status,
        started_at=operation.started_at or operation.created_at,
        started_by=operation.created_by,
        estimated_duration=announced.estimated_duration,
        stack_name=request.stack,
        stacks_skipped=announced.skipped,  # type: ignore[arg-type]
        websocket_channel=channel_of(request.deployment_id, operation.id),
        status_url=status_url(request.deployment_id, operation.id),
        dispatcher=operation.payload.get("dispatcher", ""),
        preview=request.preview,
        retry_of=request.retry_of,
        rollback_of=request.rollback_of,
        commit=prepared.commit,
        rollback_info=_rollback_info(prepared),
        **{key: announced.run},
    )
    return Reply(reply, status=202, message=message)


def _rollback_info(prepared: Prepared) -> RollbackInfo | None:
    """seeds/003: can a failure of this deploy be rolled back, and to which commit."""
    if prepared.job is None or prepared.request.preview:
        return None
    commits = [
        record.commit
        for item in prepared.announced.run
        if (record := prepared.job.records.get(item["name"])) is not None and record.commit
    ]
    newest = max(set(commits), key=commits.count) if commits else None
    return RollbackInfo(available=bool(commits), previous_version=newest)


async def prepare_operation(call: Call, request: OperationRequest) -> tuple[Prepared, Any]:
    services = call.services
    state = await services.repo.fresh()
    deployment = find_deployment(call, state, request.deployment_id)
    errors = [p for p in state.problems([deployment.deployment_id]) if p.severity == "error"]
    if errors:
        raise problems_error(errors, status=422)
    _check_dispatcher(call, request)
    cleanup = None
    if request.commit:
        source, cleanup = await run_in_threadpool(source_at, services, request.commit)
    else:
        source = current_source(services, state)
    try:
        prepared = await run_in_threadpool(services.operations.prepare, request, source)
    except BaseException:
        if cleanup is not None:
            cleanup()
        raise
    if cleanup is not None:
        prepared.extra["cleanup"] = cleanup
    return prepared, cleanup


def _check_dispatcher(call: Call, request: OperationRequest) -> None:
    if call.services.settings.dispatcher != "github":
        return
    refused = {
        "preview": request.preview,
        "force": request.force,
        "smartSkip": not request.smart_skip,
        "options.maxRetries": request.max_retries,  # the job's Pulumi run is one attempt
        "env": request.env,  # a job gets variables and secrets from its GitHub environment
    }
    for field_name, value in refused.items():
        if value:
            raise ApiError(
                400,
                "VALIDATION_INVALID_FORMAT",
                f"{field_name}: not available with CLOUD_DISPATCHER=github (the run's plan job "
                "decides what runs; previews run on pull requests, in plan.yml)",
                details={"field": field_name},
            )


# --- following ------------------------------------------------------------------------------


async def get_operation(call: Call) -> Reply:
    operation = await _visible_operation(call, call.params["operation_id"])
    if operation.deployment_id != call.params["deployment_id"]:
        raise OperationError(
            "not_found",
            "RESOURCE_NOT_FOUND",
            f"operation {operation.id!r} is not an operation of {call.params['deployment_id']}",
            {"operation": operation.id},
        )
    body = await run_in_threadpool(call.services.operations.describe, operation)
    return Reply(OperationStatus.model_validate(body))


async def _visible_operation(call: Call, operation_id: str) -> Any:
    operations = call.services.operations
    operation = await run_in_threadpool(operations.get, operation_id)
    state = await call.services.repo.fresh()
    deployment = state.snapshot.deployments.get(operation.deployment_id)
    if deployment is not None:
        find_deployment(call, state, operation.deployment_id)  # 404 outside its organization
    elif not rbac.is_administrator(call.user.roles):
        # a deployment gone from the repo: its history is for administrators
        raise OperationError(
            "not_found", "RESOURCE_NOT_FOUND", f"operation {operation_id!r} not found"
        )
    return operation


def _require(call: Call, operation: Any) -> None:
    """Changing an operation takes the permission starting it took."""
    stack = operation.payload.get("request", {}).get("stack")
    scope = "stacks" if stack else "deployments"
    needed = f"{scope}:{'destroy' if operation.type == 'destroy' else 'deploy'}"
    if needed not in call.user.permissions:
        raise ApiError(
            403,
            AUTHZ_FORBIDDEN,
            f"permission {needed!r} is required",
            details={"required": needed, "roles": list(call.user.roles)},
        )


async def cancel_operation(call: Call) -> Reply:
    operation = await _visible_operation(call, call.params["operation_id"])
    _require(call, operation)
    by = _by(call)
    updated = await run_in_threadpool(call.services.operations.cancel, operation.id, by=by)
    call.audit(operationId=operation.id, deploymentId=operation.deployment_id)
    ended = updated.status not in ("pending", "in_progress")
    return Reply(
        CancelAccepted(
            operation_id=operation.id,
            deployment_id=operation.deployment_id,
            environment=operation.environment,
            status=updated.status,
            cancel_requested_by=by,
            message=(
                f"operation {updated.status}"
                if ended
                else "no new stack starts; running stacks finish, then the operation ends "
                "as cancelled"
            ),
            status_url=status_url(operation.deployment_id, operation.id),
        ),
        status=200 if ended else 202,
        message="Cancellation requested",
    )


async def retry_operation(call: Call) -> Reply:
    body: RetryRequest = call.body
    operation = await _visible_operation(call, call.params["operation_id"])
    _require(call, operation)
    request = await run_in_threadpool(
        lambda: call.services.operations.retry_request(
            operation.id,
            by=_by(call),
            tier=call.user.tier,
            step_name=body.step_name,
            max_retries=body.max_retries,
            env=body.env,
        )
    )
    if body.webhook_url:
        request = OperationRequest(**{**request.__dict__, "webhook_url": body.webhook_url})
    return await start(call, request, message=f"Retry of {operation.id} started")


async def rollback_deployment(call: Call) -> Reply:
    body: RollbackRequest = call.body
    state = await call.services.repo.fresh()
    deployment = find_deployment(call, state, call.params["deployment_id"])
    request, target = await run_in_threadpool(
        call.services.operations.rollback_request,
        deployment.deployment_id,
        body.environment,
        by=_by(call),
        tier=call.user.tier,
        target=body.target_operation_id,
    )
    if body.webhook_url:
        request = OperationRequest(**{**request.__dict__, "webhook_url": body.webhook_url})
    call.audit(reason=body.reason, rollbackTo=target.id)
    commit = str(target.payload.get("commit"))[:12]
    return await start(call, request, message=f"Rollback to {target.id} (commit {commit}) started")


ENDPOINTS = [
    Endpoint("POST", f"{DEPLOYMENT}/deploy", deploy_deployment,
             "Deploy a deployment environment (cloud deploy): smart skip, layers, 202",
             "Operations", reply=OperationAccepted, status=202, body=DeployRequest,
             body_required=False, query=DeployQuery, errors=(400, 404, 409, 422, 429, 503)),
    Endpoint("POST", f"{DEPLOYMENT}/destroy", destroy_deployment,
             "Destroy a deployment environment (cloud destroy), in reverse layers",
             "Operations", reply=OperationAccepted, status=202, body=DestroyRequest,
             errors=(400, 404, 409, 422, 429, 503)),
    Endpoint("POST", f"{STACK_OF_DEPLOYMENT}/deploy", deploy_stack,
             "Deploy one stack (cloud deploy-stack)", "Operations", reply=OperationAccepted,
             status=202, body=StackOperationRequest, errors=(400, 404, 409, 422, 429, 503)),
    Endpoint("POST", f"{STACK_OF_DEPLOYMENT}/destroy", destroy_stack,
             "Destroy one stack (cloud destroy-stack); refused if deployed stacks depend on it",
             "Operations", reply=OperationAccepted, status=202, body=StackOperationRequest,
             errors=(400, 404, 409, 422, 429, 503)),
    Endpoint("GET", f"{DEPLOYMENT}/operations/{{operation_id}}", get_operation,
             "An operation's status: progress, current and completed stacks, logs, time left",
             "Operations", reply=OperationStatus, errors=(404,)),
    Endpoint("POST", f"{OPERATION}/cancel", cancel_operation,
             "Cancel an operation: nothing new starts, running stacks finish", "Operations",
             reply=CancelAccepted, errors=(403, 404, 409)),
    Endpoint("POST", f"{OPERATION}/retry", retry_operation,
             "Retry an operation: only its failed, blocked and never-started stacks",
             "Operations", reply=OperationAccepted, status=202, body=RetryRequest,
             body_required=False, errors=(403, 404, 409, 422, 429, 503)),
    Endpoint("POST", f"{DEPLOYMENT}/rollback", rollback_deployment,
             "Redeploy the manifest at the commit of the last successful deploy before "
             "the latest", "Operations", reply=OperationAccepted, status=202,
             body=RollbackRequest, errors=(400, 404, 409, 422, 429, 503)),
]  # fmt: skip


# --- runner callbacks -------------------------------------------------------------------------


async def runner_events(call: Call) -> Reply:
    """A CI job's steps (seeds/004 `POST /steps/`), with the operation's own token."""
    body: RunnerEventsRequest = call.body
    operation_id = call.params["operation_id"]
    services = call.services
    try:
        claims = services.runner_tokens.verify(
            call.request.headers.get(events.RUNNER_TOKEN_HEADER, ""), operation_id
        )
    except RunnerTokenError as error:
        raise ApiError(
            401, AUTH_INVALID_TOKEN, f"{error} (send it in X-Cloud-Runner-Token)"
        ) from None
    operation = await run_in_threadpool(services.store.get_operation, operation_id)
    if operation is None or (operation.deployment_id, operation.environment) != (
        claims.get("dep"),
        claims.get("env"),
    ):
        raise ApiError(401, AUTH_INVALID_TOKEN, "the runner token is not for this operation")
    if operation.status not in RUNNING:
        raise ApiError(
            409,
            "RESOURCE_CONFLICT",
            f"operation {operation_id} ended ({operation.status}); its runner token is spent",
        )
    planned = {item["name"] for item in operation.payload.get("stacks", [])}
    accepted = 0
    for item in body.events:
        if item.type != "log" and not item.stack_name:
            raise ApiError(
                400,
                VALIDATION_INVALID_FORMAT,
                f"{item.type}: stackName is required",
                details={"field": "events.stackName"},
            )
        if item.stack_name and planned and item.stack_name not in planned:
            raise ApiError(
                400,
                VALIDATION_INVALID_FORMAT,
                f"{item.stack_name} is not a stack of operation {operation_id}",
                details={"field": "events.stackName"},
            )
    recorder = services.recorder
    for item in body.events:
        data = {key: item.data[key] for key in events.RUNNER_DATA_KEYS if key in item.data}
        message = events.event(
            item.type,
            services.now(),  # the service's clock orders events; the runner's is kept
            deploymentId=operation.deployment_id,
            environment=operation.environment,
            operationId=operation_id,
            stackName=item.stack_name,
            status=item.status,
            progress=item.progress,
            level=item.level,
            message=item.message,
            reportedAt=item.timestamp,
            source="runner",
            **data,
        )
        await run_in_threadpool(recorder.append, message)
        accepted += 1
    return Reply(RunnerEventsAccepted(operation_id=operation_id, accepted=accepted), status=202)


ENDPOINTS.append(
    Endpoint("POST", f"{OPERATION}/events", runner_events,
             "A CI job reports its steps (stack progress, log lines) with the operation's "
             "runner token (X-Cloud-Runner-Token)", "Operations", reply=RunnerEventsAccepted,
             status=202, body=RunnerEventsRequest, errors=(400, 401, 404, 409))
)  # fmt: skip
