"""Previews a reviewer can trust: against the state where there is one, else the resource
graphs the programs register at base and head under Pulumi's mock runtime."""

from __future__ import annotations

import json
from pathlib import Path

from controller.adapters.git_repo import GitRepo
from controller.adapters.local_repo import LocalRepo
from controller.core.catalog import load_snapshot
from controller.engines.base import DeployRecord
from controller.engines.simulated import SimulatedEngine
from controller.execution.plans import plans_against_base
from controller.execution.previews import preview_pull_request
from controller.execution.specs import stack_spec
from tests.conftest import commit_change, git

D1 = "deployments/D1BRV40-CompanyA-ecommerce/manifest.yaml"
TAGS_OLD = '"Stack": STACK}'
TAGS_NEW = '"Stack": STACK, "Owner": "platform"}'


def planned_against(root: Path, base: str, environment: str | None):
    """D1BRV40's plans against `base`, as the plan step makes them (from the plan index)."""
    return plans_against_base(
        GitRepo(root),
        base,
        LocalRepo(root).tree(),
        root=root,
        deployment="D1BRV40",
        environment=environment,
    ).plans


def previews_of(root: Path, base: str, *, engine=None, limit=30, environment="dev"):
    chosen = engine or SimulatedEngine(state_dir=root / ".cloud/sim")
    local = LocalRepo(root)
    head = load_snapshot(local.catalog_files())
    plans = planned_against(root, base, environment)
    return preview_pull_request(
        plans,
        head,
        lambda deployment, environment: chosen,
        repo_root=root,
        file_ids=local.stack_file_ids(),
        base_commit=git(root, "rev-parse", base),
        limit=limit,
    )


def stacks(previews, key="D1BRV40/dev"):
    return {record["stack"]: record for record in previews[key]["stacks"]}


def test_without_state_a_changed_stack_is_compared_at_base_and_head(repo):
    commit_change(repo, "stacks/network/__main__.py", TAGS_OLD, TAGS_NEW)
    previewed = stacks(previews_of(repo, "HEAD~1"))
    assert set(previewed) == {"network"}  # what may run is not previewed
    network = previewed["network"]
    assert network["source"] == "graph" and network["status"] == "previewed"
    assert network["counts"]["create"] == network["counts"]["delete"] == 0
    assert network["counts"]["update"] == len(network["changes"]) > 5
    vpc = next(c for c in network["changes"] if c["type"] == "aws:ec2/vpc:Vpc")
    assert vpc["inputs"] == [{"path": "tags.Owner", "old": "(none)", "new": '"platform"'}]


def test_with_state_the_preview_is_against_the_state(repo):
    engine = SimulatedEngine(state_dir=repo / ".cloud/sim")
    snapshot = load_snapshot(LocalRepo(repo).catalog_files())
    spec = stack_spec(snapshot.deployments["D1BRV40"], "network", "dev", repo_root=repo)
    engine.up(spec, record=DeployRecord("f", {}))
    commit_change(repo, "stacks/network/__main__.py", TAGS_OLD, TAGS_NEW)
    network = stacks(previews_of(repo, "HEAD~1", engine=engine))["network"]
    assert network["source"] == "state" and network["status"] == "previewed"
    assert network["counts"]["create"] == 0 and network["counts"]["update"] > 5
    vpc = next(c for c in network["changes"] if c["type"] == "aws:ec2/vpc:Vpc")
    assert {"path": "tags.Owner", "old": "(none)", "new": '"platform"'} in vpc["inputs"]


def test_unknown_upstream_outputs_stand_in_alike_at_base_and_head(repo):
    commit_change(repo, "stacks/security/__main__.py", TAGS_OLD, TAGS_NEW)
    security = stacks(previews_of(repo, "HEAD~1"))["security"]
    assert security["status"] == "previewed", security
    paths = {i["path"] for c in security["changes"] for i in c["inputs"]}
    assert paths == {"tags.Owner"}  # vpcId, from network, is not a difference


def test_a_secret_config_change_shows_as_secret_and_its_value_nowhere(repo):
    commit_change(
        repo,
        D1,
        "  services-api:\n    config:\n",
        '  services-api:\n    config:\n      apiKeyValue: "old-key-123456"\n',
    )
    commit_change(repo, D1, "old-key-123456", "new-key-654321")
    api = stacks(previews_of(repo, "HEAD~1"))["services-api"]
    assert api["status"] == "previewed", api
    text = json.dumps(api)
    assert "old-key-123456" not in text and "new-key-654321" not in text
    shown = [i for c in api["changes"] for i in c["inputs"]]
    assert shown and all("[secret]" in i["old"] + i["new"] for i in shown), shown


def test_a_program_that_fails_at_head_is_a_failed_preview_not_a_count(repo):
    commit_change(
        repo, "stacks/network/__main__.py", TAGS_OLD, TAGS_OLD + '\nraise KeyError("zone")'
    )
    network = stacks(previews_of(repo, "HEAD~1"))["network"]
    assert network["status"] == "failed" and "counts" not in network
    assert network["error"].startswith("the program at head failed: KeyError")


def test_beyond_the_limit_an_instance_says_not_previewed_and_why(repo):
    commit_change(repo, "stacks/network/__main__.py", TAGS_OLD, TAGS_NEW)
    previews = previews_of(repo, "HEAD~1", limit=1, environment=None)
    ranked = {key: stacks(previews, key)["network"] for key in previews}
    assert ranked["D1BRV40/stage"]["status"] == "previewed"  # stage before dev
    assert ranked["D1BRV40/dev"] == {
        "stack": "network",
        "source": "none",
        "status": "not-previewed",
        "reason": "the preview limit (1) was reached",
    }


def test_an_unreadable_base_says_why_nothing_was_previewed(repo):
    commit_change(repo, "stacks/network/__main__.py", TAGS_OLD, TAGS_NEW)
    local = LocalRepo(repo)
    head = load_snapshot(local.catalog_files())
    plans = planned_against(repo, "HEAD~1", "dev")
    simulator = SimulatedEngine(state_dir=repo / ".cloud/sim")
    previews = preview_pull_request(
        plans,
        head,
        lambda deployment, environment: simulator,
        repo_root=repo,
        file_ids=local.stack_file_ids(),
        base_commit="f" * 40,
    )
    network = stacks(previews)["network"]
    assert network["status"] == "not-previewed"
    assert network["reason"].startswith("the base commit could not be read")
