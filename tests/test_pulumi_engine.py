"""The Pulumi engine at its seams: what it asks the Automation API for, and how it maps
Pulumi's results and events. The `pulumi` CLI cannot be installed here; the one test that
needs it is marked and skipped without it."""

from __future__ import annotations

import dataclasses
import json
import shutil
from datetime import datetime

import pytest
from pulumi import automation as auto
from pulumi.automation import events as ev
from pulumi.automation._cmd import CommandResult
from pulumi.automation._stack import PreviewResult, UpdateSummary, UpResult

from controller.engines.base import (
    RECORD_OUTPUT,
    DeployRecord,
    EngineError,
    EngineEvent,
    EngineUnavailableError,
    StackBusyError,
    StackSpec,
)
from controller.engines.mock_runtime import ProgramRequest, run_program
from controller.engines.pulumi_engine import (
    INSTALL_HINT,
    PulumiEngine,
    map_change,
    map_counts,
    map_event,
    project_files,
)
from tests.conftest import REPO_ROOT

RECORD = DeployRecord("fp", {"config": {"a": "1"}}, {"network.vpcId": "d"}, "2026-01-01")


def summary(changes):
    return UpdateSummary(
        kind="update",
        start_time=datetime(2026, 1, 1),
        message="",
        environment={},
        config={},
        result="succeeded",
        resource_changes=changes,
    )


def step(
    op,
    urn="urn:pulumi:s::p::aws:s3/bucket:Bucket::assets",
    type_="aws:s3/bucket:Bucket",
    diffs=None,
):
    return ev.StepEventMetadata(op=op, urn=urn, type=type_, provider="", diffs=diffs)


class FakeStack:
    def __init__(self):
        self.config = {"network:stale": auto.ConfigValue("x")}
        self.calls = []
        self.stack_outputs = {}
        self.error = None

    def get_all_config(self):
        return dict(self.config)

    def remove_all_config(self, keys):
        self.calls.append(("remove_all_config", keys))
        for key in keys:
            self.config.pop(key)

    def set_all_config(self, config):
        self.calls.append(("set_all_config", dict(config)))
        self.config.update(config)

    def _run(self, name, kwargs):
        self.calls.append((name, kwargs))
        if self.error:
            raise self.error

    def up(self, **kwargs):
        self._run("up", kwargs)
        kwargs["on_event"](
            ev.EngineEvent(1, 0, resource_pre_event=ev.ResourcePreEvent(step(ev.OpType.CREATE)))
        )
        kwargs["on_event"](
            ev.EngineEvent(2, 0, res_outputs_event=ev.ResOutputsEvent(step(ev.OpType.CREATE)))
        )
        kwargs["on_output"]("Updating (D1BRV40-network-dev)")
        record = json.loads(self.config["cloud:record"].value)
        self.stack_outputs = {
            "vpcId": auto.OutputValue("vpc-1", False),
            "token": auto.OutputValue("t0k3n", True),
            RECORD_OUTPUT: auto.OutputValue(record, False),
        }
        return UpResult("", "", summary({"create": 2, "same": 1}), self.stack_outputs)

    def preview(self, **kwargs):
        self._run("preview", kwargs)
        return PreviewResult("", "", {ev.OpType.UPDATE: 1, ev.OpType.SAME: 3, ev.OpType.REPLACE: 1})

    def destroy(self, **kwargs):
        self._run("destroy", kwargs)
        return type("R", (), {"summary": summary({"delete": 3})})()

    def refresh(self, **kwargs):
        self._run("refresh", kwargs)
        for event in self.refresh_events:
            kwargs["on_event"](event)
        return type("R", (), {"summary": summary(self.refresh_counts)})()

    def preview_refresh(self, **kwargs):
        self._run("preview_refresh", kwargs)
        for event in self.refresh_events:
            kwargs["on_event"](event)
        return PreviewResult("", "", {ev.OpType(k): v for k, v in self.refresh_counts.items()})

    refresh_events: list = []  # noqa: RUF012 - set per test
    refresh_counts = {"same": 3}  # noqa: RUF012

    def outputs(self):
        return dict(self.stack_outputs)

    def export_stack(self):
        return auto.Deployment(
            version=3,
            deployment={
                "resources": [],
                "pending_operations": [{"type": "creating", "resource": {"urn": "u"}}],
            },
        )

    def import_stack(self, state):
        self.calls.append(("import_stack", state))

    def cancel(self):
        self.calls.append(("cancel", None))


