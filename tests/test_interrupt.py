"""Ctrl-C during a deploy: nothing new starts, running stacks finish, the rest is cancelled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.conftest import MINI_FILES

PROGRAMS = {
    "net": "pulumi.export('vpcId', 'vpc-1')\npulumi.export('subnetIds', ['s-1'])",
    "sec": "pulumi.export('groupId', 'sg-1')",
    "db": "pulumi.export('endpoint', 'db.local')",
    "app": "pulumi.export('url', 'https://app')",
}


def write_repo(root: Path) -> None:
    for path, text in MINI_FILES.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text))
    for stack, body in PROGRAMS.items():
        program = "import time\nimport pulumi\ntime.sleep(2)\n" + body + "\n"
        (root / "stacks" / stack / "__main__.py").write_text(program)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_lets_the_running_stack_finish_and_starts_nothing_new(tmp_path):
    write_repo(tmp_path)
    events = tmp_path / "events.jsonl"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "controller.cli.main",
            "--root",
            str(tmp_path),
            "deploy",
            "D000001",
            "-e",
            "dev",
            "--engine",
            "simulate",
            "--format",
            "json",
            "--events",
            str(events),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # A terminal's foreground process has SIGINT's default disposition. A test run in
        # a background job (`.ci/run &`) inherits SIGINT ignored, and so would the child,
        # which then never sees the Ctrl-C: give it what a terminal gives.
        preexec_fn=_default_sigint,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if events.exists() and '"stack.started"' in events.read_text():
            break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1, err
    report = json.loads(out)
    states = {stack["stack"]: stack["status"] for stack in report["stacks"]}
    assert states == {"net": "succeeded", "sec": "cancelled", "db": "cancelled", "app": "cancelled"}
    assert report["status"] == "cancelled"
    assert "interrupted" in err
    state = json.loads((tmp_path / ".cloud/sim/D000001/dev/net.json").read_text())
    assert state["deployment"]["pending_operations"] == []
