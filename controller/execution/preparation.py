"""Preparing operations: from a repo snapshot and an engine to a plan and a job.

The core plans from values; this module gathers them: the files' blob ids (for
fingerprints), each instance's record from the engine's backend (what was last
deployed), which stacks hold state (for removals), and what a destroy must touch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import networkx as nx

from controller.core.catalog import Catalog, Deployment
from controller.core.environments import EnvironmentView, environment_view
from controller.core.fingerprints import Fingerprint, fingerprint_view
from controller.core.graph import build_graph
from controller.core.legacy_fingerprints import LEGACY_FORMAT, legacy_fingerprint_view
from controller.core.planning import (
    Previous,
    consumed_outputs,
    plan_environment,
    select_stacks,
    unmet_inputs,
)
from controller.core.stack_files import StackFiles
from controller.engines.base import DeployRecord, Engine
from controller.execution.executor import DeployJob
from controller.execution.specs import stack_spec


def previous_from_records(records: Mapping[str, DeployRecord | None]) -> dict[str, Previous | None]:
    return {
        name: Previous(
            record.fingerprint,
            record.components,
            record.deployed_at or None,
            record.values,
            record.format,
        )
        if record
        else None
        for name, record in records.items()
    }


def read_records(
    engine: Engine,
    deployment: Deployment,
    environment: str,
    stacks: Iterable[str],
    *,
    repo_root: Path,
) -> dict[str, DeployRecord | None]:
    """Each stack's record of its last deploy, read from the backend (in parallel)."""
    names = list(stacks)

    def read(name: str) -> DeployRecord | None:
        return engine.record(stack_spec(deployment, name, environment, repo_root=repo_root))

    with ThreadPoolExecutor(max_workers=8) as pool:
        return dict(zip(names, pool.map(read, names), strict=True))


@dataclass(frozen=True)
class Selection:
    patterns: tuple[str, ...] = ()
    force: bool = False
    drifted: Mapping[str, str] | None = None  # stacks a refresh found drifted, and how
    # stacks whose state a refresh changed, `{stack: (when, what)}`: drifted unless they
    # were deployed after that
    refreshed: Mapping[str, tuple[str, str]] | None = None


def prepare_deploy(
    catalog: Catalog,
    deployment: Deployment,
    environment: str,
    *,
    engine: Engine,
    file_ids: StackFiles | Mapping[str, str],
    repo_root: Path,
    selection: Selection = Selection(),
    deployed: Iterable[str] | None = None,
    require_inputs: bool = True,
) -> DeployJob:
    """Plan a deploy against what the engine's backend says was last deployed.
    `SelectionError` if the selection's patterns match none of the enabled stacks;
    `UnmetInputsError` (with `require_inputs`, i.e. not for a preview) if a selected stack
    consumes an output of an upstream the selection leaves out that was never deployed.
    `deployed` (the stacks holding state here) is asked of the engine unless given."""
    view = environment_view(deployment, catalog, environment)
    selected = select_stacks(view.instances, selection.patterns)
    if selected is not None and not selected:
        raise SelectionError(
            f"--stacks {','.join(selection.patterns)} matches no stack of "
            f"{deployment.deployment_id} in {environment} ({', '.join(sorted(view.instances))})"
        )
    file_ids = StackFiles.of(file_ids)
    fingerprints = fingerprint_view(view, file_ids)
    if deployed is None:
        deployed = engine.list_instances(deployment.deployment_id, environment)
    if selected is not None and require_inputs:
        check_inputs(view, selected, set(deployed), engine=engine, repo_root=repo_root)
    records = read_records(engine, deployment, environment, view.instances, repo_root=repo_root)
    drifted = dict(selection.drifted or {})
    for name, (when, what) in (selection.refreshed or {}).items():
        record = records.get(name)
        if name not in drifted and (record is None or (record.deployed_at or "") < when):
            drifted[name] = f"{what} (the state was refreshed at {when})"
    plan = plan_environment(
        view,
        fingerprints,
        previous_from_records(records),
        deployed=deployed,
        selected=selected,
        force=selection.force,
        drifted=drifted,
        legacy=legacy_fingerprints(view, records, file_ids),
    )
    return DeployJob(view, plan, fingerprints, records)


def legacy_fingerprints(
    view: EnvironmentView, records: Mapping[str, DeployRecord | None], files: StackFiles
) -> dict[str, Fingerprint] | None:
    """Format 1 fingerprints of the stacks whose record is format 1 (None if there are none)."""
    old = {name for name, record in records.items() if record and record.format == LEGACY_FORMAT}
    return legacy_fingerprint_view(view, files.legacy_ids(), old) if old else None