class FakeWorkspaces:
    def __init__(self):
        self.stacks = {}
        self.opened = []

    def open(self, spec, work_dir, env, *, create):
        self.opened.append((spec.stack_name, work_dir, dict(env), create))
        if not create and spec.stack_name not in self.stacks:
            return None
        return self.stacks.setdefault(spec.stack_name, FakeStack())

    def list_stack_names(self, work_dir, env):
        # as the Automation API lists them with include_all: [organization/]project/stack
        return [
            *(f"organization/{name.split('-')[1]}/{name}" for name in self.stacks),
            "organization/network/D9OTHER-network-dev",
            "network/D1BRV40-network-prod",
            "services-api/D1BRV40-services-api-us-east",
            "someone-else/not-ours",
        ]

    def deployment(self, version, deployment):
        return auto.Deployment(version=version, deployment=deployment)


SPEC = StackSpec(
    "D1BRV40",
    "network",
    "dev",
    REPO_ROOT / "stacks" / "network",
    {"vpcCidr": "10.0.0.0/16", "availabilityZones": 2, "token": "s"},
    secret_keys=frozenset({"token"}),
    context={"deploymentId": "D1BRV40", "region": "us-east-1", "tags": {"a": "b"}},
)


@pytest.fixture
def workspaces():
    return FakeWorkspaces()


@pytest.fixture
def engine(tmp_path, workspaces):
    return PulumiEngine(
        state_root=tmp_path / "pulumi",
        env={"PULUMI_CONFIG_PASSPHRASE": ""},
        workspaces=workspaces,
        require_cli=False,
    )


def test_without_the_cli_the_engine_refuses_and_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EngineUnavailableError) as caught:
        PulumiEngine(state_root=tmp_path, env={"PULUMI_CONFIG_PASSPHRASE": ""})
    assert str(caught.value) == INSTALL_HINT
    assert "--engine simulate" in INSTALL_HINT


def test_a_file_backend_needs_a_passphrase(tmp_path):
    with pytest.raises(EngineUnavailableError, match="PULUMI_CONFIG_PASSPHRASE"):
        PulumiEngine(state_root=tmp_path, workspaces=FakeWorkspaces(), require_cli=False)
    assert PulumiEngine(
        state_root=tmp_path,
        backend_url="s3://bucket/state",
        workspaces=FakeWorkspaces(),
        require_cli=False,
    )


def test_a_kept_key_is_left_as_the_stack_holds_it(engine, workspaces):
    stack = workspaces.stacks.setdefault("D1BRV40-network-dev", FakeStack())
    stack.config["network:token"] = auto.ConfigValue("from-the-stack", secret=True)
    kept = dataclasses.replace(
        SPEC, config={"vpcCidr": "10.0.0.0/16"}, kept_keys=frozenset({"token"})
    )
    engine.up(kept, record=RECORD)
    assert stack.calls[0] == ("remove_all_config", ["network:stale"])  # not network:token
    assert "network:token" not in stack.calls[1][1]
    assert stack.config["network:token"].value == "from-the-stack"


def test_a_kept_key_the_stack_does_not_hold_is_refused_before_anything_runs(engine, workspaces):
    kept = dataclasses.replace(SPEC, config={}, kept_keys=frozenset({"token"}))
    with pytest.raises(EngineError, match=r"network:token takes a \{\{SECRET:…\}\} reference"):
        engine.up(kept, record=RECORD)
    stack = workspaces.stacks["D1BRV40-network-dev"]
    assert not any(call[0] == "up" for call in stack.calls)


def test_up_sets_config_secrets_and_record_then_maps_the_result(engine, workspaces, tmp_path):
    events = []
    result = engine.up(SPEC, record=RECORD, on_event=events.append)
    stack = workspaces.stacks["D1BRV40-network-dev"]
    assert stack.calls[0] == ("remove_all_config", ["network:stale"])
    config = {key: (value.value, value.secret) for key, value in stack.calls[1][1].items()}
    assert config["network:vpcCidr"] == ("10.0.0.0/16", False)
    assert config["network:availabilityZones"] == ("2", False)
    assert config["network:token"] == ("s", True)
    assert config["cloud:tags"] == ('{"a": "b"}', False)
    assert config["aws:region"] == ("us-east-1", False)
    assert json.loads(config["cloud:record"][0]) == RECORD.to_dict()
    assert result.counts == {"create": 2, "update": 0, "delete": 0, "replace": 0, "same": 1}
    assert result.outputs == {"vpcId": "vpc-1", "token": "t0k3n"}
    assert result.masked_outputs() == {"vpcId": "vpc-1", "token": "[secret]"}
    assert not result.simulated
    assert events == [
        EngineEvent("resource.started", "aws:s3/bucket:Bucket", "assets", "create"),
        EngineEvent(
            "resource.finished", "aws:s3/bucket:Bucket", "assets", "create", message="create"
        ),
        EngineEvent("log", message="Updating (D1BRV40-network-dev)"),
    ]
    _, work_dir, env, _ = workspaces.opened[-1]
    assert work_dir == tmp_path / "pulumi" / "work" / "D1BRV40-network-dev"
    assert env["PULUMI_BACKEND_URL"] == (tmp_path / "pulumi" / "state").resolve().as_uri()
    assert engine.record(SPEC) == RECORD


