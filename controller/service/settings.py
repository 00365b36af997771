"""The service's configuration: every `CLOUD_…` environment variable, checked at start-up.

pydantic-settings reads and types them; this module adds what a person starting the
service needs when one is wrong: one line per bad value, naming the variable
(`CLOUD_PORT: must be an integer, got 'abc'`), and the checks that span several variables
(a GitHub repo needs a token; pull-request write mode needs GitHub). The defaults give the
embedded mode: the repo is the current folder (or the nearest one above with `stacks/`),
the store a SQLite file under its `.cloud/`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from controller.core.rbac import ROLES
from controller.service.http.proxies import proxy_networks

PREFIX = "CLOUD_"
SECRET_SETTINGS = ("jwt_secret", "github_token", "webhook_secret", "database_url")
ALLOWED_OIDC_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64)
    repo_root: Path | None = None
    data_dir: Path | None = None
    database: Path | None = None
    database_url: SecretStr | None = None  # postgresql://…: several replicas on one store
    database_pool_size: int = Field(10, ge=1, le=1000)
    engine: Literal["pulumi", "simulate"] = "pulumi"

    jwt_secret: SecretStr | None = None
    jwt_issuer: str = "cloud-controller"
    jwt_audience: str = "cloud-api"
    access_token_ttl: int = Field(3600, ge=60, le=86_400)
    refresh_token_ttl: int = Field(604_800, ge=300, le=7_776_000)
    api_key_default_ttl: int = Field(7_776_000, ge=60)
    api_key_max_ttl: int = Field(31_622_400, ge=60)

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(1_048_576, ge=1024, le=64 * 1_048_576)
    access_log: bool = True
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)

    rate_limit_enabled: bool = True
    rate_limit_anonymous_per_minute: int = Field(60, ge=1)
    rate_limit_auth_per_minute: int = Field(10, ge=1)
    rate_limit_tiers: Annotated[dict[str, dict[str, int | None]], NoDecode] = Field(
        default_factory=dict
    )
    rate_limit_sync_seconds: float = Field(1.0, ge=0.0, le=3600.0)  # 0: this process only

    repo_backend: Literal["local", "github"] = "local"
    write_mode: Literal["commit", "pr"] = "commit"
    git_commit: bool = True
    repo_refresh_seconds: float = Field(1.0, ge=0.0, le=3600.0)
    github_repository: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    github_token: SecretStr | None = None
    github_branch: str | None = None
    github_api_url: str = "https://api.github.com"
    github_poll_seconds: float = Field(30.0, ge=0.0, le=86_400.0)

    # operations (part 2): where they run, how long a lock lasts without news
    dispatcher: Literal["local", "github"] = "local"
    operation_lease_seconds: int = Field(120, ge=10, le=86_400)
    operation_parallel: int = Field(4, ge=1, le=64)
    webhook_secret: SecretStr | None = None
    webhook_max_bytes: int = Field(5 * 1_048_576, ge=1024, le=64 * 1_048_576)
    github_deploy_workflow: str = "deploy.yml"
    github_destroy_workflow: str = "destroy.yml"
    reconcile_seconds: float = Field(60.0, ge=0.0, le=86_400.0)
    reconcile_quiet_seconds: float = Field(120.0, ge=1.0, le=86_400.0)
    service_url: str | None = None  # given to CI jobs so they can report their steps
    callback_allow_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # realtime: the event hub, WebSocket sessions (/ws) and SSE log streams
    realtime_poll_ms: int = Field(50, ge=1, le=60_000)  # how often the store is read
    realtime_active_poll_ms: int = Field(10, ge=1, le=60_000)  # …while events come
    realtime_auth_timeout_seconds: float = Field(5.0, ge=0.01, le=300.0)
    realtime_heartbeat_seconds: float = Field(30.0, ge=0.01, le=3600.0)
    realtime_queue_size: int = Field(1000, ge=1, le=1_000_000)  # per client, then dropped
    realtime_max_subscriptions: int = Field(100, ge=1, le=10_000)  # per connection
    realtime_connections_free: int = Field(2, ge=0, le=100_000)  # per user, by tier
    realtime_connections_standard: int = Field(10, ge=0, le=100_000)
    realtime_connections_enterprise: int = Field(100, ge=0, le=100_000)
    sse_heartbeat_seconds: float = Field(15.0, ge=0.01, le=3600.0)

    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_jwks_url: str | None = None
    oidc_groups_claim: str = "groups"
    oidc_organizations_claim: str = "organizations"
    oidc_role_map: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    oidc_algorithms: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["RS256"])
    oidc_api_key_max_ttl: int = Field(86_400, ge=60)  # keys made by identity-provider users
    oidc_role_recheck_seconds: int = Field(3600, ge=60, le=7 * 86_400)

    @field_validator(
        "cors_origins", "oidc_algorithms", "callback_allow_hosts", "trusted_proxies", mode="before"
    )
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("rate_limit_tiers", "oidc_role_map", mode="before")
    @classmethod
    def _json_object(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else {}
            except json.JSONDecodeError as error:
                raise ValueError(f"must be a JSON object ({error.msg})") from None
            if not isinstance(value, dict):
                raise ValueError("must be a JSON object")
        return value

    @field_validator("oidc_algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        wrong = [name for name in value if name not in ALLOWED_OIDC_ALGORITHMS]
        if wrong or not value:
            raise ValueError(
                f"must be a comma-separated list of {', '.join(ALLOWED_OIDC_ALGORITHMS)}"
                + (f", got {', '.join(wrong)}" if wrong else "")
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return value  # blank: refused as every blank secret is (below)
        url = value.get_secret_value().strip()
        if not url.startswith(("postgresql://", "postgres://")):
            raise ValueError(
                "must be a PostgreSQL URL (postgresql://user:password@host:5432/database); "
                "leave it unset for the embedded SQLite store"
            )
        return SecretStr(url)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        proxy_networks(value)  # ValueError names the entry
        return value

    @field_validator(*SECRET_SETTINGS)
    @classmethod
    def _not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        # a secret of spaces is a secret anyone can guess: `' '` signed webhooks once
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("is set but blank; give a real secret, or unset it")
        return value

    @field_validator("jwt_secret")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < 32:
            raise ValueError("must be at least 32 characters (or leave it unset to generate one)")
        return value

    # --- derived paths ----------------------------------------------------------------

    def resolved_root(self, cwd: Path | None = None) -> Path:
        from controller.adapters.local_repo import find_root

        return (self.repo_root or find_root(cwd or Path.cwd())).resolve()

    def resolved_data_dir(self) -> Path:
        return (self.data_dir or self.resolved_root() / ".cloud").resolve()

    def resolved_database(self) -> Path:
        return self.database or self.resolved_data_dir() / "cloud.db"

    def store_target(self) -> Path | str:
        """Where the store is: the PostgreSQL URL when one is set, else the SQLite file."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return self.resolved_database()

    def store_description(self) -> str:
        """The store for messages: the SQLite file, or the PostgreSQL server, no password."""
        if self.database_url is None:
            return str(self.resolved_database())
        from urllib.parse import urlsplit

        parts = urlsplit(self.database_url.get_secret_value())
        return f"postgresql://{parts.hostname or ''}:{parts.port or 5432}{parts.path}"


