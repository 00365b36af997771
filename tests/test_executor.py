"""The local executor over the mini catalog, with the engine faked at its seam."""

from __future__ import annotations

import pytest

from controller.core.catalog import load_snapshot
from controller.core.stack_files import StackFiles
from controller.execution.executor import Executor, RunSettings
from controller.execution.preparation import Selection, destroy_graph, prepare_deploy
from tests.conftest import MANIFEST
from tests.fakes import FakeEngine


class Run:
    def __init__(self, files, engine, tmp_path, **settings):
        self.snapshot = load_snapshot(files)
        self.deployment = self.snapshot.deployments["D000001"]
        self.engine = engine
        self.root = tmp_path
        self.events: list[dict] = []
        self.settings = {"operation_id": "op-test", "parallel": 4, **settings}

    def deploy(self, *, preview=False, selection=None, **settings):
        job = prepare_deploy(
            self.snapshot.catalog,
            self.deployment,
            "dev",
            engine=self.engine,
            file_ids=StackFiles({}),
            repo_root=self.root,
            selection=selection or Selection(),
        )
        executor = Executor(
            self.engine,
            repo_root=self.root,
            settings=RunSettings(**{**self.settings, **settings}),
            subscribers=[self.events.append],
        )
        return executor.deploy(job, preview=preview)

    def destroy(self, patterns=()):
        graph = destroy_graph(
            self.snapshot.catalog, self.deployment, "dev", engine=self.engine, patterns=patterns
        )
        executor = Executor(
            self.engine,
            repo_root=self.root,
            settings=RunSettings(**self.settings),
            subscribers=[self.events.append],
        )
        return executor.destroy(self.deployment, "dev", graph)


def states(report):
    return {name: outcome.state for name, outcome in report.outcomes.items()}


def test_first_deploy_runs_everything_in_dependency_order(mini_files, tmp_path):
    run = Run(mini_files, FakeEngine(), tmp_path)
    report = run.deploy()
    assert report.status == "success" and report.exit_code == 0
    assert set(states(report).values()) == {"succeeded"}
    kinds = [event["type"] for event in run.events]
    assert kinds[0] == "operation.started" and kinds[-1] == "operation.completed"
    order = [e["data"]["stackName"] for e in run.events if e["type"] == "stack.completed"]
    assert order == ["net", "sec", "db", "app"]
    assert all(e["data"]["operationId"] == "op-test" for e in run.events)


def test_outputs_flow_into_the_dependents_config(mini_files, tmp_path):
    engine = FakeEngine()
    Run(mini_files, engine, tmp_path).deploy()
    assert engine.specs["sec"].config["vpcId"] == "vpc-10.0.0.0/16"
    assert engine.specs["db"].config["subnetIds"] == ["s-1", "s-2"]
    assert engine.specs["app"].config["banner"] == "db at db-postgres.local"


def test_a_second_deploy_skips_everything_without_calling_the_engine(mini_files, tmp_path):
    engine = FakeEngine()
    Run(mini_files, engine, tmp_path).deploy()
    engine.calls.clear()
    report = Run(mini_files, engine, tmp_path).deploy()
    assert set(states(report).values()) == {"skipped"}
    assert engine.ups() == []
    assert all(o.reason.startswith("unchanged since last deploy") for o in report.outcomes.values())


def test_a_change_that_keeps_outputs_redeploys_nothing_downstream(mini_files, tmp_path):
    engine = FakeEngine()
    Run(mini_files, engine, tmp_path).deploy()
    engine.calls.clear()
    mini_files[MANIFEST] = mini_files[MANIFEST].replace("size: 40", "size: 60")
    report = Run(mini_files, engine, tmp_path).deploy()
    assert engine.ups() == ["db"]
    assert report.outcomes["app"].state == "skipped"
    assert report.outcomes["app"].reason == (
        "upstream outputs it consumes are unchanged (db.endpoint)"
    )


def test_a_change_that_moves_a_consumed_output_redeploys_the_consumer(mini_files, tmp_path):
    engine = FakeEngine()
    Run(mini_files, engine, tmp_path).deploy()
    engine.calls.clear()
    mini_files[MANIFEST] = mini_files[MANIFEST].replace("size: 40", "size: 60\n      engine: mysql")
    report = Run(mini_files, engine, tmp_path).deploy()
    assert engine.ups() == ["db", "app"]
    assert report.outcomes["app"].reason == "upstream output db.endpoint changed"
    assert engine.specs["app"].config["dbEndpoint"] == "db-mysql.local"


def test_an_upstream_redeployed_elsewhere_is_noticed(mini_files, tmp_path):
    engine = FakeEngine()
    Run(mini_files, engine, tmp_path).deploy()
    # someone redeployed db alone (another run, another machine) with another engine value
    key = "D000001-db-dev"
    engine.stacks[key]["outputs"] = {"endpoint": "db-elsewhere.local"}
    engine.calls.clear()
    report = Run(mini_files, engine, tmp_path).deploy()
    assert engine.ups() == ["app"]
    assert report.outcomes["app"].reason == "upstream output db.endpoint changed"


