"""From a deployment's instance to the `StackSpec` an engine runs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from controller.core.catalog import STACKS_DIR, Deployment
from controller.core.fingerprints import instance_context
from controller.engines.base import StackSpec


def stack_spec(
    deployment: Deployment,
    stack: str,
    environment: str,
    *,
    repo_root: Path,
    config: Mapping[str, Any] | None = None,
    secret_keys: frozenset[str] = frozenset(),
    env: Mapping[str, str] | None = None,
    kept_keys: frozenset[str] = frozenset(),
) -> StackSpec:
    return StackSpec(
        deployment_id=deployment.deployment_id,
        stack=stack,
        environment=environment,
        program_dir=repo_root / STACKS_DIR / stack,
        config=dict(config or {}),
        secret_keys=secret_keys,
        context=instance_context(deployment, environment),
        env=dict(env or {}),
        kept_keys=kept_keys,
    )
