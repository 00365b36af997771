"""What clients send: request bodies and query strings, as pydantic models (camelCase).

These models are the API's input contract: the routes parse into them (a missing field
is a 400 `VALIDATION_REQUIRED_FIELD` naming it, a malformed one a 400
`VALIDATION_INVALID_FORMAT`), and the OpenAPI document is generated from them. Field
formats reuse the catalog models' types, so an organization name or an account id is
checked the same way in a request as in a manifest file.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from controller.core.models import (
    AccountId,
    Category,
    ConfigKey,
    ConfigSpec,
    DeploymentId,
    Domain,
    Email,
    EnvironmentName,
    OrganizationName,
    OutputSpec,
    ProjectName,
    Region,
    ResourceDoc,
    StackDefinition,
    StackName,
    TemplateEnvironment,
)


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, validate_by_name=False)


# --- auth -----------------------------------------------------------------------------------


class LoginRequest(Payload):
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024)
    mfa_code: str | None = Field(None, max_length=16, description="accepted; MFA is not enabled")


class RefreshRequest(Payload):
    refresh_token: str = Field(min_length=1, max_length=200)


class ApiKeyRequest(Payload):
    name: str = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=500)
    expires_in: int | None = Field(None, ge=60, description="seconds; default 90 days")
    permissions: list[str] = Field(min_length=1, max_length=50)


class AuditQuery(Payload):
    page: int = Field(1, ge=1, le=100_000)
    limit: int = Field(50, ge=1, le=500)
    actor: str | None = Field(None, max_length=200)
    action: str | None = Field(None, max_length=200)


# --- deployments ----------------------------------------------------------------------------


class ContactPayload(Payload):
    email: Email
    team: str = Field("", max_length=200)


class DeploymentCreateRequest(Payload):
    organization: OrganizationName
    project: ProjectName
    domain: Domain | None = None
    template: StackName = "default"
    region: Region | None = None
    accounts: dict[EnvironmentName, AccountId] = Field(default_factory=dict)
    environments: list[EnvironmentName] | None = Field(
        None, description="environments to enable (default: the template's)"
    )
    contact: ContactPayload | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    deployment_id: DeploymentId | None = Field(None, description="default: a fresh random id")


class DeploymentUpdateRequest(Payload):
    domain: Domain | None = None
    region: Region | None = None
    accounts: dict[EnvironmentName, AccountId] | None = None
    contact: ContactPayload | None = None
    tags: dict[str, str] | None = None
    manifest: dict[str, Any] | None = Field(
        None, description="a complete manifest (version 3.1) replacing the current one"
    )

    @model_validator(mode="after")
    def _something(self) -> DeploymentUpdateRequest:
        if not self.model_fields_set:
            raise ValueError(
                "send at least one of domain, region, accounts, contact, tags, manifest"
            )
        return self


class DeploymentListQuery(Payload):
    page: int = Field(1, ge=1, le=100_000)
    limit: int = Field(20, ge=1, le=100)
    status: str | None = Field(None, max_length=50)
    organization: str | None = Field(None, max_length=100)
    project: str | None = Field(None, max_length=100)
    template: str | None = Field(None, max_length=100)
    environment: str | None = Field(None, max_length=100)
    sort_by: Literal["createdAt", "updatedAt", "deploymentId"] = "deploymentId"
    sort_order: Literal["asc", "desc"] = "asc"


SHOW_SECRETS = (
    "true: secret config values in clear (needs permission secrets:read; audited); "
    "otherwise they read [secret]"
)


class ManifestQuery(Payload):
    show_secrets: bool = Field(False, description=SHOW_SECRETS)


class DeploymentQuery(ManifestQuery):
    environment: EnvironmentName | None = Field(
        None, description="environment whose layers `stacks` shows (default: first enabled)"
    )


class DeleteQuery(Payload):
    force: bool = False


CheckName = Literal[
    "manifest",
    "dependencies",
    "configuration",
    "runtime-placeholders",
    "aws-credentials",
    "pulumi-state",
]


class DeploymentValidateRequest(Payload):
    environment: EnvironmentName | None = None
    checks: list[CheckName] | None = None


class EnvironmentEnableRequest(Payload):
    auto_deploy: Literal[False] = Field(
        False, description="deploying on enable arrives with operations; only false for now"
    )


class EnvironmentDisableRequest(Payload):
    destroy_resources: Literal[False] = Field(
        False, description="destroying on disable arrives with operations; only false for now"
    )


# --- catalog --------------------------------------------------------------------------------


class StackListQuery(Payload):
    category: Category | None = None
    layer: int | None = Field(None, ge=1, le=100)
    template: StackName | None = None


class StackCreateRequest(StackDefinition):
    """A stack definition (the `stack.yaml` fields); `layer` is computed, so only checked."""

    layer: int | None = Field(None, ge=1, le=100, description="ignored: layers are computed")


class StackUpdateRequest(Payload):
    display_name: str | None = None
    description: str | None = None
    category: Category | None = None
    dependencies: list[StackName] | None = None
    outputs: dict[ConfigKey, OutputSpec] | None = None
    configuration: dict[ConfigKey, ConfigSpec] | None = None
    estimated_duration: int | None = Field(None, ge=1)
    estimated_resources: int | None = Field(None, ge=0)
    resources: list[ResourceDoc] | None = None
    layer: int | None = Field(None, ge=1, le=100, description="ignored: layers are computed")


class TemplateUpdateRequest(Payload):
    display_name: str | None = None
    description: str | None = None
    version: str | None = None
    stacks: list[StackName] | None = Field(None, min_length=1)
    default_config: dict[StackName, dict[ConfigKey, Any]] | None = None
    environments: dict[EnvironmentName, TemplateEnvironment] | None = Field(None, min_length=1)


class GenerateEnvironment(Payload):
    enabled: bool = True
    region: Region | None = None
    account_id: AccountId | None = None


class GenerateRequest(Payload):
    organization: OrganizationName
    project: ProjectName
    domain: Domain | None = None
    region: Region | None = None
    accounts: dict[EnvironmentName, AccountId] = Field(default_factory=dict)
    environments: dict[EnvironmentName, GenerateEnvironment] | None = None
    contact: ContactPayload | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    deployment_id: DeploymentId | None = None


class ValidateManifestRequest(Payload):
    manifest: dict[str, Any]


class DependencyEntry(Payload):
    dependencies: list[StackName] = Field(default_factory=list)


class ValidateDependenciesRequest(Payload):
    deployment_id: DeploymentId | None = None
    environment: EnvironmentName | None = None
    template: StackName | None = None
    stacks: dict[StackName, DependencyEntry] = Field(default_factory=dict)
