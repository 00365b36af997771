"""What the operation endpoints take and answer (seeds/001 "Deployment Endpoints" deploy,
destroy and operation status; "Stack Endpoints"; "State Endpoints"; "Monitoring").

Like `payloads` and `replies`: pydantic models in camelCase, which the routes parse into
and the OpenAPI document is generated from.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StrictInt

from controller.core.models import DeploymentId, EnvironmentName, StackName
from controller.service.endpoints.payloads import Payload
from controller.service.endpoints.replies import Reply

StackGlob = Annotated[str, Field(pattern=r"^[a-z0-9*?\[\]!-]{1,64}$", max_length=64)]
OperationId = Annotated[str, Field(pattern=r"^op-[0-9a-f]{6,32}$")]
WebhookUrl = Annotated[str, Field(min_length=8, max_length=2048)]
Parallel = StrictBool | Annotated[StrictInt, Field(ge=1, le=64)]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
RunEnv = Annotated[
    dict[EnvName, Annotated[str, Field(max_length=4096)]],
    Field(
        max_length=50,
        description="variables given to the run's programs (seeds/004); values of names like "
        "*TOKEN*, *SECRET*, *PASSWORD*, *KEY* are never stored, logged or shown",
    ),
]
MaxRetries = Annotated[
    int, Field(ge=0, le=5, description="attempts of a failed stack beyond the first")
]


# --- requests -------------------------------------------------------------------------------


class DeployOptions(Payload):
    """seeds/003's deploy `options`."""

    dry_run: bool = Field(False, description="a preview: nothing changes")
    rollback_on_failure: bool = Field(
        False,
        description="when stacks fail, deploy them again as they were last deployed (the "
        "commit of their last good deploy), as an operation of its own",
    )
    max_retries: MaxRetries = 0


class DeployQuery(Payload):
    """seeds/002 sends the environment and `dry_run` in the query, with no body."""

    environment: EnvironmentName | None = None
    dry_run: bool = Field(False, alias="dry_run")


class DeployRequest(Payload):
    environment: EnvironmentName | None = Field(
        None, description="required here or in the query (seeds/002)"
    )
    deployment_id: DeploymentId | None = Field(None, description="seeds/003: the path's, if sent")
    options: DeployOptions | None = None
    env: RunEnv = Field(default_factory=dict)
    preview: bool = False
    parallel: Parallel = Field(
        True, description="true: the service's default; false: one stack at a time; a number"
    )
    continue_on_error: bool = False
    smart_skip: bool = True
    stack_filter: list[StackGlob] = Field(default_factory=list, max_length=50)
    force: bool = Field(False, description="run the selected stacks even if unchanged")
    webhook_url: WebhookUrl | None = Field(
        None, description="https URL the result is POSTed to when the operation ends"
    )


class DestroyRequest(Payload):
    environment: EnvironmentName
    preview: bool = Field(False, description="list what would be destroyed; start nothing")
    skip_confirmation: bool = Field(
        False, description="accepted for compatibility: an API call is its own confirmation"
    )
    parallel: Parallel = True
    continue_on_error: bool = False
    stack_filter: list[StackGlob] = Field(default_factory=list, max_length=50)
    webhook_url: WebhookUrl | None = None


class StackOperationRequest(Payload):
    environment: EnvironmentName
    preview: bool = False
    force: bool = False
    webhook_url: WebhookUrl | None = None


class RollbackRequest(Payload):
    environment: EnvironmentName
    reason: str = Field("", max_length=500)
    target_operation_id: OperationId | None = Field(
        None, description="a successful deploy to return to (default: the one before the latest)"
    )
    webhook_url: WebhookUrl | None = None


class RetryRequest(Payload):
    webhook_url: WebhookUrl | None = None
    step_name: StackName | None = Field(
        None, description="seeds/003: retry only this stack (one that failed or did not run)"
    )
    max_retries: MaxRetries | None = None
    env: RunEnv | None = Field(
        None, description="default: the retried operation's (secrets are not kept: send them again)"
    )


class EnvironmentQuery(Payload):
    environment: EnvironmentName | None = Field(
        None, description="default: the deployment's first enabled environment"
    )


class OutputsQuery(Payload):
    environment: EnvironmentName | None = Field(
        None, description="default: the deployment's first enabled environment"
    )
    stack: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")] | None = None


class MetricsQuery(Payload):
    environment: EnvironmentName | None = None
    period: Literal["1h", "24h", "7d", "30d"] = "24h"


class StateExportQuery(Payload):
    environment: EnvironmentName | None = Field(
        None, description="default: the deployment's first enabled environment"
    )
    stack: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")] | None = None
    format: Literal["json"] = "json"


class StateImportRequest(Payload):
    environment: EnvironmentName
    stack: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")]
    state: dict[str, Any]
    force: bool = Field(False, description="import even if the state has pending operations")


class StateSyncRequest(Payload):
    environment: EnvironmentName


class StackRefreshRequest(Payload):
    environment: EnvironmentName | None = Field(
        None, description="default: the deployment's first enabled environment"
    )
    preview_only: StrictBool = Field(
        False, description="report the drift and change no state (a drift check)"
    )


class RunnerEventsRequest(Payload):
    """Steps a CI job reports (seeds/004 "POST /steps/"), as the seeds' event messages."""

    events: list[RunnerEvent] = Field(min_length=1, max_length=200)


