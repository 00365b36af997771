"""The controller's hash locks: what CI, users, the action and the image install.

`requirements.txt` (runtime) and `requirements-dev.txt` (runtime and the dev extra) are
compiled from pyproject.toml's ranges with the catalog's `stacks/requirements.lock` as a
constraint. These tests fail when a lock is stale (a range it does not satisfy, a package it
misses), when the locks disagree on a shared package, and when an install path stops
installing from them with hashes.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement

from controller.action.commands import check_install
from controller.action.context import ActionError, ActionInputs
from controller.core.pins import normalize_name, parse_pins
from tests.conftest import REPO_ROOT

RUNTIME_LOCK = REPO_ROOT / "requirements.txt"
DEV_LOCK = REPO_ROOT / "requirements-dev.txt"
CATALOG_LOCK = REPO_ROOT / "stacks/requirements.lock"
LOCKS = (RUNTIME_LOCK, DEV_LOCK, CATALOG_LOCK)
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
ACTION = yaml.safe_load((REPO_ROOT / "action.yml").read_text())
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$")
_HASH = re.compile(r"^--hash=sha256:[0-9a-f]{64}$")


def entries(path) -> dict[str, tuple[str, list[str]]]:
    """{normalized name: (version, hashes)}, the file read as pip joins its lines."""
    text = path.read_text().replace("\\\n", " ")
    found: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        tokens = re.sub(r"(^|\s)#.*$", "", line).split()
        if not tokens:
            continue
        pin = _PIN.match(tokens[0])
        assert pin, f"{path.name}: {tokens[0]!r} is not an exact pin (name==version)"
        assert all(_HASH.match(t) for t in tokens[1:]), f"{path.name}: {line.strip()[:80]}"
        found[normalize_name(pin[1])] = (pin[2], tokens[1:])
    return found


def declared(*extras: str) -> list[Requirement]:
    project = PYPROJECT["project"]
    lines = [*project["dependencies"], *PYPROJECT["build-system"]["requires"]]
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    return [Requirement(line) for line in lines]


def step(name_or_id: str) -> dict:
    return next(
        s
        for s in ACTION["runs"]["steps"]
        if name_or_id in (s.get("id"), s.get("name")) or s.get("name", "").startswith(name_or_id)
    )


@pytest.mark.parametrize("path", LOCKS, ids=lambda p: p.name)
def test_every_package_is_pinned_exactly_with_at_least_one_hash(path):
    locked = entries(path)
    assert locked, f"{path.name} pins nothing"
    assert all(hashes for _, hashes in locked.values()), path.name


@pytest.mark.parametrize(
    ("path", "extras"), [(RUNTIME_LOCK, ()), (DEV_LOCK, ("dev",))], ids=["runtime", "dev"]
)
def test_each_lock_holds_what_pyproject_declares_inside_its_ranges(path, extras):
    locked = entries(path)
    for requirement in declared(*extras):
        name = normalize_name(requirement.name)
        assert name in locked, f"{path.name} lacks {requirement} (regenerate: pyproject.toml)"
        version = locked[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{path.name} pins {name}=={version}, outside pyproject.toml's {requirement}"
        )


def test_the_three_locks_agree_on_every_package_they_share():
    pins = {path.name: parse_pins(path.read_text()) for path in LOCKS}
    disagreements = [
        f"{name}: {first}={pins[first][name]}, {second}={pins[second][name]}"
        for index, first in enumerate(pins)
        for second in list(pins)[index + 1 :]
        for name in pins[first].keys() & pins[second].keys()
        if pins[first][name] != pins[second][name]
    ]
    assert not disagreements
    shared = pins["requirements.txt"].keys() & pins["requirements.lock"].keys()
    assert {"pulumi", "grpcio", "protobuf"} <= shared  # the constraint has something to do


def test_ci_tests_every_version_the_action_installs():
    assert entries(RUNTIME_LOCK).keys() <= entries(DEV_LOCK).keys()


def _pip_installs(command: str) -> list[str]:
    return [part.strip() for part in command.split("&&") if "pip install" in part]


def test_the_readme_install_is_ci_s_and_installs_only_locked_packages():
    readme = (REPO_ROOT / "README.md").read_text()
    install = next(line for line in readme.splitlines() if line.rstrip().endswith("# install"))
    install = install.split("#")[0].strip()
    ci = (REPO_ROOT / ".ci/run").read_text()
    ci_install = ci.split('step "install (README)"')[1].split("|| exit 1")[0]
    ci_install = " ".join(ci_install.replace("\\\n", " ").replace(" -q ", " ").split())
    assert ci_install == install
    installs = _pip_installs(install)
    assert installs[0].endswith(
        "pip install --require-hashes -r stacks/requirements.lock -r requirements-dev.txt"
    )
    assert installs[1:] == [".venv/bin/pip install --no-deps --no-build-isolation -e ."]


def test_the_image_installs_the_runtime_lock_then_the_controller_alone():
    dockerfile = (REPO_ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    run = next(line for line in dockerfile.splitlines() if "pip install" in line)
    installs = _pip_installs(run)
    assert [("--require-hashes -r requirements.txt" in i, "--no-deps" in i) for i in installs] == [
        (True, False),
        (False, True),
    ]
    assert "requirements.txt" in next(
        line for line in dockerfile.splitlines() if line.startswith("COPY pyproject.toml")
    )


def test_dependabot_reads_the_controller_locks():
    config = yaml.safe_load((REPO_ROOT / ".github/dependabot.yml").read_text())
    pip = next(u for u in config["updates"] if u["package-ecosystem"] == "pip")
    for path in (RUNTIME_LOCK, DEV_LOCK):
        assert "/" + str(path.parent.relative_to(REPO_ROOT)).strip(".") in pip["directories"]
        assert path.suffix in {".txt", ".in"}  # the requirement files dependabot's pip reads


# --- the action's install, run as GitHub runs a bash step -----------------------------------


def run_step(name: str, cwd, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step(name)["run"]],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def cache_key(action_path, repo, tmp_path) -> str:
    output = tmp_path / "github_output"
    output.unlink(missing_ok=True)
    env = {
        "ACTION_PATH": str(action_path),
        "PYTHON_VERSION": "3.11.9",
        "RUNNER_OS": "Linux",
        "RUNNER_ARCH": "X64",
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_OUTPUT": str(output),
    }
    completed = run_step("install-key", repo, env)
    assert completed.returncode == 0, completed.stderr
    return dict(line.split("=", 1) for line in output.read_text().splitlines())["key"]


def test_the_install_cache_key_follows_the_controller_lock_and_needs_no_catalog_lock(tmp_path):
    action = tmp_path / "action"
    action.mkdir()
    for name in ("pyproject.toml", "requirements.txt"):
        (action / name).write_text((REPO_ROOT / name).read_text())
    repo = tmp_path / "repo"
    (repo / "stacks").mkdir(parents=True)
    without_lock = cache_key(action, repo, tmp_path)  # a repo with no catalog lock
    (repo / "stacks/requirements.lock").write_text(CATALOG_LOCK.read_text())
    with_lock = cache_key(action, repo, tmp_path)
    (action / "requirements.txt").write_text(RUNTIME_LOCK.read_text() + "# another lock\n")
    assert len({without_lock, with_lock, cache_key(action, repo, tmp_path)}) == 3


SHIM = """#!/usr/bin/env bash
# python and pip at the edge: each call logged; `-m venv DIR` makes DIR/bin/{python,cloud}
printf '%s\\n' "$*" >> "$SHIM_LOG"
if [ "$1" = -m ] && [ "$2" = venv ]; then
  mkdir -p "$3/bin" && cp "$0" "$3/bin/python"
  printf '#!/usr/bin/env bash\\nprintf "cloud %%s\\\\n" "$*" >> "$SHIM_LOG"\\n' > "$3/bin/cloud"
  chmod +x "$3/bin/cloud"
