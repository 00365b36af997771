"""Benchmark: `cloud plan --base` on the 500-deployment repo, against its floor.

The floor is what no plan can avoid: starting Python (`python -c pass`, the same
interpreter) plus reading and hashing every tracked file (git's blob id of each file of
`git ls-files`, in process). Both are measured in the same run as the plans, interleaved
with them, and each figure is the median of `--runs` runs (the machine is noisy; absolute
times are not comparable between runs, ratios are). Prints:

1. `cloud plan --base HEAD` with one stack program changed (a real change, not a comment:
   1,500 instances change, 24,000 are listed): ratio to the floor, target <= 5;
2. `cloud plan --base HEAD` with nothing changed: ratio to the floor, target <= 2;

Python runs as a user's does: with its bytecode cache (PYTHONDONTWRITEBYTECODE is
dropped for the runs). And, for information, the first run of each (the plan index of
`.cloud/cache/` is built by the very first, and the changed program is parsed by the
first after the change), the same plans with `--format json`, and a run with every
cache off. `--command` runs another build of cloud (a checkout of an older commit, run as
`python -m controller.cli.main` from its folder) to compare before and after.

    python bench/planning.py [--deployments 500] [--runs 7] [--command "..."]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.validate_scale import generate  # noqa: E402

CLOUD = Path(sys.executable).with_name("cloud")


@dataclass
class Sample:
    wall: float
    cpu: float  # user + system, of this process and of the children it waited for


def timed(run: Callable[[], object]) -> Sample:
    def cpu() -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    started, used = time.perf_counter(), cpu()
    run()
    return Sample(time.perf_counter() - started, cpu() - used)


def median(samples: list[Sample]) -> Sample:
    return Sample(
        statistics.median(s.wall for s in samples), statistics.median(s.cpu for s in samples)
    )


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=bench", "-c", "user.email=b@example.com", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


# As a user runs it: Python keeps the modules' bytecode (some sandboxes turn that off, and
# then every run compiles the controller from source).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


COMMAND = [str(CLOUD)]


def plan(root: Path, *extra: str, env: dict[str, str] | None = None) -> str:
    completed = subprocess.run(
        [*COMMAND, "--root", str(root), "plan", "--base", "HEAD", *extra],
        capture_output=True,
        text=True,
        check=False,
        env=env or ENV,
    )
    if completed.returncode != 0:
        print(completed.stderr, file=sys.stderr)
        raise SystemExit(1)
    return completed.stdout


def start_python() -> None:
    subprocess.run([sys.executable, "-c", "pass"], check=True, env=ENV)


def hash_tracked(root: Path, paths: list[str]) -> None:
    for path in paths:
        data = (root / path).read_bytes()
        hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def measure(root: Path, paths: list[str], runs: int) -> tuple[Sample, Sample, Sample]:
    """Medians of: the plan, starting Python, hashing every tracked file (interleaved)."""
    plans, starts, hashes = [], [], []
    for _ in range(runs):
        plans.append(timed(lambda: plan(root)))
        starts.append(timed(start_python))
        hashes.append(timed(lambda: hash_tracked(root, paths)))
    return median(plans), median(starts), median(hashes)


def report(label: str, seconds: Sample, start: Sample, hashing: Sample, target: float) -> float:
    """Print the ratio of wall times (the target's) and, for a busy machine, of CPU times."""
    floor = start.wall + hashing.wall
    ratio = seconds.wall / floor
    cpu_ratio = seconds.cpu / (start.cpu + hashing.cpu)
    verdict = "ok" if ratio <= target else "over target"
    print(
        f"{label}: {seconds.wall * 1000:.0f} ms; floor {floor * 1000:.0f} ms (Python start "
        f"{start.wall * 1000:.0f} ms + reading and hashing {hashing.wall * 1000:.0f} ms) -> "
        f"{ratio:.2f}x the floor (target <= {target:g}: {verdict}); in CPU time "
        f"{seconds.cpu * 1000:.0f} ms / {(start.cpu + hashing.cpu) * 1000:.0f} ms = "
        f"{cpu_ratio:.2f}x"
    )
    return ratio


def check(document: dict, *, changed: int, environments: int) -> None:
    found = sum(
        entry["status"] == "changed" for env in document["environments"] for entry in env["entries"]
    )
    assert len(document["environments"]) == environments, len(document["environments"])
    assert found == changed, f"{found} instances changed, expected {changed}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=500)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--command", help="how to run cloud (default: this venv's cloud)")
    args = parser.parse_args()
    if args.command:
        COMMAND[:] = shlex.split(args.command)
    root = Path(tempfile.mkdtemp(prefix="cloud-bench-planning-"))
    try:
        generate(root, args.deployments)
        (root / ".gitignore").write_text(".cloud/\n")
        git(root, "init", "-q")
        git(root, "add", ".")
        git(root, "commit", "-qm", "base")
        paths = git(root, "ls-files").split()
        environments = args.deployments * 3
        print(
            f"{args.deployments} deployments, {environments} environments, "
            f"{len(paths)} tracked files"
        )

        cold = timed(lambda: plan(root))
        check(json.loads(plan(root, "--format", "json")), changed=0, environments=environments)
        nothing, start, hashing = measure(root, paths, args.runs)
        nothing_json = median([timed(lambda: plan(root, "--format", "json")) for _ in range(3)])

        program = root / "stacks" / "network" / "__main__.py"
        program.write_text(program.read_text() + "\nTUNED = True\n")  # a comment is no change
        first = timed(lambda: plan(root))
        document = json.loads(plan(root, "--format", "json"))
        check(document, changed=environments, environments=environments)
        changed, start_2, hashing_2 = measure(root, paths, args.runs)
        changed_json = median([timed(lambda: plan(root, "--format", "json")) for _ in range(3)])
        uncached = timed(lambda: plan(root, env={**ENV, "CLOUD_CACHE": "off"}))

        print()
        one = report(
            "cloud plan --base HEAD, one stack program changed",
            changed,
            start_2,
            hashing_2,
            5,
        )
        none = report("cloud plan --base HEAD, nothing changed", nothing, start, hashing, 2)
        print()
        print("for information:")
        print(f"  very first plan (builds the plan index): {cold.wall * 1000:.0f} ms")
        print(f"  first plan after the program changed: {first.wall * 1000:.0f} ms")
        print(
            f"  --format json: nothing changed {nothing_json.wall * 1000:.0f} ms, one program "
            f"changed {changed_json.wall * 1000:.0f} ms (24,000 entries either way)"
        )
        print(
            f"  one program changed, every cache off (CLOUD_CACHE=off): "
            f"{uncached.wall * 1000:.0f} ms"
        )
        return 0 if one <= 5 and none <= 2 else 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
