"""Previews that need no state: the resource graphs a program registers at base and at head.

A pull request from a fork, the simulated engine and a runner without credentials have no
state to preview against, and a preview against nothing says "create everything" for a
stack that exists. What they do have is both commits. This module runs the stack's program
as it is at the base commit and as it is at the head, each under Pulumi's mock runtime in
its own process (`mock_runtime`), with the instance's config as each commit resolves it,
and compares the two graphs: resources added, removed, and inputs changed, old → new.

Upstream outputs (`{{RUNTIME:network:vpcId}}`) are not known without state; both sides get
the same stand-in of the output's declared type (`"(network.vpcId)"`, `0`, `[...]`), so
only what the pull request changes shows up. The mock runtime cannot know what a provider
would replace, so a replacement shows as an update. Every result says "simulated".
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.adapters.git_repo import GitRepo
from controller.core.catalog import RepoSnapshot, load_snapshot
from controller.core.environments import Instance, environment_view
from controller.core.planning import consumed_outputs
from controller.core.resolution import resolve_runtime_config
from controller.core.resource_diffs import count_changes, diff_graphs
from controller.engines.mock_runtime import ProgramRequest, ProgramRunError, run_program
from controller.engines.simulated import program_request
from controller.execution.specs import stack_spec

SOURCE = "graph"
_STAND_INS: dict[str, Any] = {"integer": 0, "number": 0, "boolean": False, "object": {}}


@dataclass(frozen=True)
class BaseTree:
    """The base commit, readable: its catalog and manifests, its programs on disk."""

    commit: str
    root: Path
    snapshot: RepoSnapshot


def open_base(git: GitRepo, commit: str, deployment_ids: Iterable[str], into: Path) -> BaseTree:
    """Export the base commit's stacks under `into` and parse what the previews need: the
    catalog and the manifests of `deployment_ids` (`GitError` if git cannot)."""
    texts, _ = git.snapshot_files(commit)
    wanted = tuple(f"deployments/{d}-" for d in deployment_ids) + tuple(
        f"deployments/{d}/" for d in deployment_ids
    )
    picked = {
        p: t for p, t in texts.items() if not p.startswith("deployments/") or p.startswith(wanted)
    }
    git.export(commit, into, ("stacks",))
    return BaseTree(commit, into, load_snapshot(picked))


def stand_in(stack: str, output: str, kind: str) -> Any:
    """The value an unknown upstream output takes on both sides of the comparison."""
    if kind == "array":
        return [f"({stack}.{output})"]
    return _STAND_INS.get(kind, f"({stack}.{output})")


@dataclass
class GraphPreviewer:
    """Runs base and head programs, at most `parallel` child processes at a time."""

    head: RepoSnapshot
    head_root: Path
    base: BaseTree | None
    parallel: int = 2
    timeout: float = 300.0

    def preview(self, deployment_id: str, environment: str, stacks: list[str]) -> dict[str, dict]:
        """`{stack: record}` for `stacks` of one deployment environment (see `record`)."""
        deployment = self.head.deployments[deployment_id]
        view = environment_view(deployment, self.head.catalog, environment)
        base_view = self._base_view(deployment_id, environment)
        jobs: list[tuple[str, ProgramRequest | None, ProgramRequest]] = []
        for name in stacks:
            instance = view.instances[name]
            head_request = self._typed_request(instance, view, self.head, self.head_root)
            before = base_view.instances.get(name) if base_view else None
            base_request = (
                self._typed_request(before, base_view, self.base.snapshot, self.base.root)
                if before is not None and base_view is not None and self.base is not None
                else None
            )
            jobs.append((name, base_request, head_request))
        with ThreadPoolExecutor(max_workers=max(1, self.parallel)) as pool:
            results = list(pool.map(lambda job: self._compare(job[1], job[2]), jobs))
        return {name: result for (name, _, _), result in zip(jobs, results, strict=True)}

    def _base_view(self, deployment_id: str, environment: str) -> Any:
        if self.base is None:
            return None
        before = self.base.snapshot.deployments.get(deployment_id)
        if before is None or environment not in before.manifest.environments:
            return None
        if before.manifest.template not in self.base.snapshot.catalog.templates:
            return None
        return environment_view(before, self.base.snapshot.catalog, environment)

    def _typed_request(
        self, instance: Instance, view: Any, snapshot: RepoSnapshot, root: Path
    ) -> ProgramRequest:
        outputs: dict[str, dict[str, Any]] = {}
        for stack, output in consumed_outputs(instance):
            definition = snapshot.catalog.stacks.get(stack)
            declared = definition.outputs.get(output) if definition else None
            kind = getattr(declared, "type", "string")
            outputs.setdefault(stack, {})[output] = stand_in(stack, output, str(kind))
        resolved = resolve_runtime_config(instance, outputs, {})
        spec = stack_spec(
            view.deployment,
            instance.stack,
            view.environment,
            repo_root=root,
            config=resolved.values,
            secret_keys=resolved.secret_keys,
        )
        return program_request(spec, preview=True)

    def _compare(self, base: ProgramRequest | None, head: ProgramRequest) -> dict[str, Any]:
        try:
            after = self._graph(head, "head")
            before = self._graph(base, "base") if base is not None else []
        except _ProgramFailed as failure:
            return record(status="failed", error=str(failure))
        changes = diff_graphs(before, after)
        return record(status="previewed", changes=changes)

    def _graph(self, request: ProgramRequest, side: str) -> list[dict[str, Any]]:
        try:
            result = run_program(request, timeout=self.timeout)
        except ProgramRunError as error:
            raise _ProgramFailed(f"the program at {side}: {error}") from None
        if result.error:
            raise _ProgramFailed(f"the program at {side} failed: {result.error}")
        return [
            {"urn": r.urn, "type": r.type, "name": r.name, "inputs": r.inputs}
            for r in result.resources
        ]


class _ProgramFailed(RuntimeError):
    pass


def record(
    *,
    status: str,
    changes: list[Mapping[str, Any]] | None = None,
    error: str | None = None,
    reason: str | None = None,
    source: str = SOURCE,
) -> dict[str, Any]:
    """A stack's preview as the plan document keeps it (`previews.<key>.stacks[]`)."""
    shown = [dict(change) for change in changes or [] if change.get("kind") != "same"]
    result: dict[str, Any] = {"source": source, "status": status}
    if changes is not None:
        result["counts"] = count_changes(changes)
        result["changes"] = shown
    if error:
        result["error"] = error
    if reason:
        result["reason"] = reason
    return result


def temporary_base(
    git: GitRepo, commit: str, deployment_ids: Iterable[str]
) -> tuple[tempfile.TemporaryDirectory[str], BaseTree]:
    """The base tree in a temporary folder (clean it up when done); `GitError` if git
    cannot read the commit."""
    folder = tempfile.TemporaryDirectory(prefix="cloud-base-")
    try:
        return folder, open_base(git, commit, deployment_ids, Path(folder.name))
    except BaseException:
        folder.cleanup()
        raise