def load_settings(**overrides: Any) -> tuple[Settings | None, list[str]]:
    """The settings from the environment (and `overrides`), or one line per problem."""
    try:
        settings = Settings(**overrides)
    except ValidationError as error:
        return None, describe_errors(error)
    problems = check_settings(settings)
    return (None, problems) if problems else (settings, [])


def describe_errors(error: ValidationError) -> list[str]:
    lines = []
    for item in error.errors():
        name = PREFIX + "_".join(str(part) for part in item["loc"][:1]).upper()
        lines.append(f"{name}: {_explain(item)}")
    return lines


_EXPLAIN = {
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_parsing": "must be a number",
    "bool_parsing": "must be true or false",
    "string_pattern_mismatch": "has the wrong format",
}


def _explain(item: Any) -> str:
    kind = item["type"]
    value = item.get("input")
    if kind == "literal_error":
        expected = item.get("ctx", {}).get("expected", "")
        return f"must be one of {expected}, got {value!r}"
    if kind in ("greater_than_equal", "less_than_equal"):
        bound = item.get("ctx", {})
        low, high = bound.get("ge"), bound.get("le")
        limit = f"at least {low}" if low is not None else f"at most {high}"
        return f"must be {limit}, got {value!r}"
    if kind == "value_error":
        return str(item["msg"]).removeprefix("Value error, ")
    if kind in _EXPLAIN:
        return f"{_EXPLAIN[kind]}, got {value!r}"
    return f"{item['msg']}, got {value!r}"


