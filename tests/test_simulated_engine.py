"""The simulated engine on small real programs under Pulumi's mock runtime."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from controller.engines.base import DeployRecord, EngineError, StackBusyError, StackSpec
from controller.engines.simulated import SimulatedEngine
from controller.engines.state_secrets import SECRET_SIGNATURE, SIGNATURE

PROGRAM = """\
import pulumi, pulumi_aws as aws
cfg = pulumi.Config()
bucket = aws.s3.Bucket("assets", bucket=cfg.require("name"), tags={"Team": cfg.get("team") or "a"})
if cfg.get_bool("withLogs"):
    aws.s3.Bucket("logs", bucket=cfg.require("name") + "-logs")
pulumi.export("bucketName", bucket.bucket)
pulumi.export("token", pulumi.Output.secret("s3cr3t"))
"""
RECORD = DeployRecord(
    fingerprint="f1",
    components={"config": {}},
    consumed={"a.b": "c"},
    deployed_at="2026-01-01T00:00:00Z",
)


@pytest.fixture
def program(tmp_path):
    folder = tmp_path / "stacks" / "bucket"
    folder.mkdir(parents=True)
    (folder / "__main__.py").write_text(PROGRAM)
    return folder


@pytest.fixture
def engine(tmp_path):
    return SimulatedEngine(state_dir=tmp_path / ".cloud" / "sim")


def spec(program, stack="bucket", **config):
    return StackSpec(
        "D000001",
        stack,
        "dev",
        program,
        {"name": "b1", **config},
        context={"region": "eu-west-1", "account": "111111111111"},
    )


def test_first_up_creates_and_records(engine, program):
    result = engine.up(spec(program), record=RECORD)
    assert result.simulated and result.counts["create"] == 1
    assert result.outputs == {"bucketName": "b1", "token": "s3cr3t"}
    assert result.masked_outputs() == {"bucketName": "b1", "token": "[secret]"}
    assert engine.record(spec(program)) == RECORD
    assert engine.outputs(spec(program)) == (
        {"bucketName": "b1", "token": "s3cr3t"},
        frozenset({"token"}),
    )
    assert engine.list_instances("D000001", "dev") == ["bucket"]


def test_diff_reports_same_update_create_delete_with_changed_inputs(engine, program):
    engine.up(spec(program), record=RECORD)
    again = engine.up(spec(program), record=RECORD)
    assert not again.changed and again.counts["same"] == 1
    updated = engine.preview(spec(program, team="b"))
    [change] = updated.changes
    assert (change.kind, change.changed_inputs) == ("update", ("tags",))
    grown = engine.up(spec(program, withLogs=True), record=RECORD)
    assert (grown.counts["create"], grown.counts["same"]) == (1, 1)
    shrunk = engine.up(spec(program), record=RECORD)
    assert shrunk.counts["delete"] == 1
    assert [c.name for c in shrunk.changes if c.kind == "delete"] == ["logs"]


def test_preview_changes_nothing(engine, program):
    engine.preview(spec(program))
    assert not engine.exists(spec(program))


def test_destroy_removes_all_state(engine, program, tmp_path):
    engine.up(spec(program), record=RECORD)
    result = engine.destroy(spec(program))
    assert result.counts["delete"] == 1
    assert not engine.exists(spec(program))
    assert not (tmp_path / ".cloud" / "sim" / "D000001").exists()


def test_export_then_import_round_trips_exactly(engine, program, tmp_path):
    engine.up(spec(program), record=RECORD)
    exported = engine.export_state(spec(program))
    other = SimulatedEngine(state_dir=tmp_path / "elsewhere")
    other.import_state(spec(program), json.loads(json.dumps(exported)))
    assert other.export_state(spec(program)) == exported
    assert other.record(spec(program)) == RECORD


def test_secret_outputs_are_sealed_at_rest_and_open_only_with_their_folders_key(
    engine, program, tmp_path
):
    engine.up(spec(program), record=RECORD)
    text = (tmp_path / ".cloud/sim/D000001/dev/bucket.json").read_text()
    assert "s3cr3t" not in text and "cloud-sim-v1:" in text
    assert engine.outputs(spec(program))[0]["token"] == "s3cr3t"
    other = SimulatedEngine(state_dir=tmp_path / "elsewhere")
    other.import_state(spec(program), engine.export_state(spec(program)))
    with pytest.raises(EngineError, match="output token of D000001-bucket-dev: the secret cannot"):
        other.outputs(spec(program))


def test_an_imported_state_with_plaintext_secrets_is_sealed_as_it_is_written(
    engine, program, tmp_path
):
    engine.up(spec(program), record=RECORD)
    state = engine.export_state(spec(program))
    root = state["deployment"]["resources"][0]
    root["outputs"]["token"] = {SIGNATURE: SECRET_SIGNATURE, "plaintext": json.dumps("imported")}
    engine.import_state(spec(program), state)
    text = (tmp_path / ".cloud/sim/D000001/dev/bucket.json").read_text()
    assert "imported" not in text and "plaintext" not in text
    assert engine.outputs(spec(program))[0]["token"] == "imported"


def test_importing_something_else_is_refused(engine, program):
    with pytest.raises(EngineError, match="not a stack checkpoint"):
        engine.import_state(spec(program), {"resources": []})


def test_a_failing_program_leaves_the_previous_state_untouched(engine, program):
    engine.up(spec(program), record=RECORD)
    before = engine.export_state(spec(program))
    (program / "__main__.py").write_text("raise RuntimeError('quota exceeded')\n")
    with pytest.raises(EngineError, match="RuntimeError: quota exceeded"):
        engine.up(spec(program), record=RECORD)
    assert engine.export_state(spec(program)) == before


def test_a_locked_stack_is_busy_until_cancelled(engine, program):
    lock = engine._lock_path(spec(program))
    lock.parent.mkdir(parents=True)
    lock.write_text("update by pid 1\n")
    with pytest.raises(StackBusyError, match="cloud cancel"):
        engine.up(spec(program), record=RECORD)
    engine.cancel(spec(program))
    assert engine.up(spec(program), record=RECORD).counts["create"] == 1


def test_an_update_in_flight_shows_as_a_pending_operation(engine, program):
    (program / "__main__.py").write_text("import time\ntime.sleep(3)\n" + PROGRAM)
    worker = threading.Thread(target=engine.up, args=(spec(program),), kwargs={"record": RECORD})
    worker.start()
    deadline = time.monotonic() + 10
    seen = []
    while time.monotonic() < deadline and not seen:
        seen = engine.pending_operations(spec(program))
        time.sleep(0.05)
    worker.join()
    assert seen and seen[0]["type"] == "updating"
    assert engine.pending_operations(spec(program)) == []


KILLED_UPDATE = """\
import sys
from pathlib import Path
from controller.engines.base import DeployRecord, StackSpec
from controller.engines.simulated import SimulatedEngine
from controller.engines.state_secrets import SECRET_SIGNATURE, SIGNATURE
engine = SimulatedEngine(state_dir=Path(sys.argv[1]))
spec = StackSpec("D000001", "bucket", "dev", Path(sys.argv[2]), {"name": "b2"},
                 context={"region": "eu-west-1", "account": "111111111111"})