def stacks_graph(catalog: Catalog, view: EnvironmentView, names: Iterable[str]) -> nx.DiGraph:
    """`names` with their dependency edges (u deployed before v): the environment's own
    edges, and the catalog's for stacks that left the deployment."""
    graph = nx.DiGraph()
    for name in names:
        definition = catalog.stacks.get(name)
        graph.add_node(name, **({"definition": definition} if definition else {}))
    full = build_graph(view)
    graph.add_edges_from((u, v) for u, v in full.edges if u in graph and v in graph)
    for name in graph.nodes:
        definition = catalog.stacks.get(name)
        for upstream in definition.dependencies if definition else ():
            if upstream in graph:
                graph.add_edge(upstream, name)
    return graph


def refresh_graph(
    catalog: Catalog,
    deployment: Deployment,
    environment: str,
    *,
    engine: Engine,
    patterns: Iterable[str] = (),
) -> nx.DiGraph:
    """The deployed stacks of an environment (those matching `patterns`), in dependency
    order: what a refresh reads. `SelectionError` if the patterns match none of them."""
    view = environment_view(deployment, catalog, environment)
    deployed = engine.list_instances(deployment.deployment_id, environment)
    graph = stacks_graph(catalog, view, deployed)
    chosen = select_stacks(graph.nodes, patterns)
    if chosen is None:
        return graph
    if not chosen:
        raise SelectionError(
            f"--stacks {','.join(patterns)} matches no deployed stack of "
            f"{deployment.deployment_id} in {environment} ({', '.join(sorted(graph)) or 'none'})"
        )
    return graph.subgraph(chosen).copy()


class SelectionError(ValueError):
    """A stack filter that matches nothing, or a destroy that would orphan dependents."""


class UnmetInputsError(SelectionError):
    """A filter that leaves out an upstream whose outputs a selected stack needs and that
    has none recorded: `missing` lists (stack, upstream, output)."""

    def __init__(self, missing: list[tuple[str, str, str]]) -> None:
        stack, upstream, output = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        super().__init__(
            f"{upstream} is not selected, but {stack} needs its output {output!r} "
            f"({{{{RUNTIME:{upstream}:{output}}}}}) and {upstream} has never been deployed "
            f"here{more}; select {upstream} too, or deploy it first"
        )
        self.missing = missing


def check_inputs(
    view: EnvironmentView,
    selected: set[str],
    deployed: set[str],
    *,
    engine: Engine,
    repo_root: Path,
) -> None:
    """`UnmetInputsError` unless every output the selected stacks consume from the stacks
    left out is recorded in the backend."""
    consumes = {name: consumed_outputs(view.instances[name]) for name in selected}
    needed = {up for pairs in consumes.values() for up, _ in pairs if up not in selected}
    available = {}
    for upstream in sorted(needed & deployed):
        spec = stack_spec(view.deployment, upstream, view.environment, repo_root=repo_root)
        available[upstream] = set(engine.outputs(spec)[0])
    missing = unmet_inputs(consumes, selected=selected, available=available)
    if missing:
        raise UnmetInputsError(missing)


def destroy_graph(
    catalog: Catalog,
    deployment: Deployment,
    environment: str,
    *,
    engine: Engine,
    patterns: Iterable[str] = (),
) -> nx.DiGraph:
    """The deployed stacks to destroy, with their dependency edges (u deployed before v).

    Stacks that hold state but left the deployment are included (their edges come from
    the catalog's definitions). With a filter, destroying a stack whose deployed
    dependents are not destroyed too is refused: it would break them.
    """
    view = environment_view(deployment, catalog, environment)
    deployed = set(engine.list_instances(deployment.deployment_id, environment))
    graph = stacks_graph(catalog, view, deployed | set(view.instances))
    chosen = select_stacks(graph.nodes, patterns)
    if chosen is None:
        return graph
    if not chosen:
        raise SelectionError(
            f"--stacks matches no stack of {deployment.deployment_id} "
            f"({', '.join(sorted(graph.nodes))})"
        )
    orphaned = {
        (name, dependent)
        for name in chosen
        for dependent in nx.descendants(graph, name)
        if dependent not in chosen and dependent in deployed
    }
    if orphaned:
        pairs = ", ".join(
            f"{dependent} (depends on {name})" for name, dependent in sorted(orphaned)
        )
        raise SelectionError(
            f"destroying would break deployed dependents: {pairs}; destroy "
            "them first or include them in --stacks"
        )
    return graph.subgraph(chosen).copy()
