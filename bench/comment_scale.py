"""Benchmark: the pull-request plan comment and job summary at 500 deployments.

The synthetic repo of bench/validate_scale.py (500 deployments, dev/stage/prod, 16 stacks
each) in git; one commit changes the network program's tags, so network changes in all
1,500 deployment environments and everything downstream may run. The action's steps run
in this process as the plan workflow runs them (plan, summary, comment), each step with
its own `$GITHUB_STEP_SUMMARY` file as on GitHub, and GitHub's issue-comment API is the
recording fake of the tests (`responses` under PyGithub). The comment step runs twice, as
a second push would.

Prints: the comments posted (count, largest, total, after the second run), how many
environments the comments name, how many steps wrote the plan into the summary and
the largest step summary, and the time to render the comment as a ratio to `json.dumps`
of the same plan (a floor measured in the same run: this machine is noisy). GitHub's
limits: 65,536
characters per comment, 1 MiB per step summary; ours: at most 3 comments.

    python bench/comment_scale.py [--deployments 500] [--preview-limit 0]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import responses  # noqa: E402

import controller.action  # noqa: E402
from bench.validate_scale import generate  # noqa: E402
from controller.action.commands import run_action  # noqa: E402
from controller.adapters.github_api import make_github  # noqa: E402
from controller.core import comments  # noqa: E402
from tests.github_fake import FakeGitHub, pull_request_event  # noqa: E402

T = TypeVar("T")
COMMENT_LIMIT = 65_536
SUMMARY_LIMIT = 1024 * 1024
OLD_TAGS = '"Stack": STACK}'
NEW_TAGS = '"Stack": STACK, "Owner": "platform"}'


def git(root: Path, *args: str) -> str:
    completed = subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=bench", "-c", "user.email=b@example.com", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return completed.stdout.strip()


def make_repo(root: Path, count: int) -> tuple[str, str]:
    generate(root, count)
    (root / ".gitignore").write_text(".cloud/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-qm", "base")
    base = git(root, "rev-parse", "HEAD")
    program = root / "stacks/network/__main__.py"
    program.write_text(program.read_text().replace(OLD_TAGS, NEW_TAGS, 1))
    git(root, "commit", "-qam", "network: tag everything with its owner")
    return base, git(root, "rev-parse", "HEAD")


def unthrottled() -> None:
    """PyGithub's pauses between writes are GitHub's advice, not what is measured here."""

    def fast(token: str, *, base_url: str = "https://api.github.com", **_: object) -> object:
        return make_github(token, base_url=base_url, throttle=False)

    for name, module in list(sys.modules.items()):
        if name.startswith(controller.action.__name__) and hasattr(module, "make_github"):
            module.make_github = fast  # type: ignore[attr-defined]


def step(env: dict[str, str], command: str, summary: Path) -> int:
    return run_action(env | {"CLOUD_COMMAND": command, "GITHUB_STEP_SUMMARY": str(summary)})


def named_environments(body: str, environments: list[tuple[str, str]]) -> int:
    """Affected environments that a line of `body` names (deployment id and environment)."""
    lines = [line for line in body.splitlines() if line.startswith("|")]
    found = 0
    by_id: dict[str, list[str]] = {}
    for line in lines:
        for word in line.replace("`", " ").replace("/", " ").replace("|", " ").split():
            if word.startswith("D") and len(word) == 7:
                by_id.setdefault(word, []).append(line)
    for deployment, environment in environments:
        if any(
            f" {environment} " in f" {line.replace('`', ' ')} "
            for line in by_id.get(deployment, [])
        ):
            found += 1
    return found


def best_of(times: int, work: Callable[[], T]) -> tuple[float, T]:
    """The fastest of `times` runs (the least disturbed by a busy machine), and a result."""
    best, result = float("inf"), None
    for _ in range(times):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best, result  # type: ignore[return-value]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=500)
    parser.add_argument(
        "--preview-limit",
        type=int,
        default=0,
        help="instances to preview (simulated engine); 0 plans without previews",
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cloud-bench-comment-"))
    try:
        repo = root / "repo"
        repo.mkdir()
        base, head = make_repo(repo, args.deployments)
        work = root / "work"
        event = root / "event.json"
        event.write_text(json.dumps(pull_request_event(7, head=head, base=base)))
        env = {
            "CLOUD_ROOT": str(repo),
            "CLOUD_WORK_DIR": str(work),
            "CLOUD_BASE_REF": base,
            "CLOUD_ENGINE": "simulate",
            "CLOUD_PREVIEW": "true" if args.preview_limit else "false",
            "CLOUD_PREVIEW_LIMIT": str(args.preview_limit),
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_REPOSITORY": "acme/infra",
            "GITHUB_RUN_ID": "4242",
            "GITHUB_SHA": head,
            "GITHUB_TOKEN": "bench-token",
            "GITHUB_OUTPUT": str(root / "github_output"),
        }
        started = time.perf_counter()
        summaries = [root / "summary-plan.md", root / "summary-summary.md"]
        assert step(env, "plan", summaries[0]) == 0, "the plan step failed"
        plan_seconds = time.perf_counter() - started
        document = json.loads((work / "plan.json").read_text())
        affected = [
            (e["deploymentId"], e["environment"])
            for e in document["environments"]
            if any(x["status"] in ("new", "changed") for x in e["entries"]) or e.get("removals")
        ]
        assert step(env, "summary", summaries[1]) == 0, "the summary step failed"

        render_seconds, rendered = best_of(
            3, lambda: comments.render_comment(document, run_url="https://github.com/run")
        )
        floor_seconds, _ = best_of(3, lambda: json.dumps(document))

        unthrottled()
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            fake = FakeGitHub(mock)
            assert step(env, "comment", root / "summary-comment.md") == 0, "comment failed"
            first = fake.bodies()
            assert step(env, "comment", root / "summary-comment.md") == 0, "comment failed"
            second = fake.bodies()

        sizes = [len(body) for body in first]
        # the steps whose summary holds the plan (the plan step may add its deploy-jobs table)
        written = [p for p in summaries if p.exists() and "cloud plan" in p.read_text()]
        largest_summary = max((p.stat().st_size for p in summaries if p.exists()), default=0)
        print(
            f"deployments: {args.deployments}, environments: {len(document['environments'])}, "
            f"affected environments: {len(affected)}; plan step {plan_seconds:.1f} s"
        )
        print(
            f"comments: {len(first)} (limit 3), after a second run: {len(second)}; largest "
            f"{max(sizes):,} chars (limit {COMMENT_LIMIT:,}), total {sum(sizes):,} chars"
        )
        print(
            f"overview: table rows of the comments name "
            f"{named_environments(chr(10).join(first), affected)} of {len(affected)} affected "
            f"environments (the first comment's {named_environments(first[0], affected)})"
        )
        print(
            f"job summary: the plan written by {len(written)} step(s); largest step summary "
            f"{largest_summary:,} bytes "
            f"(limit {SUMMARY_LIMIT:,}: {'ok' if largest_summary <= SUMMARY_LIMIT else 'OVER'})"
        )
        print(
            f"render: {render_seconds * 1000:.0f} ms for {len(rendered)} comment(s), "
            f"json.dumps of the plan {floor_seconds * 1000:.0f} ms (best of 3 each): "
            f"ratio {render_seconds / floor_seconds:.2f}"
        )
        return 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