def test_a_failure_blocks_dependents_and_stops_the_rest(mini_files, tmp_path):
    engine = FakeEngine(fail={"sec": "AccessDenied: not allowed"})
    report = Run(mini_files, engine, tmp_path, parallel=1).deploy()
    assert states(report) == {
        "net": "succeeded",
        "sec": "failed",
        "db": "blocked",
        "app": "blocked",
    }
    assert report.outcomes["sec"].error == "AccessDenied: not allowed"
    assert report.outcomes["db"].reason == "upstream sec failed"
    assert report.exit_code == 1


def test_continue_on_error_finishes_independent_stacks(mini_files, tmp_path):
    mini_files[MANIFEST] = mini_files[MANIFEST].replace(
        'banner: "db at {{RUNTIME:db:endpoint}}"', "banner: plain"
    )
    mini_files["stacks/templates/basic.yaml"] = mini_files["stacks/templates/basic.yaml"].replace(
        '    dbEndpoint: "{{RUNTIME:db:endpoint}}"', '    dbEndpoint: ""'
    )
    engine = FakeEngine(fail={"sec": "boom"})
    report = Run(mini_files, engine, tmp_path, parallel=1, continue_on_error=True).deploy()
    assert states(report) == {
        "net": "succeeded",
        "app": "succeeded",
        "sec": "failed",
        "db": "blocked",
    }


def test_a_missing_output_fails_the_consumer_and_blocks_its_dependents(mini_files, tmp_path):
    def outputs(spec):
        return {"groupId": "sg"} if spec.stack != "net" else {"vpcId": "vpc-1"}

    report = Run(mini_files, FakeEngine(outputs), tmp_path).deploy()
    assert report.outcomes["db"].state == "failed"
    assert report.outcomes["db"].error == (
        "upstream stack 'net' has no output 'subnetIds' (needed by {{RUNTIME:net:subnetIds}})"
    )
    assert report.outcomes["app"].state == "blocked"


def test_secret_outputs_are_masked_in_events_and_reports(mini_files, tmp_path):
    run = Run(mini_files, FakeEngine(secret={"db": {"endpoint"}}), tmp_path)
    report = run.deploy()
    completed = next(
        e for e in run.events if e["type"] == "stack.completed" and e["data"]["stackName"] == "db"
    )
    assert completed["data"]["outputs"] == {"endpoint": "[secret]"}
    assert report.to_dict()["stacks"][2]["outputs"] == {"endpoint": "[secret]"}
    assert "db-postgres.local" not in str(run.events)


def test_a_stack_filter_runs_only_the_selected(mini_files, tmp_path):
    engine = FakeEngine()
    Run(mini_files, engine, tmp_path).deploy()
    engine.calls.clear()
    report = Run(mini_files, engine, tmp_path).deploy(selection=Selection(("d*",), force=True))
    assert engine.ups() == ["db"]
    assert report.outcomes["net"].reason == "not selected"


def test_preview_changes_nothing(mini_files, tmp_path):
    engine = FakeEngine()
    report = Run(mini_files, engine, tmp_path).deploy(preview=True)
    assert report.kind == "preview" and engine.stacks == {}
    assert [op for op, _ in engine.calls] == ["preview"] * 4


def test_destroy_runs_in_reverse_order_and_refuses_to_orphan(mini_files, tmp_path):
    engine = FakeEngine()
    run = Run(mini_files, engine, tmp_path)
    run.deploy()
    with pytest.raises(ValueError, match="would break deployed dependents: app"):
        run.destroy(patterns=["db"])
    engine.calls.clear()
    report = run.destroy()
    assert report.status == "success"
    assert [stack for op, stack in engine.calls] == ["app", "db", "sec", "net"]
    assert engine.stacks == {}


def test_a_stack_that_did_not_run_is_announced_as_skipped_with_its_reason(mini_files, tmp_path):
    engine = FakeEngine()
    Run(mini_files, engine, tmp_path).deploy()
    run = Run(mini_files, engine, tmp_path)
    run.deploy()
    skipped = [e for e in run.events if e["type"] == "stack.skipped"]
    assert [e["data"]["stackName"] for e in skipped] == ["net", "sec", "db", "app"]
    assert all(e["data"]["status"] == "skipped" and e["data"]["reason"] for e in skipped)
    assert not [e for e in run.events if e["type"] == "stack.completed"]


def test_blocked_stacks_are_skipped_not_completed(mini_files, tmp_path):
    run = Run(mini_files, FakeEngine(fail={"sec": "boom"}), tmp_path, parallel=1)
    run.deploy()
    skipped = {
        e["data"]["stackName"]: e["data"] for e in run.events if e["type"] == "stack.skipped"
    }
    assert skipped["db"]["status"] == "blocked" and skipped["db"]["reason"] == "upstream sec failed"


def test_a_completed_stack_always_says_how_long_it_took_and_what_it_created(mini_files, tmp_path):
    run = Run(mini_files, FakeEngine(), tmp_path)
    run.deploy()
    completed = [e["data"] for e in run.events if e["type"] == "stack.completed"]
    assert len(completed) == 4
    for data in completed:
        assert isinstance(data["duration"], int | float) and data["duration"] >= 0
        assert isinstance(data["resourcesCreated"], int)


