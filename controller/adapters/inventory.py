"""What is deployed, as far as the service needs to know before deleting a deployment.

Deleting a deployment's manifest while its stacks still run would orphan cloud resources
(the seeds' `DEPLOYMENT_HAS_ACTIVE_STACKS` rule). The engine's backend is the truth about
what runs; this seam asks it, and says "unknown" rather than "nothing" when it cannot.
The engine is built lazily: the service starts without touching Pulumi.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from controller.engines.base import Engine, EngineError


class InventoryUnavailableError(RuntimeError):
    """The backend cannot be asked (no pulumi CLI, backend unreachable)."""


class Inventory(Protocol):
    def active_stacks(
        self, deployment_id: str, environments: Iterable[str]
    ) -> dict[str, list[str]]:
        """`{environment: [stack types with state]}`, environments with none left out."""
        ...

    def health(self) -> dict[str, Any]: ...


class EngineInventory:
    def __init__(
        self,
        engine_name: str,
        *,
        repo_root: Path,
        env: Mapping[str, str],
        engine: Callable[[], Engine] | None = None,
    ) -> None:
        self.engine_name = engine_name
        self.repo_root = repo_root
        self.env = dict(env)
        self._factory = engine  # the service's own engine: one backend, one answer
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    def _get_engine(self) -> Engine:
        if self._factory is not None:
            try:
                return self._factory()
            except EngineError as error:
                raise InventoryUnavailableError(str(error)) from None
        with self._lock:
            if self._engine is None:
                from controller.engines.factory import make_engine

                try:
                    self._engine = make_engine(
                        self.engine_name, repo_root=self.repo_root, env=self.env
                    )
                except EngineError as error:
                    raise InventoryUnavailableError(str(error)) from None
            return self._engine

    def active_stacks(
        self, deployment_id: str, environments: Iterable[str]
    ) -> dict[str, list[str]]:
        engine = self._get_engine()
        found: dict[str, list[str]] = {}
        for environment in environments:
            try:
                stacks = engine.list_instances(deployment_id, environment)
            except (EngineError, OSError) as error:
                raise InventoryUnavailableError(
                    f"cannot list the {self.engine_name} backend's stacks: {error}"
                ) from None
            if stacks:
                found[environment] = stacks
        return found

    def health(self) -> dict[str, Any]:
        if self.engine_name == "pulumi" and shutil.which("pulumi") is None:
            return {
                "status": "degraded",
                "name": "pulumi",
                "error": "the pulumi CLI is not installed",
            }
        return {
            "status": "healthy",
            "name": self.engine_name,
            "simulated": self.engine_name != "pulumi",
        }