def test_preview_sets_no_record_and_counts_replacements(engine, workspaces):
    result = engine.preview(SPEC)
    stack = workspaces.stacks["D1BRV40-network-dev"]
    assert "cloud:record" not in stack.config
    assert result.counts == {"create": 0, "update": 1, "delete": 0, "replace": 1, "same": 3}
    assert stack.calls[-1][1]["diff"] is True


def test_destroy_removes_the_stack_and_unknown_stacks_are_empty(engine, workspaces):
    assert engine.destroy(SPEC).counts["delete"] == 0
    assert not engine.exists(SPEC)
    engine.up(SPEC, record=RECORD)
    assert engine.destroy(SPEC).counts["delete"] == 3
    assert workspaces.stacks["D1BRV40-network-dev"].calls[-1][1]["remove"] is True


def state(outputs):
    return ev.StepEventStateMetadata(type="t", urn="u", id="i", parent="", provider="",
                                     outputs=outputs)  # fmt: skip


def refresh_step(op, name, *, diffs=None, old=None, new=None, type_="aws:ec2/vpc:Vpc"):
    meta = ev.StepEventMetadata(
        op=op,
        urn=f"urn:pulumi:s::network::{type_}::{name}",
        type=type_,
        provider="",
        old=state(old) if old is not None else None,
        new=state(new) if new is not None else None,
        diffs=diffs,
    )
    return ev.EngineEvent(1, 0, resource_pre_event=ev.ResourcePreEvent(meta))


DRIFTED_EVENTS = [
    refresh_step(ev.OpType.UPDATE, "vpc", diffs=["tags.Name", "enableDnsHostnames"],
                 old={"tags": {"Name": "a"}, "enableDnsHostnames": True},
                 new={"tags": {"Name": "b"}, "enableDnsHostnames": False}),
    refresh_step(ev.OpType.DELETE, "igw", type_="aws:ec2/internetGateway:InternetGateway"),
    refresh_step(ev.OpType.REFRESH, "db", diffs=["password"], type_="aws:rds/instance:Instance",
                 old={"password": "[secret]"},
                 new={"password": {"4dabf18193072939515e22adb298388d":
                                   "1b47061264138c4ac30d75fd1eb44270", "plaintext": '"pw"'}}),
    refresh_step(ev.OpType.SAME, "subnet", type_="aws:ec2/subnet:Subnet"),
    refresh_step(ev.OpType.UPDATE, "default", type_="pulumi:providers:aws", diffs=["region"]),
]  # fmt: skip


@pytest.mark.parametrize("preview_only", [True, False], ids=["preview-only", "refresh"])
def test_refresh_reports_what_drifted_property_by_property(engine, workspaces, preview_only):
    engine.up(SPEC, record=RECORD)
    stack = workspaces.stacks["D1BRV40-network-dev"]
    stack.refresh_events = DRIFTED_EVENTS
    stack.refresh_counts = {"same": 5, "update": 2, "delete": 1}
    configured = len([c for c in stack.calls if c[0] == "set_all_config"])
    result = engine.refresh(SPEC, preview_only=preview_only)
    assert stack.calls[-1][0] == ("preview_refresh" if preview_only else "refresh")
    # its config stays what the last up set: a refresh reads the cloud, nothing else
    assert len([c for c in stack.calls if c[0] == "set_all_config"]) == configured
    assert result.counts == {"create": 0, "update": 2, "delete": 1, "replace": 0, "same": 5}
    found = {d.name: (d.kind, [(p.name, p.old, p.new) for p in d.properties]) for d in result.drift}
    assert found == {
        "vpc": ("updated", [("tags.Name", "a", "b"), ("enableDnsHostnames", True, False)]),
        "igw": ("deleted", []),
        "db": ("updated", [("password", "[secret]", "[secret]")]),
    }