def test_a_failed_stack_names_the_resource_that_failed(mini_files, tmp_path):
    run = Run(mini_files, FakeEngine(flaky={"sec": 1}), tmp_path, parallel=1)
    run.deploy()
    failed = next(e["data"] for e in run.events if e["type"] == "stack.failed")
    assert failed["stackName"] == "sec"
    assert failed["error"]["resource"] == {"type": "test:Thing", "name": "thing"}


def test_a_stack_locked_by_another_update_fails_as_resource_locked(mini_files, tmp_path):
    from controller.engines.base import StackBusyError

    run = Run(mini_files, FakeEngine(fail={"net": StackBusyError("locked by x")}), tmp_path)
    run.deploy()
    failed = next(e["data"] for e in run.events if e["type"] == "stack.failed")
    assert failed["error"]["code"] == "RESOURCE_LOCKED"


def test_a_started_stack_announces_the_resources_it_expects(mini_files, tmp_path):
    run = Run(mini_files, FakeEngine(), tmp_path)
    run.deploy()
    started = [e["data"] for e in run.events if e["type"] == "stack.started"]
    assert started and all(isinstance(d["resourcesTotal"], int) for d in started)


def test_max_retries_retries_a_failed_stack_before_failing_it(mini_files, tmp_path):
    run = Run(mini_files, FakeEngine(flaky={"sec": 2}), tmp_path, parallel=1, max_retries=2)
    report = run.deploy()
    assert report.status == "success", report.to_dict()
    assert not [e for e in run.events if e["type"] == "stack.failed"]
    retried = [e["data"]["message"] for e in run.events if e["type"] == "log"]
    assert any("attempt 1 of 3 failed" in line and "retrying" in line for line in retried)
    again = Run(mini_files, FakeEngine(flaky={"sec": 2}), tmp_path, parallel=1, max_retries=1)
    assert again.deploy().outcomes["sec"].state == "failed"


def test_the_runs_environment_reaches_every_stack_it_runs(mini_files, tmp_path):
    engine = FakeEngine()
    Run(mini_files, engine, tmp_path, env={"RELEASE": "42"}).deploy()
    assert {name: dict(spec.env) for name, spec in engine.specs.items()} == {
        name: {"RELEASE": "42"} for name in ("net", "sec", "db", "app")
    }


def with_secret_banner(files):
    files = dict(files)
    files[MANIFEST] = files[MANIFEST].replace(
        'banner: "db at {{RUNTIME:db:endpoint}}"', 'banner: "{{SECRET:BANNER}}"'
    )
    return files


def deploy_with(files, engine, tmp_path, environ):
    run = Run(with_secret_banner(files), engine, tmp_path)
    job = prepare_deploy(
        run.snapshot.catalog, run.deployment, "dev", engine=engine, file_ids={},
        repo_root=tmp_path, selection=Selection(),
    )  # fmt: skip
    executor = Executor(
        engine,
        repo_root=tmp_path,
        settings=RunSettings(operation_id="op-test"),
        subscribers=[run.events.append],
        environ=environ,
    )
    return executor.deploy(job), run.events


def test_a_secret_reference_is_filled_from_the_environment_as_secret_config(mini_files, tmp_path):
    engine = FakeEngine()
    report, _ = deploy_with(mini_files, engine, tmp_path, {"CLOUD_SECRET_BANNER": "from-env"})
    assert report.status == "success"
    assert engine.specs["app"].config["banner"] == "from-env"
    assert "banner" in engine.specs["app"].secret_keys


def test_an_unset_secret_fails_the_stack_on_a_real_engine_and_names_the_variable(
    mini_files, tmp_path
):
    engine = FakeEngine()
    engine.simulated = False
    report, _ = deploy_with(mini_files, engine, tmp_path, {})
    assert states(report)["app"] == "failed"
    assert report.outcomes["app"].error == "secrets not set: banner (CLOUD_SECRET_BANNER)"
    assert ("up", "app") not in engine.calls


def test_an_unset_secret_is_left_to_the_stacks_own_config_on_an_engine_that_keeps_it(
    mini_files, tmp_path
):
    engine = FakeEngine()
    engine.simulated = False
    engine.keeps_stack_config = True  # type: ignore[attr-defined]
    report, _ = deploy_with(mini_files, engine, tmp_path, {})
    assert report.status == "success"
    spec = engine.specs["app"]
    assert "banner" not in spec.config and spec.kept_keys == frozenset({"banner"})


def test_the_simulator_runs_with_a_stand_in_for_an_unset_secret_and_says_so(mini_files, tmp_path):
    engine = FakeEngine()
    report, events = deploy_with(mini_files, engine, tmp_path, {})
    assert report.status == "success"
    assert engine.specs["app"].config["banner"] == "simulated-BANNER"
    logs = [e["data"]["message"] for e in events if e["type"] == "log"]
    assert "simulated stand-ins for unset secrets: banner (CLOUD_SECRET_BANNER)" in logs