engine.up(spec, record=DeployRecord("f2", {}, {}, "2026-01-02T00:00:00Z"))
"""


def test_cancel_after_a_killed_update_restores_the_state_before_it(engine, program, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    engine.up(spec(program), record=RECORD)
    before = engine.export_state(spec(program))
    (program / "__main__.py").write_text("import time\ntime.sleep(60)\n" + PROGRAM)
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_UPDATE, str(engine.state_dir), str(program)],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not engine.pending_operations(spec(program)):
            time.sleep(0.05)
        assert engine.pending_operations(spec(program)), "the update never started"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    with pytest.raises(StackBusyError):
        engine.up(spec(program), record=RECORD)
    engine.cancel(spec(program))
    assert engine.pending_operations(spec(program)) == []
    assert engine.export_state(spec(program)) == before


def test_cancel_keeps_pending_operations_it_did_not_write(engine, program):
    engine.up(spec(program), record=RECORD)
    state = engine.export_state(spec(program))
    foreign = {"type": "creating", "resource": {"urn": "urn:x", "type": "aws:s3/bucket:Bucket"}}
    state["deployment"]["pending_operations"] = [foreign]
    engine.import_state(spec(program), state)
    engine.cancel(spec(program))
    assert engine.pending_operations(spec(program)) == [foreign]


def test_the_operations_environment_reaches_the_program(engine, program):
    from dataclasses import replace

    (program / "__main__.py").write_text(
        PROGRAM + "import os\npulumi.export('release', os.environ.get('RELEASE', 'unset'))\n"
    )
    result = engine.up(replace(spec(program), env={"RELEASE": "42"}), record=RECORD)
    assert result.outputs["release"] == "42"
