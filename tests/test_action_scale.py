"""The 500-deployment repo of bench/validate_scale.py, planned by the action's plan step as
the deploy workflow runs it: every matrix within GitHub's 256 entries, every output far
under 1 MB, at most one job per deployment environment with work. Read from the step's
real `$GITHUB_OUTPUT`."""

from __future__ import annotations

import json

import pytest

from bench.validate_scale import generate
from controller.core.waves import MAX_MATRIX, MAX_OUTPUT_BYTES, MAX_WAVES
from tests.action_harness import run_action
from tests.conftest import git

DEPLOYMENTS = 500


@pytest.fixture(scope="module")
def big_repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale") / "repo"
    generate(root, DEPLOYMENTS)
    (root / ".gitignore").write_text(".cloud/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-qm", "base")
    return root


def plan_change(repo, work, path, old, new):
    file = repo / path
    text = file.read_text()
    assert old in text
    file.write_text(text.replace(old, new, 1))
    git(repo, "commit", "-qam", f"change {path}")
    try:
        return run_action(repo, work, command="plan", base_ref="HEAD~1", install_pulumi="false")
    finally:
        git(repo, "reset", "-q", "--hard", "HEAD~1")


def check_limits(run):
    assert run.code == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert sum(len(k) + len(v.encode()) for k, v in run.outputs.items()) < MAX_OUTPUT_BYTES
    waves = {n: json.loads(run.outputs[f"wave-{n}"]) for n in range(1, MAX_WAVES + 1)}
    assert all(len(entries) <= MAX_MATRIX for entries in waves.values())
    assert len(json.loads(run.outputs["removals"])) <= MAX_MATRIX
    environments = [
        e
        for entries in waves.values()
        for entry in entries
        for e in entry["environments"].split(",")
    ]
    assert len(environments) == len(set(environments))  # each environment in one job
    return waves, environments


def test_a_network_program_change_packs_1500_environments_into_waves_of_at_most_256_jobs(
    big_repo, tmp_path
):
    run = plan_change(
        big_repo,
        tmp_path,
        "stacks/network/__main__.py",
        "import ipaddress\n",
        "import ipaddress\nimport os\n",
    )  # a real change: a docstring edit is none
    waves, environments = check_limits(run)
    assert len(environments) == DEPLOYMENTS * 3  # every deployment environment has work
    jobs = sum(len(entries) for entries in waves.values())
    assert jobs <= len(environments)
    # 500 deployments x dev, stage, prod: three waves of 500 environments, each packed
    assert [len(waves[n]) for n in (1, 2, 3)] == [250, 250, 250] and waves[4] == []
    first = waves[1][0]
    assert (
        first["githubEnvironment"] == "cloud-shard-dev"
        and len(first["environments"].split(",")) == 2
    )
    prod = waves[3][0]
    assert prod["protected"] and prod["githubEnvironment"] == "cloud-shard-prod"
    assert all(entry["after"].count("=") == 2 for entry in waves[3])  # each waits for stage
    assert "750 environment job(s) for 1500 deployment environment(s)" in run.summary


def test_a_tag_change_in_one_deployment_is_three_jobs(big_repo, tmp_path):
    manifest = next((big_repo / "deployments").glob("*-Org7-app7/manifest.yaml"))
    path = manifest.relative_to(big_repo).as_posix()
    run = plan_change(big_repo, tmp_path, path, "CostCenter: CC-7", "CostCenter: CC-77")
    waves, environments = check_limits(run)
    deployment = manifest.parent.name.split("-")[0]
    assert environments == [f"{deployment}/dev", f"{deployment}/stage", f"{deployment}/prod"]
    assert [len(waves[n]) for n in range(1, MAX_WAVES + 1)] == [1, 1, 1, 0]
    assert waves[3][0]["name"] == f"{deployment} / prod"
    assert waves[3][0]["githubEnvironment"] == f"{deployment}-prod"
