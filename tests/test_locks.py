"""The controller's hash locks: what CI, users, the action and the image install.

`requirements.txt` (runtime) and `requirements-dev.txt` (runtime and the dev extra) are
compiled from pyproject.toml's ranges with the catalog's `stacks/requirements.lock` as a
constraint. These tests fail when a lock is stale (a range it does not satisfy, a package it
misses), when the locks disagree on a shared package, and when an install path stops
installing from them with hashes.
"""

from __future__ import annotations

import re
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement

from controller.core.pins import normalize_name, parse_pins
from tests.conftest import REPO_ROOT

RUNTIME_LOCK = REPO_ROOT / "requirements.txt"
DEV_LOCK = REPO_ROOT / "requirements-dev.txt"
CATALOG_LOCK = REPO_ROOT / "stacks/requirements.lock"
LOCKS = (RUNTIME_LOCK, DEV_LOCK, CATALOG_LOCK)
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
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
