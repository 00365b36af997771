"""Benchmark: validate and layer a synthetic repo of 500 deployments.

Each deployment uses the default template (16 stacks) with dev, stage and prod enabled, a
few config overrides and two manifest placeholders: 24,000 stack instances in all.
Prints the wall time of `cloud validate` as a user runs it (a fresh process: interpreter
start, imports, reading every file) and of the in-process work (parse + validate + layer
every deployment environment). Target (issue #2): under 5 s on a 2-core machine.

    python bench/validate_scale.py [--deployments 500] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from controller.adapters.local_repo import LocalRepo  # noqa: E402
from controller.core.catalog import load_snapshot  # noqa: E402
from controller.core.environments import environment_view  # noqa: E402
from controller.core.graph import build_graph, layers  # noqa: E402
from controller.core.scaffold import deployment_id_from  # noqa: E402
from controller.core.validation import validate_snapshot  # noqa: E402

MANIFEST = """\
version: "3.1"
deploymentId: {id}
organization: Org{n}
project: app{n}
domain: app{n}.example.com
template: default
region: us-east-1
accounts:
  dev: "{dev}"
  stage: "{stage}"
  prod: "{prod}"
environments:
  dev: {{enabled: true, region: us-east-1}}
  stage: {{enabled: true, region: us-east-1}}
  prod: {{enabled: true, region: us-west-2}}
stacks:
  network:
    config:
      vpcCidr: 10.{octet}.0.0/16
    environments:
      prod:
        config: {{availabilityZones: 3}}
  database-rds:
    config:
      instanceClass: db.t3.small
      allocatedStorage: {storage}
    environments:
      prod:
        config: {{multiAz: true}}
  authentication:
    config:
      callbackUrls: ["https://app.{{{{RUNTIME:dns:zoneName}}}}/callback"]
  services-api:
    config:
      corsAllowedOrigins: ["https://app.{{{{RUNTIME:dns:zoneName}}}}"]
  monitoring:
    config:
      alarmEmail: ops{n}@example.com
tags:
  CostCenter: CC-{n}
"""


def generate(root: Path, count: int) -> None:
    shutil.copytree(REPO / "stacks", root / "stacks", ignore=shutil.ignore_patterns("__pycache__"))
    for n in range(count):
        deployment_id = deployment_id_from(1_000_000 + n * 7919)
        folder = root / "deployments" / f"{deployment_id}-Org{n}-app{n}"
        folder.mkdir(parents=True)
        (folder / "manifest.yaml").write_text(
            MANIFEST.format(
                id=deployment_id,
                n=n,
                octet=n % 250,
                storage=20 + n % 500,
                dev=f"{100000000000 + n:012d}",
                stage=f"{200000000000 + n:012d}",
                prod=f"{300000000000 + n:012d}",
            )
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=500)
    parser.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="cloud-bench-"))
    try:
        if not (root / "deployments").exists():
            generate(root, args.deployments)
        cloud = Path(sys.executable).with_name("cloud")
        started = time.perf_counter()
        completed = subprocess.run(
            [str(cloud), "--root", str(root), "validate"],
            capture_output=True,
            text=True,
            check=False,
        )
        cli_seconds = time.perf_counter() - started
        if completed.returncode != 0:
            print(completed.stdout, completed.stderr, file=sys.stderr)
            return 1

        started = time.perf_counter()
        snapshot = load_snapshot(LocalRepo(root).catalog_files())
        loaded = time.perf_counter()
        problems = validate_snapshot(snapshot)
        validated = time.perf_counter()
        instances = graphs = 0
        for deployment in snapshot.deployments.values():
            for environment in deployment.manifest.environments:
                graph = build_graph(environment_view(deployment, snapshot.catalog, environment))
                layers(graph)
                graphs += 1
                instances += graph.number_of_nodes()
        layered = time.perf_counter()
        assert not problems, problems[:3]

        print(
            f"deployments: {len(snapshot.deployments)}, environments: {graphs}, "
            f"stack instances: {instances}"
        )
        print(f"cloud validate (fresh process, end to end): {cli_seconds:.2f} s")
        print(
            f"in-process: read+parse {loaded - started:.2f} s, validate "
            f"{validated - loaded:.2f} s, layer all {layered - validated:.2f} s, "
            f"total {layered - started:.2f} s"
        )
        print(
            f"validate + layering, end to end: {cli_seconds + layered - validated:.2f} s "
            "(target < 5 s)"
        )
        return 0
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