def test_refreshing_a_stack_that_does_not_exist_is_an_error(engine):
    with pytest.raises(EngineError, match="does not exist"):
        engine.refresh(SPEC)


def test_engine_errors_are_mapped(engine, workspaces):
    engine.up(SPEC, record=RECORD)
    stack = workspaces.stacks["D1BRV40-network-dev"]
    stack.error = auto.ConcurrentUpdateError(CommandResult("", "error: [409] Conflict", 255))
    with pytest.raises(StackBusyError, match="locked by another update"):
        engine.up(SPEC, record=RECORD)
    stack.error = auto.CommandError(CommandResult("", "a\nerror: AccessDenied", 255))
    with pytest.raises(EngineError, match="AccessDenied"):
        engine.refresh(SPEC)


def test_state_listing_export_and_pending_operations(engine, workspaces):
    engine.up(SPEC, record=RECORD)
    assert engine.list_instances("D1BRV40", "dev") == ["network"]
    assert engine.list_all_instances() == {
        "D1BRV40": {"dev": ["network"], "prod": ["network"], "us-east": ["services-api"]},
        "D9OTHER": {"dev": ["network"]},
    }
    assert engine.export_state(SPEC)["version"] == 3
    assert engine.pending_operations(SPEC) == [{"type": "creating", "resource": {"urn": "u"}}]
    engine.import_state(SPEC, {"version": 3, "deployment": {"resources": []}})
    imported = workspaces.stacks["D1BRV40-network-dev"].calls[-1][1]
    assert isinstance(imported, auto.Deployment) and imported.version == 3


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"create": 1, "create-replacement": 1, "delete-replaced": 1, "replace": 1},
            {"create": 1, "replace": 1},
        ),
        ({ev.OpType.SAME: 4, ev.OpType.READ: 2}, {"same": 4}),
    ],
)
def test_map_counts(changes, expected):
    counts = map_counts(changes)
    assert {k: v for k, v in counts.items() if v} == expected


def test_events_of_the_root_stack_and_providers_are_not_shown():
    root = ev.EngineEvent(
        1,
        0,
        resource_pre_event=ev.ResourcePreEvent(
            step(ev.OpType.SAME, urn="urn::pulumi:pulumi:Stack::x", type_="pulumi:pulumi:Stack")
        ),
    )
    provider = ev.EngineEvent(
        1,
        0,
        resource_pre_event=ev.ResourcePreEvent(
            step(ev.OpType.CREATE, type_="pulumi:providers:aws")
        ),
    )
    assert map_event(root) is None and map_event(provider) is None
    failed = ev.EngineEvent(
        1, 0, res_op_failed_event=ev.ResOpFailedEvent(step(ev.OpType.UPDATE), status=1, steps=1)
    )
    assert map_event(failed) == EngineEvent(
        "resource.failed", "aws:s3/bucket:Bucket", "assets", "update", level="error"
    )
    diagnostic = ev.EngineEvent(
        1,
        0,
        diagnostic_event=ev.DiagnosticEvent(
            message="warning: deprecated\n", color="never", severity="warning"
        ),
    )
    assert map_event(diagnostic) == EngineEvent(
        "log", message="warning: deprecated", level="warning"
    )
    replaced = ev.EngineEvent(
        1,
        0,
        res_outputs_event=ev.ResOutputsEvent(step(ev.OpType.CREATE_REPLACEMENT, diffs=["bucket"])),
    )
    assert map_event(replaced).message == "replace (bucket)"


def test_the_generated_project_runs_the_program_and_exports_the_record(engine, tmp_path):
    folder = engine.project_dir(SPEC)
    assert (folder / "Pulumi.yaml").read_text().startswith("name: network\n")
    assert "virtualenv" in (folder / "Pulumi.yaml").read_text()
    config = {
        "cloud:record": json.dumps(RECORD.to_dict()),
        "cloud:deploymentId": "D1BRV40",
        "cloud:environment": "dev",
        "cloud:region": "us-east-1",
        "aws:region": "us-east-1",
    }
    result = run_program(
        ProgramRequest(
            program_dir=str(folder), project="network", stack=SPEC.stack_name, config=config
        )
    )
    assert result.error is None
    assert result.outputs[RECORD_OUTPUT] == RECORD.to_dict()
    assert "vpcId" in result.outputs
    assert project_files(SPEC, python="/venv") == project_files(SPEC, python="/venv")


