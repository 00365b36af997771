"""The model: stack definitions, templates and deployment manifests (version 3.1).

These pydantic models are the one schema source: files are validated against them once at
the edge, the JSON Schemas in `schemas/` are generated from them, and the rest of the core
only sees these objects. Field names in files are the seeds' camelCase; unknown keys are
errors, because a typo that passes silently is a misconfiguration that ships.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from controller.core.names import NAMES, matches
from controller.core.programs import DeploymentSetting

MANIFEST_VERSION = "3.1"

Category = Literal["network", "security", "compute", "data", "analytics", "ml", "devops"]
ValueType = Literal["string", "integer", "number", "boolean", "array", "object"]


def _text_matching(kind: str, name: str, *, hint_for_numbers: str = "") -> Any:
    """An annotated `str` checked by `core.names` (the whole value, never a prefix), whose
    failures carry their own error type and a precise message.

    The error type (`kind`) lets the caller map it to a seed error code; the schema keeps
    the pattern so editors validate the same way.
    """
    pattern, explain = NAMES[name]

    def check(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, str):
            hint = hint_for_numbers if isinstance(value, int | float) else ""
            raise PydanticCustomError(
                kind,
                "{explain}, got {value}{hint}",
                {"explain": explain, "value": repr(value), "hint": hint},
            )
        if not matches(pattern, value):
            raise PydanticCustomError(
                kind, "{explain}, got {value}", {"explain": explain, "value": repr(value)}
            )
        return value

    return Annotated[
        str,
        BeforeValidator(check),
        WithJsonSchema({"type": "string", "pattern": pattern, "description": explain}),
    ]


DeploymentId = _text_matching("deployment_id", "deployment_id")
AccountId = _text_matching(
    "account_id",
    "account_id",
    hint_for_numbers=" (quote it: YAML reads bare digits as a number and drops leading zeros)",
)
EnvironmentName = _text_matching("environment_name", "environment_name")
StackName = _text_matching("stack_name", "stack_name")
ConfigKey = _text_matching("config_key", "config_key")
Region = _text_matching("region", "region")
OrganizationName = _text_matching("invalid_format", "organization")
ProjectName = _text_matching("invalid_format", "project")
Domain = _text_matching("invalid_format", "domain")
Email = _text_matching("invalid_format", "email")
RoleArn = _text_matching("invalid_format", "role_arn")


class Strict(BaseModel):
    """camelCase in files, snake_case in code, unknown keys rejected."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        str_strip_whitespace=False,
    )

    def to_file_dict(self) -> dict[str, Any]:
        """The model as it is written in files: camelCase, only the keys that were set (an
        explicit `default: null` is kept: it means something)."""
        return self.model_dump(by_alias=True, exclude_unset=True, mode="json")


# --- stack definitions --------------------------------------------------------------------


class OutputSpec(Strict):
    type: ValueType
    description: str = ""
    secret: bool = False


class ConfigSpec(Strict):
    type: ValueType
    description: str = ""
    default: Any = None
    required: bool = False
    min: float | None = None
    max: float | None = None
    enum: list[Any] | None = None
    secret: bool = False

    @property
    def has_default(self) -> bool:
        return "default" in self.model_fields_set

    @model_validator(mode="after")
    def _consistent(self) -> ConfigSpec:
        if self.required and self.has_default:
            raise ValueError("a config key is either required or has a default, not both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if (self.min is not None or self.max is not None) and self.type not in (
            "integer",
            "number",
            "array",
        ):
            raise ValueError("min/max apply to integer, number and array keys only")
        return self


class ResourceDoc(Strict):
    type: str
    description: str = ""


class StackDefinition(Strict):
    """`stacks/<name>/stack.yaml`: what a stack type needs, gives and costs."""

    name: StackName
    display_name: str
    description: str = ""
    category: Category
    dependencies: list[StackName] = Field(default_factory=list)
    outputs: dict[ConfigKey, OutputSpec] = Field(default_factory=dict)
    configuration: dict[ConfigKey, ConfigSpec] = Field(default_factory=dict)
    reads: list[DeploymentSetting] = Field(
        default_factory=list,
        description="the deployment settings (cloud:* config) the program reads; checked "
        "against the program's source",
    )
    estimated_duration: int = Field(default=60, ge=1, description="seconds")
    estimated_resources: int = Field(default=0, ge=0)
    estimated_monthly_cost: float | None = Field(
        default=None, ge=0, description="USD per month per instance, an estimate"
    )
    resources: list[ResourceDoc] = Field(default_factory=list)

    @model_validator(mode="after")
    def _no_self_dependency(self) -> StackDefinition:
        if self.name == "templates":
            raise ValueError(
                "the stack name 'templates' is reserved: stacks/templates/ holds the templates"
            )
        if self.name in self.dependencies:
            raise ValueError(f"stack {self.name!r} lists itself as a dependency")
        return self


