"""What the API answers: the `data` of each response, as pydantic models (camelCase).

Handlers build these and the envelope serializes them, so the OpenAPI document (made
from the same models) cannot drift from what is sent. Shapes follow `seeds/001…` and
`seeds/002…`; where a value is unknown until operations exist (part 2), it is null.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from controller.core.models import ConfigSpec, OutputSpec, ResourceDoc, TemplateEnvironment


class Reply(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, validate_by_name=True, serialize_by_alias=True
    )

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


# --- shared ---------------------------------------------------------------------------------


class Pagination(Reply):
    offset: int = Field(description="index of the first item (seeds/002 pages by offset)")
    page: int
    limit: int
    total: int
    total_pages: int
    has_next: bool
    has_prev: bool
    next_page: int | None
    prev_page: int | None


class Change(Reply):
    """How a write reached the repo: a commit, a pull request, or files only (no git)."""

    mode: Literal["commit", "pull-request", "files"]
    commit: str | None = None
    branch: str | None = None
    pull_request_url: str | None = None
    pull_request_number: int | None = None


class Issue(Reply):
    code: str
    message: str
    file: str | None = None
    line: int | None = None
    severity: Literal["error", "warning"] = "error"
    details: dict[str, Any] = Field(default_factory=dict)


class Check(Reply):
    name: str
    status: Literal["passed", "failed", "skipped"]
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ValidationResult(Reply):
    valid: bool
    errors: list[Issue]
    warnings: list[Issue]


class Message(Reply):
    message: str


# --- auth -----------------------------------------------------------------------------------


class UserView(Reply):
    id: str
    username: str
    email: str
    name: str
    roles: list[str]
    organizations: list[str]


class LoginData(Reply):
    access_token: str
    id_token: str = Field(description="who signed in (claims: email, name, roles); not a bearer")
    refresh_token: str
    expires_in: int
    refresh_expires_in: int
    token_type: Literal["Bearer"] = "Bearer"
    user: UserView


class RefreshData(Reply):
    access_token: str
    id_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int
    token_type: Literal["Bearer"] = "Bearer"


class SignedOut(Reply):
    session_id: str
    signed_out_at: str


class MeData(UserView):
    tier: str
    permissions: list[str]
    authenticated_via: Literal["jwt", "api_key", "oidc", "service_token"]
    key_id: str | None = None


class ApiKeyCreated(Reply):
    api_key: str
    key_id: str
    name: str
    description: str
    created_at: str
    expires_at: str
    permissions: list[str]


class ApiKeyView(Reply):
    key_id: str
    name: str
    description: str
    prefix: str
    created_at: str
    expires_at: str
    last_used_at: str | None
    status: Literal["active", "revoked", "expired"]
    permissions: list[str]


class ApiKeyList(Reply):
    api_keys: list[ApiKeyView]
    total: int


class ApiKeyRevoked(Reply):
    key_id: str
    revoked_at: str
    also_revoked: list[str] = Field(
        default_factory=list, description="keys made with this one (and theirs), revoked with it"
    )


class AuditView(Reply):
    id: int
    at: str
    request_id: str
    actor: str
    actor_type: str
    action: str
    status: int
    client: str
    details: dict[str, Any]


class AuditList(Reply):
    entries: list[AuditView]
    pagination: Pagination


# --- deployments ----------------------------------------------------------------------------


class EnvironmentState(Reply):
    enabled: bool
    status: str


class DeploymentSummary(Reply):
    deployment_id: str
    organization: str
    project: str
    domain: str | None
    template: str
    status: str
    environments: dict[str, EnvironmentState]
    created_at: str | None
    updated_at: str | None
    last_deployed_at: str | None


class DeploymentList(Reply):
    deployments: list[DeploymentSummary]
    pagination: Pagination


class EnvironmentView(Reply):
    name: str
    enabled: bool
    region: str
    account: str | None
    status: str
    stacks: int = Field(description="stacks enabled in this environment")
    stacks_deployed: int = 0
    stacks_failed: int = 0
    last_deployed_at: str | None = None
    endpoints: dict[str, str] = Field(
        default_factory=dict, description="the URLs the deployed stacks export"
    )
    resource_count: int = 0
    estimated_monthly_cost: float | None = Field(
        None, description="USD: the stack definitions' estimates (null when disabled)"
    )


class StackInstance(Reply):
    name: str
    layer: int | None
    status: str = Field(
        description="pending (never deployed) | deploying | deployed | failed | destroying | "
        "destroyed"
    )
    dependencies: list[str]
    drift_detected: bool | None = Field(None, description="its last drift check (null: none)")
    outputs: dict[str, Any] = Field(default_factory=dict, description="secrets as [secret]")
    resource_count: int = 0
    last_deployed_at: str | None = None


class ContactView(Reply):
    email: str
    team: str


class DeploymentMetricsView(Reply):
    total_resources: int
    deployment_duration: float | None = Field(description="seconds of the latest good deploy")
    estimated_monthly_cost: float = Field(description="USD, enabled environments")


class DeploymentDetail(Reply):
    deployment_id: str
    organization: str
    project: str
    domain: str | None
    template: str
    region: str
    status: str
    directory: str
    created_at: str | None
    updated_at: str | None
    created_by: str | None = None
    last_deployed_at: str | None
    last_deployed_by: str | None = None
    contact: ContactView | None
    tags: dict[str, str]
    environments: list[EnvironmentView]
    environment: str | None = Field(description="the environment `stacks` is laid out for")
    stacks: list[StackInstance]
    manifest: dict[str, Any]
    metrics: DeploymentMetricsView
    drift_detected: bool | None = Field(
        None,
        description="in `environment`, the last drift checks found drift (null: never checked)",
    )
    drift_checked_at: str | None = None
    drifted_stacks: list[str] = Field(default_factory=list)


class DeploymentCreated(Reply):
    deployment_id: str
    organization: str
    project: str
    domain: str | None
    template: str
    status: str
    created_at: str
    created_by: str
    directory: str
    manifest_path: str
    environments: list[EnvironmentView]
    stacks: list[StackInstance]
    change: Change


class Updated(Reply):
    """A write that changed (or would have changed) existing files."""

    updated_at: str
    updated_by: str
    changes: list[str]
    change: Change | None


class DeploymentUpdated(Updated):
    deployment_id: str


class DeploymentDeleted(Reply):
    deployment_id: str
    deleted_at: str
    deleted_by: str
    forced: bool
    change: Change


class DeploymentValidation(Reply):
    deployment_id: str
    environment: str | None
    valid: bool
    checks: list[Check]
    warnings: list[Issue]
    errors: list[Issue]


class EnvironmentList(Reply):
    deployment_id: str
    environments: list[EnvironmentView]
    total: int


class EnvironmentEnabled(Reply):
    deployment_id: str
    environment: str
    enabled: bool
    enabled_at: str
    enabled_by: str
    status: str
    stacks_deployed: int = 0
    change: Change | None


class EnvironmentDisabled(Reply):
    deployment_id: str
    environment: str
    enabled: bool
    disabled_at: str
    disabled_by: str
    status: str
    stacks_deployed: int = Field(0, description="still deployed: disabling destroys nothing")
    change: Change | None


class ManifestView(Reply):
    deployment_id: str
    path: str
    revision: str | None
    manifest: dict[str, Any]


class ManifestUpdated(Updated):
    deployment_id: str
    path: str


# --- catalog --------------------------------------------------------------------------------


class StackSummary(Reply):
    name: str
    display_name: str
    description: str
    category: str
    layer: int | None
    dependencies: list[str]
    outputs: list[str]
    estimated_resources: int
    estimated_duration: int
    estimated_monthly_cost: float | None = None
    templates: list[str]


class StackList(Reply):
    stacks: list[StackSummary]
    total: int


class StackDetail(Reply):
    name: str
    display_name: str
    description: str
    category: str
    layer: int | None
    dependencies: list[str]
    dependents: list[str]
    outputs: dict[str, OutputSpec]
    configuration: dict[str, ConfigSpec]
    resources: list[ResourceDoc]
    estimated_resources: int
    estimated_duration: int
    estimated_monthly_cost: float | None = None
    templates: list[str]


class StackRegistered(Reply):
    name: str
    display_name: str
    registered_at: str
    registered_by: str
    status: Literal["active"] = "active"
    path: str
    warnings: list[str]
    change: Change


class StackUpdated(Updated):
    name: str
    warnings: list[str]


class StackUnregistered(Reply):
    name: str
    unregistered_at: str
    unregistered_by: str
    change: Change


class TemplateSummary(Reply):
    name: str
    display_name: str
    description: str
    type: Literal["built-in", "custom"]
    version: str
    stacks: list[str]
    environments: list[str]
    estimated_resources: int
    estimated_monthly_cost: float
    created_at: str | None = Field(None, description="its file's first commit")


class TemplateList(Reply):
    templates: list[TemplateSummary]
    total: int


class TemplateStack(Reply):
    name: str
    layer: int | None
    required: bool
    description: str
    dependencies: list[str]


class TemplateDetail(Reply):
    name: str
    display_name: str
    description: str
    type: Literal["built-in", "custom"]
    version: str
    stacks: list[TemplateStack]
    default_config: dict[str, dict[str, Any]]
    environments: dict[str, TemplateEnvironment]
    estimated_resources: int
    estimated_monthly_cost: float = Field(description="USD per environment, the stacks' sum")
    created_at: str | None = Field(None, description="its file's first commit")
    deployment_time: int | None = Field(description="critical path in seconds")


class TemplateCreated(Reply):
    name: str
    display_name: str
    type: Literal["built-in", "custom"]
    version: str
    created_at: str
    created_by: str
    status: Literal["active"] = "active"
    path: str
    change: Change


class TemplateUpdated(Updated):
    name: str
    version: str


class TemplateDeleted(Reply):
    name: str
    deleted_at: str
    deleted_by: str
    change: Change


class TemplateValidation(Reply):
    template_name: str
    valid: bool
    checks: list[Check]
    warnings: list[Issue]
    errors: list[Issue]


class GeneratedManifest(Reply):
    template_name: str
    deployment_id: str
    path: str
    manifest: dict[str, Any]
    yaml: str
    valid: bool
    errors: list[Issue]
    warnings: list[Issue]


class GraphEdge(BaseModel):
    """`from` depends on `to` (seeds/002's direction)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    source: str = Field(alias="from")
    target: str = Field(alias="to")


class DependencyGraph(Reply):
    nodes: list[str]
    edges: list[GraphEdge]
    layers: list[list[str]]


class DependencyValidation(ValidationResult):
    dependency_graph: DependencyGraph


# --- system ---------------------------------------------------------------------------------


class ServiceState(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["healthy", "degraded", "unhealthy", "disabled", "skipped"]


class Health(Reply):
    status: Literal["healthy", "degraded", "unhealthy"]
    version: str
    timestamp: str
    services: dict[str, ServiceState]


class Info(Reply):
    api_version: str
    platform_version: str
    endpoints: int
    authentication: list[str]
    repository: str
    write_mode: str
    engine: str
    documentation: str
    openapi: str
