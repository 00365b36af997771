"""Benchmark: the deploy workflow's jobs at 500 deployments, its plan job, its install step.

1. Jobs per run. The 500-deployment repo of bench/validate_scale.py in a git repo; the
   action's plan step runs as the plan job does (a fresh `cloud action plan` process,
   outputs to a real $GITHUB_OUTPUT) for (a) a change to stacks/network/__main__.py,
   (b) a tag change in every deployment, (c) a tag change in one deployment. Prints the
   environment jobs the run needs and, as the baseline measured in the same run, what the
   previous shape needed (one job per runnable stack instance, in layer matrices GitHub
   refuses past 256 entries), and the largest matrix and output.
2. Plan job wall time: the plan step's process, as a ratio to `cloud validate` on the
   same repo in the same run (its floor: reading and checking every file).
3. Install step: a fresh venv from stacks/requirements.lock (--require-hashes) and the
   controller with no cache, then what a job does on a warm cache (the cached venv
   restored from a tarball, the controller reinstalled without dependencies), as a ratio.

    python bench/github_jobs.py [--deployments 500] [--skip-install]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.validate_scale import generate  # noqa: E402
from controller.action.context import parse_outputs  # noqa: E402

MAX_MATRIX = 256


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=bench", "-c", "user.email=b@example.com", *args],
        check=True,
        capture_output=True,
    )


def read_outputs(path: Path) -> dict[str, str]:
    return parse_outputs(path.read_text()) if path.exists() else {}


def plan_step(root: Path, work: Path) -> tuple[float, dict[str, str], dict[str, Any]]:
    """The plan job's `cloud action plan`, against the previous commit."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = {
        **os.environ,
        "CLOUD_COMMAND": "plan",
        "CLOUD_ROOT": str(root),
        "CLOUD_BASE_REF": "HEAD~1",
        "CLOUD_ENGINE": "simulate",
        "RUNNER_TEMP": str(work),
        "GITHUB_OUTPUT": str(work / "output"),
        "GITHUB_STEP_SUMMARY": str(work / "summary"),
    }
    cloud = Path(sys.executable).with_name("cloud")
    started = time.perf_counter()
    completed = subprocess.run(
        [str(cloud), "action"], env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        print(completed.stdout[-4000:], completed.stderr[-4000:], file=sys.stderr)
        raise SystemExit(1)
    plan = json.loads((work / "cloud" / "plan.json").read_text())
    return seconds, read_outputs(work / "output"), plan


def change(root: Path, edits: list[tuple[Path, str, str]], message: str) -> None:
    for path, old, new in edits:
        text = path.read_text()
        assert old in text, (path, old)
        path.write_text(text.replace(old, new, 1))
    git(root, "commit", "-qam", message)


def scenario(name: str, root: Path, work: Path) -> float:
    seconds, outputs, plan = plan_step(root, work)
    waves = {
        k: json.loads(v) for k, v in outputs.items() if k.startswith("wave-") and k[5:].isdigit()
    }
    jobs = sum(len(entries) for entries in waves.values())
    environments = sum(len(e["environments"].split(",")) for es in waves.values() for e in es)
    largest = max((len(entries) for entries in waves.values()), default=0)
    before = plan["matrix"]  # the previous shape: one job per runnable stack per layer
    before_jobs = sum(len(items) for items in before.values())
    before_largest = max((len(items) for items in before.values()), default=0)
    refused = sum(len(items) > MAX_MATRIX for items in before.values())
    output_bytes = sum(len(k) + len(v.encode()) for k, v in outputs.items())
    print(f"{name}:")
    print(
        f"  jobs: {jobs} environment jobs (+1 plan) for {environments} environments with "
        f"work; largest matrix {largest} (limit {MAX_MATRIX}); outputs {output_bytes:,} bytes"
    )
    print(
        f"  before (one job per stack instance): {before_jobs:,} jobs, largest matrix "
        f"{before_largest:,}, {refused} of {len(before)} layer matrices over {MAX_MATRIX} "
        f"-> {before_jobs / max(jobs, 1):.0f}x the jobs"
    )
    print(f"  plan step: {seconds:.2f} s")
    return seconds


def validate_seconds(root: Path) -> float:
    cloud = Path(sys.executable).with_name("cloud")
    started = time.perf_counter()
    subprocess.run([str(cloud), "--root", str(root), "validate"], capture_output=True, check=True)
    return time.perf_counter() - started


def bench_jobs(count: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="cloud-bench-jobs-"))
    work = root.parent / (root.name + "-work")
    try:
        generate(root, count)
        git(root, "init", "-q", "-b", "main")
        git(root, "add", ".")
        git(root, "commit", "-qm", "base")
        floor = validate_seconds(root)
        manifests = sorted((root / "deployments").glob("*/manifest.yaml"))
        # a change of meaning (a docstring or a comment is not one: issue 12's fingerprints)
        program = root / "stacks/network/__main__.py"
        change(root, [(program, "import ipaddress\n", "import ipaddress\nimport os\n")], "network")
        network = scenario(
            f"(a) stacks/network/__main__.py changed, {count} deployments", root, work
        )
        git(root, "reset", "-q", "--hard", "HEAD~1")
        change(root, [(m, "CostCenter: CC-", "CostCenter: CX-") for m in manifests], "tags")
        scenario(f"(b) a tag changed in all {count} deployments", root, work)
        git(root, "reset", "-q", "--hard", "HEAD~1")
        change(root, [(manifests[0], "CostCenter: CC-", "CostCenter: CX-")], "one tag")
        scenario("(c) a tag changed in one deployment", root, work)
        print(
            f"plan job wall time, network change: {network:.2f} s = "
            f"{network / floor:.2f}x `cloud validate` of the same repo ({floor:.2f} s)"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def bench_install() -> None:
    """Cold install against the warm-cache path the composite action takes."""
    scratch = Path(tempfile.mkdtemp(prefix="cloud-bench-install-"))
    try:
        venv = scratch / "venv"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "-q", "--disable-pip-version-check"]
        subprocess.run(
            [
                *pip,
                "install",
                "--no-cache-dir",
                "--require-hashes",
                "-r",
                str(REPO / "stacks/requirements.lock"),
            ],
            check=True,
        )
        subprocess.run([*pip, "install", "--no-cache-dir", str(REPO)], check=True)
        cold = time.perf_counter() - started
        archive = scratch / "venv.tar"
        with tarfile.open(archive, "w") as bundle:  # what actions/cache saves
            bundle.add(venv, arcname="venv")
        shutil.rmtree(venv)
        started = time.perf_counter()
        with tarfile.open(archive) as bundle:  # what actions/cache restores
            bundle.extractall(scratch, filter="tar")
        subprocess.run([*pip, "install", "--no-deps", "--force-reinstall", str(REPO)], check=True)
        warm = time.perf_counter() - started
        size = archive.stat().st_size / 1e6
        print(
            f"install step: cold (no cache) {cold:.1f} s; warm cache (venv restored, "
            f"{size:.0f} MB, controller reinstalled) {warm:.1f} s -> {cold / warm:.1f}x faster"
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=500)
    parser.add_argument("--skip-install", action="store_true")
    args = parser.parse_args()
    bench_jobs(args.deployments)
    if not args.skip_install:
        bench_install()
    return 0


if __name__ == "__main__":
    sys.exit(main())
