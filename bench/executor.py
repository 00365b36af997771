"""Benchmark: the local executor's schedule.

The default template (D1BRV40, 16 stacks) with an engine whose stacks take their
estimatedDuration scaled down (default 1 s -> 1 ms). Prints wall time over the critical
path (target <= 1.10), the speed-up over running the stacks one by one, and what a
layer-by-layer schedule (one barrier per layer) would take. (`cloud plan` on the
500-deployment repo is bench/planning.py's.)

    python bench/executor.py [--scale 0.001] [--parallel 16]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from controller.adapters.local_repo import LocalRepo  # noqa: E402
from controller.core.catalog import load_snapshot  # noqa: E402
from controller.core.graph import critical_path_seconds, layers  # noqa: E402
from controller.engines.base import (  # noqa: E402
    OperationResult,
    StackSpec,
    empty_counts,
    ignore_events,
)
from controller.execution.executor import Executor, RunSettings  # noqa: E402
from controller.execution.preparation import prepare_deploy  # noqa: E402

SAMPLES = {
    "string": "x",
    "integer": 1,
    "number": 1.0,
    "boolean": True,
    "array": ["a"],
    "object": {},
}


class SleepingEngine:
    """Each `up` sleeps the stack's estimated duration times the scale; outputs are placeholders."""

    name = "bench"
    simulated = True

    def __init__(self, catalog: Any, scale: float) -> None:
        self.catalog = catalog
        self.scale = scale
        self.deployed: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()

    def up(self, spec: StackSpec, *, record: Any, on_event: Any = ignore_events) -> Any:
        definition = self.catalog.stacks[spec.stack]
        time.sleep(definition.estimated_duration * self.scale)
        outputs = {name: SAMPLES[o.type] for name, o in definition.outputs.items()}
        with self.lock:
            self.deployed[spec.stack_name] = outputs
        return OperationResult("up", empty_counts() | {"create": 1}, outputs=outputs)

    def outputs(self, spec: StackSpec) -> tuple[dict[str, Any], frozenset[str]]:
        return dict(self.deployed.get(spec.stack_name, {})), frozenset()

    def exists(self, spec: StackSpec) -> bool:
        return spec.stack_name in self.deployed

    def record(self, spec: StackSpec) -> None:
        return None

    def pending_operations(self, spec: StackSpec) -> list[dict[str, Any]]:
        return []  # nothing is ever interrupted here: no stack needs repair

    def list_instances(self, deployment_id: str, environment: str) -> list[str]:
        return []


def bench_executor(scale: float, parallel: int) -> None:
    repo = LocalRepo(REPO)
    snapshot = load_snapshot(repo.catalog_files())
    deployment = snapshot.deployments["D1BRV40"]
    engine = SleepingEngine(snapshot.catalog, scale)
    job = prepare_deploy(
        snapshot.catalog,
        deployment,
        "dev",
        engine=engine,  # type: ignore
        file_ids=repo.stack_file_ids(),
        repo_root=REPO,
    )
    graph = job.plan.graph
    durations = {n: graph.nodes[n]["definition"].estimated_duration for n in graph.nodes}
    critical = critical_path_seconds(graph) * scale
    sequential = sum(durations.values()) * scale
    barrier = sum(max(durations[n] for n in layer) for layer in layers(graph)) * scale
    executor = Executor(
        engine,
        repo_root=REPO,  # type: ignore[arg-type]
        settings=RunSettings(operation_id="op-bench", parallel=parallel),
    )
    started = time.perf_counter()
    report = executor.deploy(job)
    wall = time.perf_counter() - started
    assert report.status == "success", report.to_dict()
    print(
        f"executor, default template ({graph.number_of_nodes()} stacks, "
        f"parallel={parallel}, 1 s = {scale * 1000:g} ms):"
    )
    print(
        f"  wall {wall:.3f} s, critical path {critical:.3f} s -> wall/critical = "
        f"{wall / critical:.3f} (target <= 1.10)"
    )
    print(f"  one by one {sequential:.3f} s -> speed-up {sequential / wall:.2f}x")
    print(
        f"  a layer-by-layer schedule would take {barrier:.3f} s "
        f"({barrier / critical:.2f}x the critical path)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale", type=float, default=0.001, help="seconds of wall time per estimated second"
    )
    parser.add_argument("--parallel", type=int, default=16)
    args = parser.parse_args()
    bench_executor(args.scale, args.parallel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
