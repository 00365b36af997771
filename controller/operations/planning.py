"""What an operation will do, as the API announces it in its 202: the stacks it runs, in
which layer and for how long, and the stacks it skips and why.

The deploy plan is the engine issue's planner (`prepare_deploy`: fingerprints against
the records of the last deploys); a destroy is every deployed stack in reverse order. A
purely computational module over the plan and the graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from controller.core.planning import RUNNABLE, EnvironmentPlan


@dataclass(frozen=True)
class Announced:
    """The stacks an operation runs and skips, and its estimated duration (seconds)."""

    run: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    estimated_duration: int
    planned: list[dict[str, Any]] = field(default_factory=list)  # every stack, plan order


def announce_deploy(plan: EnvironmentPlan, *, smart_skip: bool) -> Announced:
    run: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    planned: list[dict[str, Any]] = []
    for entry in plan.entries:
        if entry.status == "excluded":
            continue
        reason = "; ".join(entry.reasons)
        planned.append(
            {
                "name": entry.stack,
                "layer": entry.layer,
                "estimatedDuration": entry.estimated_duration,
            }
        )
        if entry.status in RUNNABLE or not smart_skip:
            item: dict[str, Any] = {
                "name": entry.stack,
                "layer": entry.layer,
                "status": "pending",
                "estimatedDuration": entry.estimated_duration,
                "reason": reason if smart_skip else "smart skip off: every stack runs",
            }
            if entry.status == "pending-upstream" and smart_skip:
                item["conditional"] = True  # runs only if an output it consumes changes
            run.append(item)
        else:
            skipped.append(
                {
                    "name": entry.stack,
                    "layer": entry.layer,
                    "reason": reason or "No configuration changes detected",
                    "lastDeployed": entry.last_deployed_at,
                }
            )
    durations = {item["name"]: item["estimatedDuration"] for item in run}
    return Announced(run, skipped, longest_chain(plan.graph, durations), planned)


def announce_destroy(
    graph: nx.DiGraph, *, deployed: Iterable[str], durations: Mapping[str, int]
) -> Announced:
    """`graph` as `destroy_graph` gives it (u -> v: u deployed before v)."""
    present = set(deployed)
    reverse = graph.reverse(copy=True)
    run: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    planned: list[dict[str, Any]] = []
    for layer, names in enumerate(nx.topological_generations(reverse), 1):
        for name in sorted(names):
            estimate = int(durations.get(name, 0))
            planned.append({"name": name, "layer": layer, "estimatedDuration": estimate})
            if name in present:
                run.append(
                    {
                        "name": name,
                        "layer": layer,
                        "status": "pending",
                        "estimatedDuration": estimate,
                    }
                )
            else:
                skipped.append({"name": name, "layer": layer, "reason": "nothing deployed"})
    chosen = {item["name"]: item["estimatedDuration"] for item in run}
    return Announced(run, skipped, longest_chain(reverse, chosen), planned)


def longest_chain(graph: nx.DiGraph, durations: Mapping[str, int]) -> int:
    """The longest chain of estimated durations through the stacks that run (a stack that
    does not run adds nothing but still orders the others)."""
    finish: dict[str, int] = {}
    for name in nx.topological_sort(graph):
        start = max((finish[up] for up in graph.predecessors(name)), default=0)
        finish[name] = start + int(durations.get(name, 0))
    return max(finish.values(), default=0)
