"""The benchmarks still run, on a tiny scale, and measure what they say they measure.

No figure is asserted here (timing belongs in the benchmarks): these fail when a
benchmark breaks, e.g. when its stand-in engine falls behind the Engine protocol, or when
it stops checking its own work (every event delivered, every instance planned).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def bench(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "bench" / script), *args],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
        check=False,
    )


def test_executor_bench_runs_the_default_template():
    run = bench("executor.py", "--scale", "0.0001")
    assert run.returncode == 0, run.stderr
    assert re.search(r"wall/critical = \d+\.\d+", run.stdout), run.stdout


def test_planning_bench_prints_both_ratios_and_checks_the_plans_it_times():
    # the exit code also carries the targets; what must hold here is that it measured
    # (it asserts itself that the changed program changed every environment's network)
    run = bench("planning.py", "--deployments", "3", "--runs", "1")
    assert "Traceback" not in run.stderr, run.stderr
    assert "3 deployments, 9 environments" in run.stdout, run.stdout
    ratios = re.findall(r"-> (\d+\.\d+)x the floor", run.stdout)
    assert len(ratios) == 2, run.stdout


def test_validate_scale_bench_validates_and_layers_a_generated_repo():
    run = bench("validate_scale.py", "--deployments", "3")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "deployments: 3, environments: 9, stack instances: 144" in run.stdout, run.stdout


def test_realtime_bench_delivers_every_event_to_every_subscriber():
    run = bench(
        "realtime.py", "--subscribers", "5", "--events", "10", "--rate", "100", "--drain", "1"
    )
    # the exit code also carries the timing target; what must hold here is the delivery
    assert "deliveries: 50 of 50   lost: 0" in run.stdout, run.stdout + run.stderr


def test_logs_bench_answers_every_filter():
    run = bench("logs.py", "--events", "3000")
    assert run.returncode == 0, run.stderr
    assert "3,000 events stored" in run.stdout, run.stdout
    answers = re.findall(r"([\d,]+) matched, (\d+) returned", run.stdout)
    assert len(answers) == 8, run.stdout
    matched = [int(m.replace(",", "")) for m, _ in answers]
    assert matched[0] == 3000 and all(0 < m < 3000 for m in matched[1:]), run.stdout
    assert all(int(r) == min(100, m) for m, (_, r) in zip(matched, answers, strict=True))


def test_realtime_bench_delivers_across_two_replicas_on_postgresql(postgres_server):
    database = postgres_server.create_database()
    try:
        run = bench(
            "realtime.py", "--subscribers", "5", "--events", "10", "--rate", "100",
            "--drain", "2", "--replicas", "2", "--database-url", database,
        )  # fmt: skip
    finally:
        postgres_server.drop_database(database)
    assert "2 replicas on PostgreSQL" in run.stdout, run.stdout + run.stderr
    assert "deliveries: 50 of 50   lost: 0" in run.stdout, run.stdout + run.stderr


def test_api_bench_prints_cloud_against_bare_starlette_and_their_ratio():
    run = bench("api.py", "--stores", "sqlite", "--tool", "python", "--duration", "2",
                "--rounds", "2", "--connections", "4", "--paced-bare", "20")  # fmt: skip
    assert re.search(r"cloud serve +[\d,]+ req/s", run.stdout), run.stdout + run.stderr
    assert re.search(r"bare Starlette +[\d,]+ req/s", run.stdout), run.stdout
    assert re.search(r"ratio cloud/bare: \d\.\d\d", run.stdout), run.stdout
    assert re.search(r"bare \+20 us +[\d,]+ req/s", run.stdout), run.stdout  # the control
    assert run.stdout.count("non-2xx/errors 0") == 3, run.stdout
    if Path("/proc/stat").exists():  # what the host took meanwhile is printed beside
        assert re.search(r"\(steal\) during the load: \d+\.\d%", run.stdout), run.stdout


def test_api_bench_reads_the_hypervisors_share_from_two_cpu_readings():
    sys.path.insert(0, str(REPO / "bench"))
    try:
        from api import steal_share
    finally:
        sys.path.remove(str(REPO / "bench"))
    # user nice system idle iowait irq softirq steal
    before = [100, 0, 50, 800, 0, 0, 10, 40]
    after = [400, 0, 150, 1000, 0, 0, 10, 440]  # 1,000 ticks, 400 of them stolen
    assert steal_share(before, after) == 0.4
    assert steal_share(before, before) is None  # no time passed: nothing to tell
    assert steal_share(None, after) is None


def test_github_jobs_bench_counts_the_jobs_of_each_change():
    run = bench("github_jobs.py", "--deployments", "3", "--skip-install")
    assert run.returncode == 0, run.stdout + run.stderr
    # a network change: 9 environments with work; 3 deployments x 16 stacks before
    assert "9 environment jobs (+1 plan) for 9 environments with work" in run.stdout, run.stdout
    assert "before (one job per stack instance): 144 jobs" in run.stdout, run.stdout
    assert "3 environment jobs (+1 plan) for 3 environments with work" in run.stdout
    assert re.search(r"plan job wall time, network change: [\d.]+ s = [\d.]+x", run.stdout)


def test_comment_scale_bench_posts_and_counts_a_small_plan():
    run = bench("comment_scale.py", "--deployments", "3")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "comments: 1 (limit 3), after a second run: 1" in run.stdout, run.stdout
    assert "table rows of the comments name 9 of 9 affected environments" in run.stdout
    assert "job summary: the plan written by 1 step(s)" in run.stdout, run.stdout
