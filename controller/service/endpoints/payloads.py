"""What clients send: request bodies and query strings, as pydantic models (camelCase).

These models are the API's input contract: the routes parse into them (a missing field
is a 400 `VALIDATION_REQUIRED_FIELD` naming it, a malformed one a 400
`VALIDATION_INVALID_FORMAT`), and the OpenAPI document is generated from them. Field
formats reuse the catalog models' types, so an organization name or an account id is
checked the same way in a request as in a manifest file.
"""

from __future__ import annotations

from typing import Any, Literal

import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator
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


class ServiceTokenRequest(Payload):
    """seeds/004 `POST /service-token`: a bearer for one deployment's CI (its `service`)."""

    service: DeploymentId = Field(description="the deployment the token may act on")
    origin: str = Field(min_length=1, max_length=100, description="who uses it (github, …)")
    expiration_in_days: int = Field(alias="expiration_in_days", ge=1, le=180)
    permissions: list[str] | None = Field(
        None, description="default: deployments:read, deployments:deploy, stacks:deploy, logs:read"
    )


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


class EnvironmentSettings(Payload):
    """One environment as seeds/002 sends it (`account_id`, in snake case)."""

    enabled: bool = True
    region: Region | None = None
    account_id: AccountId | None = Field(
        None, validation_alias=AliasChoices("account_id", "accountId")
    )


def environment_choices(
    environments: list[str] | dict[str, EnvironmentSettings] | None,
    accounts: dict[str, str],
) -> tuple[list[str] | None, dict[str, str], dict[str, str]]:
    """The environments to enable, the accounts and the regions a request asks for: a
    list of names (seeds/001) or seeds/002's map of settings. A purely computational
    function."""
    if not isinstance(environments, dict):
        return environments, dict(accounts), {}
    enabled = [name for name, spec in environments.items() if spec.enabled]
    chosen = dict(accounts) | {n: s.account_id for n, s in environments.items() if s.account_id}
    regions = {name: spec.region for name, spec in environments.items() if spec.region}
    return enabled, chosen, regions


class DeploymentCreateRequest(Payload):
    organization: OrganizationName
    project: ProjectName
    domain: Domain | None = None
    template: StackName = "default"
    region: Region | None = None
    accounts: dict[EnvironmentName, AccountId] = Field(default_factory=dict)
    environments: list[EnvironmentName] | dict[EnvironmentName, EnvironmentSettings] | None = Field(
        None,
        description="environments to enable (default: the template's): names, or (seeds/"
        "002) a map of {enabled, region, account_id}",
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
        None,
        description="a complete manifest (version 3.1) replacing the current one; {} (the "
        "seeds' placeholder) changes nothing",
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
    offset: int | None = Field(None, ge=0, le=10_000_000, description="seeds/002; wins over page")
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
    environment: EnvironmentName | None = Field(
        None,
        description="refused: destroying an environment is POST …/destroy (seeds/002 "
        "spells it DELETE …?environment=)",
    )


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
    """A stack definition (the `stack.yaml` fields); `layer` is computed, so only checked.
    seeds/001 may send the definition's file as `stackDefinition` (YAML text or an
    object): its fields complete the ones sent beside it; a field sent both ways with two
    values is a 400."""

    layer: int | None = Field(None, ge=1, le=100, description="ignored: layers are computed")
    stack_definition: dict[str, Any] | str | None = Field(
        None, description="the stack.yaml content (YAML text or an object)"
    )

    @model_validator(mode="before")
    @classmethod
    def _merge_definition(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("stackDefinition") in (None, "", {}):
            return data
        document = data["stackDefinition"]
        if isinstance(document, str):
            try:
                document = yaml.safe_load(document)
            except yaml.YAMLError as error:
                raise ValueError(f"stackDefinition is not YAML: {error}") from None
        if not isinstance(document, dict):
            raise ValueError("stackDefinition must be a mapping of stack.yaml fields")
        clashes = sorted(k for k in document if k in data and data[k] != document[k])
        if clashes:
            raise ValueError(
                f"stackDefinition gives {', '.join(clashes)} another value than the request"
            )
        return {**document, **data, "stackDefinition": None}


class StackUnregisterQuery(Payload):
    force: bool = Field(
        False,
        description="unregister although still deployed somewhere (its state is left "
        "behind); a stack type a template, stack or manifest uses is refused either way",
    )
    deployment_id: str | None = Field(
        None, alias="deployment_id", description="refused: see POST …/stacks/{name}/destroy"
    )
    environment: str | None = Field(None, description="refused, with deployment_id")


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


class GenerateRequest(Payload):
    organization: OrganizationName
    project: ProjectName
    domain: Domain | None = None
    region: Region | None = None
    accounts: dict[EnvironmentName, AccountId] = Field(default_factory=dict)
    environments: dict[EnvironmentName, EnvironmentSettings] | None = None
    contact: ContactPayload | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    deployment_id: DeploymentId | None = None


class ValidateManifestRequest(Payload):
    """`{"manifest": {…}}`, or (seeds/002 4.1's "Full manifest JSON") the manifest itself."""

    manifest: dict[str, Any]

    @model_validator(mode="before")
    @classmethod
    def _bare(cls, data: Any) -> Any:
        if isinstance(data, dict) and data and "manifest" not in data:
            return {"manifest": data}
        return data


class DependencyEntry(Payload):
    dependencies: list[StackName] = Field(default_factory=list)


class ValidateDependenciesRequest(Payload):
    deployment_id: DeploymentId | None = Field(
        None, validation_alias=AliasChoices("deploymentId", "deployment_id")
    )
    environment: EnvironmentName | None = None
    template: StackName | None = None
    stacks: dict[StackName, DependencyEntry] = Field(default_factory=dict)