class RunnerEvent(Payload):
    type: Literal[
        "stack.started", "stack.progress", "stack.completed", "stack.skipped", "stack.failed", "log"
    ]
    stack_name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")] | None = None
    timestamp: str | None = Field(None, max_length=40)
    status: str | None = Field(None, max_length=40)
    progress: int | None = Field(None, ge=0, le=100)
    level: Literal["debug", "info", "warning", "warn", "error"] | None = None
    message: str | None = Field(None, max_length=8000)
    data: dict[str, Any] = Field(default_factory=dict)


RunnerEventsRequest.model_rebuild()


# --- replies --------------------------------------------------------------------------------


class StackToRun(Reply):
    name: str
    layer: int
    status: str = "pending"
    estimated_duration: int = 0
    reason: str | None = None
    conditional: bool | None = None


class StackSkipped(Reply):
    name: str
    layer: int
    reason: str
    last_deployed: str | None = None


class OperationAccepted(Reply):
    deployment_id: str
    environment: str
    operation_id: str
    type: Literal["deploy", "destroy", "preview"]
    status: str
    started_at: str
    started_by: str
    estimated_duration: int
    stack_name: str | None = None
    stacks_to_deploy: list[StackToRun] | None = None
    stacks_to_destroy: list[StackToRun] | None = None
    stacks_skipped: list[StackSkipped]
    websocket_channel: str
    websocket_url: str = "/ws"
    status_url: str
    dispatcher: str
    preview: bool = False
    retry_of: str | None = None
    rollback_of: str | None = None
    commit: str | None = None
    rollback_info: RollbackInfo | None = None


class RollbackInfo(Reply):
    """seeds/003: whether a failure can be rolled back, and to what."""

    available: bool
    previous_version: str | None = Field(description="the commit the stacks were deployed from")


OperationAccepted.model_rebuild()


class DestroyPreview(Reply):
    deployment_id: str
    environment: str
    preview: Literal[True] = True
    estimated_duration: int
    stacks_to_destroy: list[StackToRun]
    stacks_skipped: list[StackSkipped]


class OperationStatus(Reply):
    operation_id: str
    deployment_id: str
    environment: str
    type: str
    status: str
    started_at: str | None = None
    completed_at: str | None = None
    started_by: str | None = None
    stack_name: str | None = None
    preview: bool = False
    progress: dict[str, int]
    current_stacks: list[dict[str, Any]]
    completed_stacks: list[dict[str, Any]]
    pending_stacks: list[str]
    stacks_skipped: list[dict[str, Any]]
    estimated_time_remaining: int
    logs: list[dict[str, Any]]
    status_url: str
    websocket_channel: str
    dispatcher: str | None = None
    commit: str | None = None
    retry_of: str | None = None
    rollback_of: str | None = None
    run_id: int | None = None
    run_url: str | None = None
    error: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    env: dict[str, str] | None = None
    rollback: dict[str, Any] | None = Field(
        None, description="the rollback a failure with rollbackOnFailure started"
    )


class CancelAccepted(Reply):
    operation_id: str
    deployment_id: str
    environment: str
    status: str
    cancel_requested_by: str
    message: str
    status_url: str


class RunnerEventsAccepted(Reply):
    operation_id: str
    accepted: int


class StackStatus(Reply):
    deployment_id: str
    stack_name: str
    environment: str
    status: str
    last_deployed_at: str | None = None
    last_deployed_by: str | None = None
    last_operation_id: str | None = None
    commit: str | None = None
    outputs: dict[str, Any]
    resources: list[dict[str, Any]]
    resource_count: int
    deployment_duration: float | None = None
    drift_detected: bool | None = Field(
        None, description="the last drift check's result (null: never checked)"
    )
    drift_checked_at: str | None = None
    pending_operations: int = 0
    simulated: bool = False


class StackRefreshed(Reply):
    """seeds/002 2.5 "Refresh Stack State", with what the refresh found."""

    deployment_id: str
    stack_name: str
    environment: str
    status: Literal["refreshed", "failed"]
    changes_detected: bool = Field(description="the cloud differs from the recorded state")
    refreshed_at: str
    preview_only: bool
    drift_detected: bool
    drift: dict[str, Any] = Field(
        description="status (in_sync, drifted, gone) and the resources that differ: each "
        "property's recorded value and the cloud's (secrets masked)"
    )
    error: str | None = None
    operation_id: str
    simulated: bool = False


class DeploymentOutputs(Reply):
    deployment_id: str
    environment: str
    outputs: dict[str, dict[str, Any]]
    simulated: bool = False


class StackResources(Reply):
    deployment_id: str
    stack_name: str
    environment: str
    resources: list[dict[str, Any]]
    resource_count: int
    simulated: bool = False


class DeploymentMetrics(Reply):
    deployment_id: str
    environment: str | None = None
    period: str
    metrics: dict[str, Any]


class StateExported(Reply):
    deployment_id: str
    environment: str
    stack: str | None = None
    exported_at: str
    secrets: Literal["redacted"] = "redacted"
    state: dict[str, Any] | None = None
    stacks: dict[str, dict[str, Any]] | None = None


class StateImported(Reply):
    deployment_id: str
    environment: str
    stack: str
    imported_at: str
    imported_by: str
    resource_count: int


class StateSynced(Reply):
    deployment_id: str
    environment: str
    synced_at: str
    stacks_synced: int
    conflicts: int
    stacks: list[dict[str, Any]]