fi
if [ "$*" = "-m pip check" ]; then exit "${SHIM_PIP_CHECK:-0}"; fi
exit 0
"""


def install(tmp_path, *, catalog_lock: bool, pip_check: int = 0):
    shims = tmp_path / "shims"
    shims.mkdir(exist_ok=True)
    python = shims / "python"
    python.write_text(SHIM)
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    repo = tmp_path / "repo"
    (repo / "stacks").mkdir(parents=True, exist_ok=True)
    if catalog_lock:
        (repo / "stacks/requirements.lock").write_text(CATALOG_LOCK.read_text())
    log = tmp_path / "calls.log"
    env = {
        "PATH": f"{shims}{os.pathsep}{os.environ['PATH']}",
        "SHIM_LOG": str(log),
        "SHIM_PIP_CHECK": str(pip_check),
        "ACTION_PATH": str(REPO_ROOT),
        "VENV": str(tmp_path / "venv"),
        "CACHE_HIT": "",
        "INSTALLED": "false",
        "KEY": "cloud-venv-test",
    }
    completed = run_step("Install cloud", repo, env)
    calls = log.read_text().splitlines() if log.exists() else []
    return completed, [c.replace(str(REPO_ROOT), "$ACTION_PATH") for c in calls]


def test_the_action_installs_its_lock_then_itself_then_the_catalog_s_then_checks(tmp_path):
    completed, calls = install(tmp_path, catalog_lock=True)
    assert completed.returncode == 0, completed.stderr
    pip = "-m pip install --disable-pip-version-check --quiet"
    assert calls == [
        f"-m venv {tmp_path / 'venv'}",
        f"{pip} --require-hashes -r $ACTION_PATH/requirements.txt",
        f"{pip} --no-deps --no-build-isolation $ACTION_PATH",
        f"{pip} --require-hashes -r stacks/requirements.lock",
        "cloud action check-install",
        "-m pip check",
    ]
    assert (tmp_path / "venv/.cloud-install-key").read_text() == "cloud-venv-test\n"


def test_a_catalog_pin_outside_cloud_s_ranges_fails_the_install_loudly(tmp_path):
    completed, calls = install(tmp_path, catalog_lock=True, pip_check=1)
    assert completed.returncode == 1
    assert "::error title=cloud install::pip check found requirements" in completed.stdout
    assert calls[-1] == "-m pip check"
    assert not (tmp_path / "venv/.cloud-install-key").exists()  # not reused as installed


def test_without_a_catalog_lock_the_controller_lock_alone_is_installed_and_checked(tmp_path):
    completed, calls = install(tmp_path, catalog_lock=False)
    assert completed.returncode == 0, completed.stderr
    assert not any("stacks/requirements.lock" in call or "cloud " in call for call in calls)
    assert calls[-1] == "-m pip check"


def test_check_install_names_each_controller_pin_the_catalog_overrides(tmp_path, capsys):
    catalog = CATALOG_LOCK.read_text()
    locked = parse_pins(RUNTIME_LOCK.read_text())
    assert f"pulumi=={locked['pulumi']}" in catalog
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks/requirements.lock").write_text(
        catalog.replace(f"pulumi=={locked['pulumi']}", "pulumi==3.200.0")
    )
    inputs = ActionInputs("check-install", tmp_path, env={"ACTION_PATH": str(REPO_ROOT)})
    assert check_install(inputs, None) == 0
    notices = capsys.readouterr().out.splitlines()
    assert notices == [
        "::notice title=cloud install::stacks/requirements.lock pins pulumi 3.200.0, "
        f"cloud's requirements.txt {locked['pulumi']}: 3.200.0 is installed"
    ]
    (tmp_path / "stacks/requirements.lock").write_text(catalog)
    assert check_install(inputs, None) == 0
    assert capsys.readouterr().out == ""  # the shipped locks agree: nothing to say


def test_check_install_names_the_lock_it_cannot_read(tmp_path):
    inputs = ActionInputs("check-install", tmp_path, env={"ACTION_PATH": str(REPO_ROOT)})
    with pytest.raises(ActionError, match=r"stacks/requirements\.lock"):
        check_install(inputs, None)