def check_settings(settings: Settings) -> list[str]:
    """Problems that involve more than one variable, or the file system."""
    problems: list[str] = []
    if settings.repo_backend == "github":
        if not settings.github_repository:
            problems.append("CLOUD_GITHUB_REPOSITORY: required when CLOUD_REPO_BACKEND=github")
        if settings.github_token is None:
            problems.append("CLOUD_GITHUB_TOKEN: required when CLOUD_REPO_BACKEND=github")
    elif settings.write_mode == "pr":
        problems.append("CLOUD_WRITE_MODE: 'pr' needs CLOUD_REPO_BACKEND=github")
    if settings.dispatcher == "github":
        # fail closed: without the secret, anyone could post run results
        if settings.webhook_secret is None:
            problems.append(
                "CLOUD_WEBHOOK_SECRET: required when CLOUD_DISPATCHER=github "
                "(GitHub's webhooks are verified with it)"
            )
        if not settings.github_repository:
            problems.append("CLOUD_GITHUB_REPOSITORY: required when CLOUD_DISPATCHER=github")
        if settings.github_token is None:
            problems.append("CLOUD_GITHUB_TOKEN: required when CLOUD_DISPATCHER=github")
    oidc = {
        "CLOUD_OIDC_ISSUER": settings.oidc_issuer,
        "CLOUD_OIDC_AUDIENCE": settings.oidc_audience,
        "CLOUD_OIDC_JWKS_URL": settings.oidc_jwks_url,
    }
    if any(oidc.values()):
        problems += [
            f"{name}: required when any CLOUD_OIDC_* is set" for name, v in oidc.items() if not v
        ]
    for group, role in settings.oidc_role_map.items():
        if role not in ROLES:
            problems.append(
                f"CLOUD_OIDC_ROLE_MAP: group {group!r} maps to {role!r}, which is not a role "
                f"({', '.join(ROLES)})"
            )
    for tier, limits in settings.rate_limit_tiers.items():
        unknown = sorted(set(limits) - {"minute", "hour", "day"})
        if unknown:
            problems.append(
                f"CLOUD_RATE_LIMIT_TIERS: tier {tier!r} has unknown window(s) "
                f"{', '.join(unknown)} (use minute, hour, day)"
            )
    if settings.api_key_default_ttl > settings.api_key_max_ttl:
        problems.append("CLOUD_API_KEY_DEFAULT_TTL: must not exceed CLOUD_API_KEY_MAX_TTL")
    if settings.repo_backend == "local":
        root = settings.resolved_root()
        if not (root / "stacks").is_dir():
            problems.append(
                f"CLOUD_REPO_ROOT: {root} has no stacks/ folder (run in a repo, or set it)"
            )
    return list(dict.fromkeys(problems))  # one line per problem, even if two rules agree
