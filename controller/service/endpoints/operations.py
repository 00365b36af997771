"""Operations: deploy and destroy a deployment environment or one stack, follow them,
cancel, retry, roll back (seeds/001 "Deployment Endpoints", "Stack Endpoints";
seeds/003 rollback and retry).

A start answers 202 once the operation and its `operation.started` event are in the
store and the deployment environment's lock is taken; a second start on the same
environment gets 409 `OPERATION_IN_PROGRESS` with the running operation's id. The plan
behind `stacksToDeploy` / `stacksSkipped` is the engine issue's planner.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool

from controller.adapters.local_repo import LocalRepo
from controller.core import events, rbac
from controller.core.catalog import load_snapshot
from controller.edits.catalog_state import CatalogState
from controller.operations.control import (
    OperationError,
    OperationRequest,
    Prepared,
    Source,
    channel_of,
    status_url,
)
from controller.operations.records import RUNNING
from controller.operations.runner_tokens import RunnerTokenError
from controller.service.endpoints.deployments import find_deployment
from controller.service.endpoints.operation_payloads import (
    CancelAccepted,
    DeployRequest,
    DestroyPreview,
    DestroyRequest,
    OperationAccepted,
    OperationStatus,
    RetryRequest,
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
    ApiError,
    problems_error,
)
from controller.service.http.routing import Call, Endpoint, Reply

# --- starting -------------------------------------------------------------------------------


def _parallel(value: bool | int) -> int | None:
    if value is True:
        return None  # the service's default
    if value is False:
        return 1
    return int(value)


def _by(call: Call) -> str:
    return call.user.email or call.user.username


async def deploy_deployment(call: Call) -> Reply:
    body: DeployRequest = call.body
    request = OperationRequest(
        deployment_id=call.params["deployment_id"],
        environment=body.environment,
        kind="deploy",
        started_by=_by(call),
        preview=body.preview,
        parallel=_parallel(body.parallel),
        continue_on_error=body.continue_on_error,
        smart_skip=body.smart_skip,
        stack_filter=tuple(body.stack_filter),
        force=body.force,
        webhook_url=body.webhook_url,
        tier=call.user.tier,
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
        prepared, _ = await _prepare(call, request)
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
    prepared, cleanup = await _prepare(call, request)
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
        **{key: announced.run},
    )
    return Reply(reply, status=202, message=message)


async def _prepare(call: Call, request: OperationRequest) -> tuple[Prepared, Any]:
    services = call.services
    state = await services.repo.fresh()
    deployment = find_deployment(call, state, request.deployment_id)
    errors = [p for p in state.problems([deployment.deployment_id]) if p.severity == "error"]
    if errors:
        raise problems_error(errors, status=422)
    _check_dispatcher(call, request)
    cleanup = None
    if request.commit:
        source, cleanup = await run_in_threadpool(_source_at, services, request.commit)
    else:
        source = _source(services, state)
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


def _source(services: Any, state: CatalogState) -> Source:
    root = services.settings.resolved_root()
    repo_source = services.repo.source
    ids = getattr(repo_source, "stack_file_ids", None) or LocalRepo(root).stack_file_ids
    return Source(
        catalog=state.snapshot.catalog,
        deployments=state.snapshot.deployments,
        file_ids=ids,
        root=root,
        commit=state.files.commit,
    )


def _source_at(services: Any, commit: str) -> tuple[Source, Any]:
    """The repo at `commit`: its catalog, and (local) its programs in a folder of their own."""
    repo_source = services.repo.source
    if not hasattr(repo_source, "snapshot_at"):
        raise ApiError(
            409,
            "RESOURCE_CONFLICT",
            "this repo source keeps no history: a rollback needs a git checkout or GitHub",
        )
    texts, ids = repo_source.snapshot_at(commit)
    snapshot = load_snapshot(texts)
    root = services.settings.resolved_root()
    cleanup = None
    if services.settings.dispatcher == "local":
        base = services.settings.resolved_data_dir() / "rollbacks"
        base.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f"{commit[:12]}-", dir=base))
        repo_source.export_at(commit, folder)
        root = folder

        def cleanup() -> None:
            shutil.rmtree(folder, ignore_errors=True)

    source = Source(
        catalog=snapshot.catalog,
        deployments=snapshot.deployments,
        file_ids=lambda: ids,
        root=root,
        commit=commit,
    )
    return source, cleanup


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
        call.services.operations.retry_request, operation.id, by=_by(call), tier=call.user.tier
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
             errors=(400, 404, 409, 422, 429, 503)),
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
