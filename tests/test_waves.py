"""Promotion waves and the packing of environment jobs within GitHub's limits."""

from __future__ import annotations

import json

import pytest

from controller.core.catalog import load_snapshot
from controller.core.credentials import ConventionError, RoleConvention, resolve_roles
from controller.core.waves import (
    MAX_MATRIX,
    EnvironmentWork,
    PatternError,
    PlanLimitError,
    assign_waves,
    github_environment,
    is_protected,
    pack,
    promotion_order,
)
from tests.conftest import MANIFEST


def works(count: int, *, environment="dev", wave=1, protected=False, seconds=600):
    return [
        EnvironmentWork(
            f"D{n:06d}",
            environment,
            wave,
            protected,
            f"D{n:06d}-{environment}",
            seconds,
        )
        for n in range(count)
    ]


def test_a_wave_that_fits_one_matrix_runs_one_environment_per_job():
    plan = pack(works(MAX_MATRIX))
    [shards] = plan.waves.values()
    assert len(shards) == MAX_MATRIX
    assert all(len(shard.members) == 1 and not shard.packed for shard in shards)
    entry = shards[0].entry({})
    assert entry["name"] == "D000000 / dev"
    assert entry["githubEnvironment"] == "D000000-dev"
    assert entry["concurrency"] == "cloud-D000000-dev"
    assert entry["artifact"] == "result-D000000-dev"


@pytest.mark.parametrize(
    ("count", "per_job"),
    [pytest.param(257, 2, id="one-over"), pytest.param(500, 2, id="500"), (1500, 6)],
)
def test_a_larger_wave_is_packed_into_at_most_256_jobs(count, per_job):
    plan = pack(works(count))
    shards = plan.waves[1]
    assert len(shards) <= MAX_MATRIX
    assert max(len(shard.members) for shard in shards) == per_job
    keys = [member.key for shard in shards for member in shard.members]
    assert sorted(keys) == sorted(w.key for w in works(count))  # each exactly once
    assert all(shard.github_environment == "cloud-shard-dev" for shard in shards)
    assert shards[0].entry({})["name"].startswith("dev x")


def test_packing_never_mixes_environment_names_or_protection():
    mixed = works(200, environment="dev") + works(200, environment="prod", protected=True)
    plan = pack(mixed)
    for shard in plan.waves[1]:
        assert len({(m.environment, m.protected) for m in shard.members}) == 1
    prod = [s for s in plan.waves[1] if s.members[0].environment == "prod"]
    assert all(s.protected and s.github_environment == "cloud-shard-prod" for s in prod)


def test_a_wave_beyond_every_limit_fails_the_plan_with_what_to_do():
    with pytest.raises(PlanLimitError, match=r"at most 256 jobs of at most 8 environments"):
        pack(works(256 * 8 + 1))
    with pytest.raises(PlanLimitError, match="6 h a GitHub-hosted job may run"):
        pack(works(1, seconds=7 * 3600))
    five = [w for n in range(1, 6) for w in works(1, wave=n)]
    with pytest.raises(PlanLimitError, match="4 wave jobs"):
        pack(five)


def test_entries_name_the_artifacts_of_the_environments_they_wait_for():
    dev = works(2)
    stage = [
        EnvironmentWork(w.deployment_id, "stage", 2, False, f"{w.deployment_id}-stage", 60, w.key)
        for w in dev
    ]
    plan = pack(dev + stage)
    artifacts = plan.artifact_of()
    one, _ = (shard.entry(artifacts) for shard in plan.waves[2])
    assert one["after"] == "D000000/stage=D000000/dev"
    assert one["artifacts"] == "result-D000000-dev"
    packed = pack(
        works(300)
        + [
            EnvironmentWork(f"D{n:06d}", "stage", 2, False, "x", 60, f"D{n:06d}/dev")
            for n in range(300)
        ]
    )
    artifact_of = packed.artifact_of()
    for shard in packed.waves[2]:
        entry = shard.entry(artifact_of)
        wanted = sorted({artifact_of[m.after] for m in shard.members if m.after})
        expected = wanted[0] if len(wanted) == 1 else "{" + ",".join(wanted) + "}"
        assert entry["artifacts"] == expected
        assert all(name.startswith("result-wave1-shard") for name in wanted)


def test_the_entries_of_a_full_plan_stay_far_below_the_output_limit():
    plan = pack(works(256 * 8))
    text = json.dumps([shard.entry(plan.artifact_of()) for shard in plan.waves[1]])
    assert len(text.encode()) < 200_000


def test_waves_count_only_environments_with_work_in_promotion_order():
    order = {"D1": ["dev", "stage", "prod"], "D2": ["dev", "stage", "prod"]}
    assigned = assign_waves(order, [("D1", "dev"), ("D1", "prod"), ("D2", "prod")])
    assert assigned == {
        ("D1", "dev"): (1, None),
        ("D1", "prod"): (2, "D1/dev"),
        ("D2", "prod"): (1, None),
    }


def test_promotion_order_and_protection_come_from_manifest_then_template(mini_files):
    snapshot = load_snapshot(mini_files)
    deployment = snapshot.deployments["D000001"]
    assert promotion_order(deployment, snapshot.catalog) == ["dev", "prod"]
    assert is_protected(deployment, snapshot.catalog, "prod")
    assert not is_protected(deployment, snapshot.catalog, "dev")
    mini_files[MANIFEST] = (
        mini_files[MANIFEST]
        .replace("environments:\n", "promotion: [prod, dev]\nenvironments:\n", 1)
        .replace("dev: {enabled: true}", "dev: {enabled: true, protected: true}")
    )
    snapshot = load_snapshot(mini_files)
    deployment = snapshot.deployments["D000001"]
    assert promotion_order(deployment, snapshot.catalog) == ["prod", "dev"]
    assert is_protected(deployment, snapshot.catalog, "dev")


def test_github_environment_names_follow_the_pattern(mini_files):
    deployment = load_snapshot(mini_files).deployments["D000001"]
    assert github_environment("{deploymentId}-{environment}", deployment, "dev") == "D000001-dev"
    assert github_environment("{organization}-{project}-{environment}", deployment, "prod") == (
        "Acme-shop-prod"
    )
    with pytest.raises(PatternError, match="uses tenant"):
        github_environment("{tenant}-{environment}", deployment, "dev")


def test_roles_come_from_the_manifest_or_the_convention(mini_files):
    manifest = load_snapshot(mini_files).deployments["D000001"].manifest
    roles = resolve_roles(manifest, "prod")
    assert roles is not None
    assert roles.deploy == "arn:aws:iam::222222222222:role/cloud-deploy"
    assert roles.plan == "arn:aws:iam::222222222222:role/cloud-plan"
    named = resolve_roles(
        manifest,
        "prod",
        RoleConvention.from_env(
            {"CLOUD_DEPLOY_ROLE_NAME": "infra-apply", "CLOUD_PLAN_ROLE_NAME": "infra-read"}
        ),
    )
    assert named is not None and named.plan.endswith(":role/infra-read")
    with pytest.raises(ConventionError, match="must not run with the deploy role"):
        RoleConvention.from_env({"CLOUD_DEPLOY_ROLE_NAME": "x", "CLOUD_PLAN_ROLE_NAME": "x"})
