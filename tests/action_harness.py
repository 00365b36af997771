"""Runs action.yml's `run:` steps as GitHub would: the step's `if:` and `env:` evaluated from
the inputs, the script run by bash in the working directory, outputs read back from
`$GITHUB_OUTPUT`. Steps that `uses:` another action are skipped (setup-python: this test
runs in the project's own Python), and so are the install cache and the pip install of the
controller (installed).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from controller.action.context import parse_outputs as read_outputs
from tests.conftest import REPO_ROOT

ACTION = yaml.safe_load((REPO_ROOT / "action.yml").read_text())
# setup-python, the cache and the install: this test runs in the project's own Python
INSTALL_STEPS = {"Key of the install cache", "Install cloud and the catalog's locked packages"}
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@dataclass
class ActionRun:
    code: int
    outputs: dict[str, str]
    stdout: str
    stderr: str
    summary: str


def defaults() -> dict[str, str]:
    return {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}


def _value(expression: str, inputs: dict[str, str]) -> str:
    expression = expression.strip()
    if expression.startswith("inputs."):
        return inputs[expression[len("inputs.") :]]
    if expression == "github.action_path":
        return str(REPO_ROOT)
    if expression == "steps.install-key.outputs.venv":
        return sys.prefix  # the project's own environment plays the cached one
    raise AssertionError(f"the harness does not know {expression!r}")


def _condition(text: str, inputs: dict[str, str]) -> bool:
    python = re.sub(r"inputs\.([\w-]+)", lambda m: repr(inputs[m.group(1)]), text)
    python = python.replace("&&", " and ").replace("||", " or ").replace("always()", "True")
    return bool(eval(python, {"__builtins__": {}}))


def run_action(
    root: Path, work: Path, *, env: dict[str, str] | None = None, **given: str
) -> ActionRun:
    inputs = defaults() | {key.replace("_", "-"): value for key, value in given.items()}
    output = work / "github_output"
    summary = work / "step_summary"
    base_env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
        "RUNNER_TEMP": str(work / "runner-temp"),
        **(env or {}),
    }
    stdout = stderr = ""
    code = 0
    for step in ACTION["runs"]["steps"]:
        if "run" not in step or step.get("name") in INSTALL_STEPS:
            continue
        if code and "always()" not in step.get("if", ""):
            continue  # after a failed step only `if: always()` steps run
        if "if" in step and not _condition(step["if"], inputs):
            continue
        step_env = {
            name: _EXPRESSION.sub(lambda m: _value(m.group(1), inputs), str(value))
            for name, value in (step.get("env") or {}).items()
        }
        directory = root / _EXPRESSION.sub(
            lambda m: _value(m.group(1), inputs), step.get("working-directory", ".")
        )
        completed = subprocess.run(
            ["bash", "-e", "-c", step["run"]],
            cwd=directory,
            env=base_env | step_env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        stdout += completed.stdout
        stderr += completed.stderr
        code = code or completed.returncode
    return ActionRun(
        code, parse_outputs(output), stdout, stderr, summary.read_text() if summary.exists() else ""
    )


def parse_outputs(path: Path) -> dict[str, str]:
    """What the steps wrote to `$GITHUB_OUTPUT`, as GitHub reads it."""
    return read_outputs(path.read_text()) if path.exists() else {}
