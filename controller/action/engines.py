"""One engine per deployment environment, holding that environment's own credentials.

With the Pulumi engine in a GitHub Actions job, each environment's engine assumes the
role of the phase (`deploy` for applies, destroys and removals; `plan` for previews and
reading the backend) in the environment's own account, by the job's OIDC token. Nothing
else reaches Pulumi: no repository-wide key, no role shared between tenants. The
simulated engine touches no cloud and needs no credentials; it says so.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from controller.action.context import ActionError, ActionInputs, GitHubContext
from controller.adapters.aws_credentials import OidcRoleBroker, RoleCredentials, session_name
from controller.core.catalog import Deployment
from controller.core.credentials import ConventionError, Phase, RoleConvention, resolve_roles
from controller.engines.base import Engine, EngineUnavailableError
from controller.engines.factory import make_engine


class EnvironmentEngines:
    """`engines(deployment, environment)`: the engine for that environment (cached)."""

    def __init__(
        self,
        inputs: ActionInputs,
        github: GitHubContext,
        root: Path,
        *,
        phase: Phase,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.inputs = inputs
        self.github = github
        self.root = root
        self.phase = phase
        self.env = dict(os.environ if env is None else env)
        self._engines: dict[tuple[str, str], Engine] = {}
        self._shared: Engine | None = None
        try:
            self.convention = RoleConvention.from_env(self.env)
        except ConventionError as error:
            raise ActionError(str(error)) from None

    @property
    def assumes_roles(self) -> bool:
        return self.inputs.engine == "pulumi" and self.inputs.assume_roles

    def role_of(self, deployment: Deployment, environment: str) -> str | None:
        roles = resolve_roles(deployment.manifest, environment, self.convention)
        return roles.role(self.phase) if roles else None

    def __call__(self, deployment: Deployment, environment: str) -> Engine:
        if not self.assumes_roles:
            if self._shared is None:
                self._shared = self._make(None)
            return self._shared
        key = (deployment.deployment_id, environment)
        if key not in self._engines:
            self._engines[key] = self._make(self._credentials(deployment, environment))
        return self._engines[key]

    def _credentials(self, deployment: Deployment, environment: str) -> RoleCredentials:
        role = self.role_of(deployment, environment)
        if role is None:
            raise ActionError(
                f"{deployment.deployment_id}/{environment} has no {self.phase} role: set "
                f"accounts.{environment} or environments.{environment}.roleArn in "
                f"{deployment.file}"
            )
        broker = OidcRoleBroker.from_env(self.env)
        if broker is None:
            raise ActionError(
                f"assuming {role} needs GitHub's OIDC token: give the job "
                "`permissions: id-token: write` (or assume-roles: false with credentials of "
                "your own)"
            )
        return RoleCredentials(
            broker,
            role,
            region=deployment.manifest.region_for(environment),
            name=session_name(
                "cloud", self.phase, deployment.deployment_id, environment, self.github.run_id
            ),
        )

    def _make(self, credentials: RoleCredentials | None) -> Engine:
        try:
            return make_engine(
                self.inputs.engine, repo_root=self.root, env=self.env, credentials=credentials
            )
        except EngineUnavailableError as error:
            raise ActionError(f"engine {self.inputs.engine}: {error}") from None

    def describe(self) -> str:
        if self.inputs.engine != "pulumi":
            return "credentials: none needed (simulated engine: no cloud call is made)"
        if not self.inputs.assume_roles:
            return "credentials: the job's own (assume-roles is false)"
        return (
            f"credentials: each environment's {self.phase} role, assumed by OIDC "
            f"(convention: role/{self.convention.name(self.phase)} in the environment's account)"
        )