# --- templates ----------------------------------------------------------------------------


class TemplateEnvironment(Strict):
    region: Region
    enabled: bool = True
    protected: bool | None = Field(
        default=None,
        description="deploys need an approval in the environment's GitHub environment "
        "(default: true for prod and production)",
    )


class Template(Strict):
    """`stacks/templates/<name>.yaml`: a set of stacks, their defaults, environments."""

    name: StackName
    display_name: str
    description: str = ""
    version: str = MANIFEST_VERSION
    stacks: list[StackName] = Field(min_length=1)
    default_config: dict[StackName, dict[ConfigKey, Any]] = Field(default_factory=dict)
    environments: dict[EnvironmentName, TemplateEnvironment] = Field(min_length=1)
    promotion: list[EnvironmentName] | None = Field(
        default=None,
        description="the order environments deploy in within one run (default: the order "
        "of environments)",
    )


# --- deployment manifests -----------------------------------------------------------------


class ManifestEnvironment(Strict):
    enabled: bool = True
    region: Region | None = None
    account: AccountId | None = None
    role_arn: RoleArn | None = Field(
        default=None,
        description="the role deploys assume by OIDC (default: the repository's convention "
        "from the account)",
    )
    plan_role_arn: RoleArn | None = Field(
        default=None,
        description="the read-only role previews and plans assume (default: the "
        "repository's convention from the account)",
    )
    protected: bool | None = Field(
        default=None,
        description="deploys need an approval in the GitHub environment (default: the "
        "template's, else true for prod and production)",
    )


class StackEnvironmentOverride(Strict):
    enabled: bool | None = None
    config: dict[ConfigKey, Any] = Field(default_factory=dict)


class ManifestStack(Strict):
    enabled: bool = True
    dependencies: list[StackName] = Field(default_factory=list)
    config: dict[ConfigKey, Any] = Field(default_factory=dict)
    environments: dict[EnvironmentName, StackEnvironmentOverride] = Field(default_factory=dict)


class Contact(Strict):
    email: Email
    team: str = ""


class Manifest(Strict):
    """`deployments/<deploymentId>-<organization>-<project>/manifest.yaml`, version 3.1."""

    version: Literal["3.1"]
    deployment_id: DeploymentId
    organization: OrganizationName
    project: ProjectName
    domain: Domain | None = None
    template: StackName
    region: Region
    accounts: dict[EnvironmentName, AccountId] = Field(default_factory=dict)
    environments: dict[EnvironmentName, ManifestEnvironment] = Field(min_length=1)
    stacks: dict[StackName, ManifestStack] = Field(default_factory=dict)
    promotion: list[EnvironmentName] | None = Field(
        default=None,
        description="the order environments deploy in within one run (default: the template's)",
    )
    contact: Contact | None = None
    tags: dict[str, str] = Field(default_factory=dict)

    @property
    def directory_name(self) -> str:
        return f"{self.deployment_id}-{self.organization}-{self.project}"

    def account_for(self, environment: str) -> str | None:
        """The environment's AWS account: its own, else `accounts.<env>`, else the account
        its deploy role lives in."""
        env = self.environments.get(environment)
        if env is not None and env.account:
            return env.account
        if environment in self.accounts:
            return self.accounts[environment]
        if env is not None and env.role_arn:
            return env.role_arn.split(":")[4]
        return None

    def region_for(self, environment: str) -> str:
        env = self.environments.get(environment)
        return env.region if env is not None and env.region else self.region

    def stack_enabled(self, stack: str, environment: str) -> bool:
        entry = self.stacks.get(stack)
        if entry is None:
            return True
        override = entry.environments.get(environment)
        if override is not None and override.enabled is not None:
            return override.enabled
        return entry.enabled


DOCUMENT_MODELS: dict[str, type[Strict]] = {
    "stack": StackDefinition,
    "template": Template,
    "manifest": Manifest,
}