@pytest.mark.requires_pulumi_cli
@pytest.mark.skipif(shutil.which("pulumi") is None, reason="the pulumi CLI is not installed")
def test_a_real_up_on_a_file_backend(tmp_path, monkeypatch):  # pragma: no cover - needs CLI
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "test")
    real = PulumiEngine(state_root=tmp_path, env={"PULUMI_CONFIG_PASSPHRASE": "test"})
    program = tmp_path / "stacks" / "tiny"
    program.mkdir(parents=True)
    (program / "__main__.py").write_text("import pulumi\npulumi.export('x', 1)\n")
    spec = StackSpec("D000001", "tiny", "dev", program, {})
    result = real.up(spec, record=RECORD)
    assert result.outputs == {"x": 1}
    assert real.record(spec) == RECORD
    real.destroy(spec)
    assert not real.exists(spec)


def test_the_operations_environment_reaches_the_pulumi_workspace(engine, workspaces):
    from dataclasses import replace

    engine.up(replace(SPEC, env={"RELEASE": "42"}), record=RECORD)
    _, _, env, _ = workspaces.opened[-1]
    assert env["RELEASE"] == "42" and "PULUMI_BACKEND_URL" in env


def test_every_instance_may_only_touch_its_environments_own_account():
    """`aws:allowedAccountIds` makes the provider itself refuse any other account."""
    from controller.adapters.local_repo import LocalRepo
    from controller.core.catalog import load_snapshot
    from controller.core.environments import environment_view
    from controller.engines.pulumi_engine import stack_config
    from controller.engines.simulated import program_config
    from controller.execution.specs import stack_spec

    snapshot = load_snapshot(LocalRepo(REPO_ROOT).catalog_files())
    checked = 0
    for deployment in snapshot.deployments.values():
        for environment in deployment.manifest.environments:
            account = deployment.manifest.account_for(environment)
            view = environment_view(deployment, snapshot.catalog, environment)
            for name in view.instances:
                spec = stack_spec(deployment, name, environment, repo_root=REPO_ROOT)
                real = stack_config(spec, None)["aws:allowedAccountIds"]
                assert json.loads(real.value) == [account] and not real.secret
                simulated = program_config(spec)["aws:allowedAccountIds"]
                assert json.loads(simulated) == [account]
                checked += 1
    assert checked > 60


def planned(op, old=None, new=None, urn="urn:pulumi:s::p::aws:s3/bucket:Bucket::assets"):
    def state(inputs):
        if inputs is None:
            return None
        return ev.StepEventStateMetadata("aws:s3/bucket:Bucket", urn, "id", "", "", inputs=inputs)

    meta = ev.StepEventMetadata(
        op=op, urn=urn, type="aws:s3/bucket:Bucket", provider="", old=state(old), new=state(new)
    )
    return ev.EngineEvent(1, 0, resource_pre_event=ev.ResourcePreEvent(meta))


def test_a_previews_steps_become_changes_with_inputs_old_to_new():
    update = map_change(
        planned(
            ev.OpType.UPDATE,
            old={"tags": {"A": "1"}, "acl": "private"},
            new={"tags": {"A": "2"}, "acl": "private"},
        )
    )
    assert (update.kind, update.name, update.changed_inputs) == ("update", "assets", ("tags",))
    assert update.inputs == ({"path": "tags.A", "old": '"1"', "new": '"2"'},)
    replaced = map_change(planned(ev.OpType.CREATE_REPLACEMENT, {"name": "a"}, {"name": "b"}))
    assert replaced.kind == "replace" and replaced.inputs[0]["path"] == "name"
    assert map_change(planned(ev.OpType.SAME, {"a": 1}, {"a": 1})) is None
    root = planned(ev.OpType.CREATE, urn="urn:pulumi:s::p::pulumi:pulumi:Stack::p-s")
    root.resource_pre_event.metadata.type = "pulumi:pulumi:Stack"
    assert map_change(root) is None


def test_preview_returns_one_change_per_resource_a_replacement_included(engine, workspaces):
    class PlanningStack(FakeStack):
        def preview(self, **kwargs):
            for op in (ev.OpType.CREATE_REPLACEMENT, ev.OpType.REPLACE, ev.OpType.DELETE_REPLACED):
                kwargs["on_event"](planned(op, {"name": "a"}, {"name": "b"}))
            kwargs["on_event"](planned(ev.OpType.CREATE, None, {"x": 1}, urn="urn::new"))
            return super().preview(**kwargs)

    workspaces.stacks["D1BRV40-network-dev"] = PlanningStack()
    result = engine.preview(SPEC)
    assert [(c.name, c.kind) for c in result.changes] == [("assets", "replace"), ("new", "create")]
