from __future__ import annotations

import pytest

from controller.core.catalog import load_snapshot
from controller.core.environments import environment_view
from controller.core.fingerprints import fingerprint_view
from controller.core.legacy_fingerprints import legacy_fingerprint_view
from controller.core.planning import (
    Previous,
    consumed_digests,
    consumed_outputs,
    critical_seconds,
    dynamic_decision,
    github_matrix,
    plan_environment,
    select_stacks,
    unwanted_instances,
)
from controller.core.stack_files import StackFiles


@pytest.fixture
def view(mini_files):
    snapshot = load_snapshot(mini_files)
    return environment_view(snapshot.deployments["D000001"], snapshot.catalog, "dev")


def current(view):
    return fingerprint_view(view, StackFiles({}))


def recorded(fingerprints, **overrides):
    previous = {
        n: Previous(fp.value, fp.components, "2026-01-01T00:00:00Z")
        for n, fp in fingerprints.items()
    }
    previous.update(overrides)
    return previous


def statuses(plan):
    return {entry.stack: entry.status for entry in plan.entries}


def test_nothing_recorded_means_every_stack_is_new(view):
    plan = plan_environment(view, current(view), {})
    assert set(statuses(plan).values()) == {"new"}
    assert plan.entry("db").reasons == ("no last deploy recorded",)
    assert plan.layers == [["net"], ["sec"], ["db"], ["app"]]


def test_all_recorded_and_equal_means_all_skipped(view):
    fps = current(view)
    plan = plan_environment(view, fps, recorded(fps))
    assert set(statuses(plan).values()) == {"skipped"}
    assert not plan.changed
    assert plan.entry("net").reasons == (
        "unchanged since last deploy (deployed 2026-01-01T00:00:00Z)",
    )


def test_a_changed_stack_makes_its_dependents_pending_upstream(view):
    fps = current(view)
    stale = Previous("old", {**fps["sec"].components, "config": {"vpcId": "x"}})
    plan = plan_environment(view, fps, recorded(fps, sec=stale))
    assert statuses(plan) == {
        "net": "skipped",
        "sec": "changed",
        "db": "pending-upstream",
        "app": "pending-upstream",
    }
    assert plan.entry("sec").reasons == ("config key vpcId changed",)  # no values recorded
    assert "upstream sec will run" in plan.entry("db").reasons[0]


def test_selection_excludes_the_rest_and_force_runs_the_selected(view):
    fps = current(view)
    plan = plan_environment(view, fps, recorded(fps), selected={"db"}, force=True)
    assert statuses(plan) == {
        "net": "excluded",
        "sec": "excluded",
        "db": "changed",
        "app": "excluded",
    }


def test_stacks_with_state_outside_the_deployment_are_removals(view):
    fps = current(view)
    plan = plan_environment(view, fps, recorded(fps), deployed=["net", "old-stack"])
    assert [(r.stack, r.reason) for r in plan.removals] == [
        ("old-stack", "no longer in the deployment")
    ]
    assert plan.changed


def test_github_matrix_lists_runnable_stacks_by_layer(view):
    fps = current(view)
    stale = Previous("old", fps["sec"].components)
    plan = plan_environment(view, fps, recorded(fps, sec=stale))
    assert github_matrix([plan]) == {
        "layer-2": [
            {"deployment": "D000001", "environment": "dev", "stack": "sec", "status": "changed"}
        ],
        "layer-3": [
            {
                "deployment": "D000001",
                "environment": "dev",
                "stack": "db",
                "status": "pending-upstream",
            }
        ],
        "layer-4": [
            {
                "deployment": "D000001",
                "environment": "dev",
                "stack": "app",
                "status": "pending-upstream",
            }
        ],
    }


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [(None, None), ([], None), (["n*"], {"net"}), (["db", "a*"], {"db", "app"}), (["x"], set())],
)
def test_select_stacks(patterns, expected):
    assert select_stacks(["net", "sec", "db", "app"], patterns) == expected


def test_consumed_outputs_come_from_placeholders(view):
    assert consumed_outputs(view.instances["app"]) == [("db", "endpoint")]
    assert consumed_outputs(view.instances["net"]) == []
    now = consumed_digests(view.instances["app"], {"db": {"endpoint": "db.example"}})
    assert list(now) == ["db.endpoint"]


@pytest.mark.parametrize(
    ("recorded_", "now", "runs", "reason"),
    [
        (None, {"a.x": "1"}, True, "never deployed"),
        ({"a.x": "1"}, {"a.x": "2"}, True, "upstream output a.x changed"),
        ({"a.x": "1"}, {"a.x": "1"}, False, "upstream outputs it consumes are unchanged (a.x)"),
        ({}, {}, False, "consumes no upstream output"),
        ({"a.x": "1"}, {"a.x": "1", "b.y": "2"}, True, "upstream output b.y changed"),
    ],
)
def test_dynamic_decision(recorded_, now, runs, reason):
    assert dynamic_decision(recorded_, now) == (runs, reason)


def test_unmet_inputs_name_the_stack_the_upstream_and_the_output():
    from controller.core.planning import unmet_inputs

    consumes = {"app": [("db", "endpoint"), ("net", "vpcId")], "db": [("net", "vpcId")]}
    assert unmet_inputs(consumes, selected={"app"}, available={"net": {"vpcId"}}) == [
        ("app", "db", "endpoint")
    ]
    assert unmet_inputs(consumes, selected={"app", "db"}, available={}) == [
        ("app", "net", "vpcId"),
        ("db", "net", "vpcId"),
    ]
    assert unmet_inputs(consumes, selected={"app", "db", "net"}, available={}) == []


def test_a_format_1_record_is_compared_the_old_way(view):
    fps = current(view)
    legacy = legacy_fingerprint_view(view, {})
    old = {n: Previous(fp.value, fp.components, "2026-01-01", format=1) for n, fp in legacy.items()}
    stale = Previous("old", legacy["db"].components, format=1)
    plan = plan_environment(view, fps, {**old, "db": stale}, legacy=legacy)
    assert statuses(plan) == {
        "net": "skipped",
        "sec": "skipped",
        "db": "changed",
        "app": "pending-upstream",
    }
    assert plan.entry("net").reasons[1].startswith("compared by its format 1 fingerprint")
    assert plan.entry("db").fingerprint == fps["db"].value  # a deploy records format 2


def test_unwanted_instances_are_disabled_environments_and_deleted_deployments(view):
    held = {
        "D000001": {"dev": ["net"], "prod": ["net", "db"], "qa": ["app"]},
        "D000009": {"dev": ["net"]},
    }
    plans = unwanted_instances([view.deployment], held, known={"D000001": view.deployment})
    found = {(p.deployment_id, p.environment, r.stack, r.reason) for p in plans for r in p.removals}
    assert found == {
        ("D000001", "prod", "db", "environment prod is disabled"),
        ("D000001", "prod", "net", "environment prod is disabled"),
        ("D000001", "qa", "app", "environment qa is no longer in the manifest"),
        ("D000009", "dev", "net", "deployment removed from the repo"),
    }
    only_dev = unwanted_instances([view.deployment], held, environment="dev", known=None)
    assert only_dev == []


def test_critical_seconds_follows_the_dependencies_among_the_entries(view):
    fps = current(view)
    plan = plan_environment(view, fps, {})
    # net 100 -> sec 50 -> db 300; app 60 depends on db: 100 + 50 + 300 + 60
    assert critical_seconds(plan.entries) == 510
    assert critical_seconds([plan.entry("net"), plan.entry("app")]) == 100  # app alone: 60
