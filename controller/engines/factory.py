"""Choosing an engine by name: one table, no silent fallback between them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from controller.engines import DEFAULT_ENGINE, ENGINE_NAMES
from controller.engines.base import Engine, EngineUnavailableError
from controller.engines.pulumi_engine import PulumiEngine
from controller.engines.simulated import SimulatedEngine

STATE_DIR = ".cloud"
__all__ = ["DEFAULT_ENGINE", "ENGINES", "STATE_DIR", "make_engine"]


Credentials = Callable[[], Mapping[str, str]] | None


def _simulated(root: Path, env: Mapping[str, str], credentials: Credentials) -> Engine:
    return SimulatedEngine(state_dir=root / STATE_DIR / "sim")  # touches no cloud


def _pulumi(root: Path, env: Mapping[str, str], credentials: Credentials) -> Engine:
    return PulumiEngine(
        state_root=root / STATE_DIR / "pulumi",
        backend_url=env.get("PULUMI_BACKEND_URL") or None,
        env={key: value for key, value in env.items() if key.startswith(("PULUMI_", "AWS_"))},
        credentials=credentials,
    )


ENGINES: dict[str, Callable[[Path, Mapping[str, str], Credentials], Engine]] = {
    "pulumi": _pulumi,
    "simulate": _simulated,
}
assert tuple(sorted(ENGINES)) == tuple(sorted(ENGINE_NAMES))


def make_engine(
    name: str, *, repo_root: Path, env: Mapping[str, str], credentials: Credentials = None
) -> Engine:
    """The engine called `name`; `EngineUnavailableError` if it cannot run here.
    `credentials`: a callable giving the AWS_* variables of the role to use."""
    factory = ENGINES.get(name)
    if factory is None:
        raise EngineUnavailableError(
            f"unknown engine {name!r}; choose one of {', '.join(sorted(ENGINES))}"
        )
    return factory(repo_root, env, credentials)
