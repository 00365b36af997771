"""Shared fixtures: a tiny in-memory catalog for the pure core, and repo copies for the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# Where the CLI records its operations and whom `cloud logs` asks: never a developer's own
LOCAL_STATE_VARIABLES = (
    "CLOUD_DATABASE",
    "CLOUD_DATA_DIR",
    "CLOUD_DATABASE_URL",
    "CLOUD_URL",
    "CLOUD_API_KEY",
)


@pytest.fixture(autouse=True, scope="session")
def _no_local_state_from_the_environment():
    with pytest.MonkeyPatch.context() as patch:
        for name in LOCAL_STATE_VARIABLES:
            patch.delenv(name, raising=False)
        yield


MINI_FILES = {
    "stacks/net/stack.yaml": """\
        name: net
        displayName: Net
        category: network
        estimatedDuration: 100
        outputs:
          vpcId: {type: string}
          subnetIds: {type: array}
        configuration:
          cidr: {type: string, default: 10.0.0.0/16}
          zones: {type: integer, default: 2, min: 2, max: 3}
        """,
    "stacks/sec/stack.yaml": """\
        name: sec
        displayName: Security
        category: security
        dependencies: [net]
        estimatedDuration: 50
        outputs:
          groupId: {type: string}
        configuration:
          vpcId: {type: string, required: true}
        """,
    "stacks/db/stack.yaml": """\
        name: db
        displayName: Database
        category: data
        dependencies: [net, sec]
        estimatedDuration: 300
        outputs:
          endpoint: {type: string}
        configuration:
          subnetIds: {type: array, required: true}
          size: {type: integer, default: 20, min: 20, max: 100}
          engine: {type: string, default: postgres, enum: [postgres, mysql]}
        """,
    "stacks/app/stack.yaml": """\
        name: app
        displayName: App
        category: compute
        estimatedDuration: 60
        outputs:
          url: {type: string}
        configuration:
          dbEndpoint: {type: string, default: ""}
          banner: {type: string, default: hello}
        """,
    "stacks/templates/basic.yaml": """\
        name: basic
        displayName: Basic
        stacks: [net, sec, db, app]
        defaultConfig:
          sec:
            vpcId: "{{RUNTIME:net:vpcId}}"
          db:
            subnetIds: "{{RUNTIME:net:subnetIds}}"
          app:
            dbEndpoint: "{{RUNTIME:db:endpoint}}"
        environments:
          dev: {region: us-east-1, enabled: true}
          prod: {region: us-west-2, enabled: false}
        """,
    "deployments/D000001-Acme-shop/manifest.yaml": """\
        version: "3.1"
        deploymentId: D000001
        organization: Acme
        project: shop
        template: basic
        region: us-east-1
        accounts:
          dev: "111111111111"
          prod: "222222222222"
        environments:
          dev: {enabled: true}
          prod: {enabled: false, region: us-west-2}
        stacks:
          db:
            config:
              size: 40
            environments:
              prod:
                config:
                  size: 80
          app:
            config:
              banner: "db at {{RUNTIME:db:endpoint}}"
        """,
}

MANIFEST = "deployments/D000001-Acme-shop/manifest.yaml"


@pytest.fixture
def mini_files() -> dict[str, str]:
    """A four-stack catalog with one template and one deployment, as `{path: text}`."""
    return {path: textwrap.dedent(text) for path, text in MINI_FILES.items()}


def copy_catalog(root: Path) -> Path:
    """This repo's catalog and example deployments, copied to `root`."""
    for folder in ("stacks", "deployments"):
        shutil.copytree(
            REPO_ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    return root


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """A copy of this repo's catalog and example deployments, to break on purpose."""
    return copy_catalog(tmp_path / "repo")


def git(root: Path, *args: str) -> str:
    """`git -C root …` with a fixed identity for commits; its output, stripped."""
    return subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def refuse_commits(root: Path) -> None:
    """A pre-commit hook in the checkout `root` that refuses every commit."""
    hook = root / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho refused >&2\nexit 1\n")
    hook.chmod(0o755)


@pytest.fixture
def checkout(repo_copy: Path) -> Path:
    """`repo_copy` as a git checkout of `main` with everything in one commit."""
    git(repo_copy, "init", "-q", "-b", "main")
    git(repo_copy, "add", ".")
    git(repo_copy, "commit", "-qm", "seed")
    return repo_copy


@pytest.fixture
def repo(checkout: Path) -> Path:
    """`checkout` whose one commit (HEAD, the base of a change) also ignores `.cloud/`."""
    (checkout / ".gitignore").write_text(".cloud/\n")
    git(checkout, "add", ".gitignore")
    git(checkout, "commit", "-q", "--amend", "--no-edit")
    return checkout


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A folder for the action's work files, outputs and summaries."""
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def commit_change(root: Path, path: str, old: str, new: str) -> None:
    """Replace `old` by `new` in one file and commit it (`old` must be there)."""
    file = root / path
    text = file.read_text()
    assert old in text
    file.write_text(text.replace(old, new, 1))
    git(root, "commit", "-qam", "change")


# --- PostgreSQL: a real server, started by the project's own script --------------------------
#
# CLOUD_TEST_DATABASE_URL: a server to use (`.ci/run` starts one with scripts/postgres.py).
# Otherwise the first test that needs one starts it with the same script, installing
# Debian's postgresql-15 first when it is missing and this machine allows (root, apt-get).
# CLOUD_TEST_POSTGRES=require (set by `.ci/run`) makes "cannot start PostgreSQL" a failure;
# by default it is a skip that names the reason, and `skip` does not even try.


@pytest.fixture(scope="session")
def postgres_server() -> Any:
    from scripts.postgres import PostgresServer, Unavailable

    mode = os.environ.get("CLOUD_TEST_POSTGRES", "auto")
    given = os.environ.get("CLOUD_TEST_DATABASE_URL")
    if given:
        yield ExternalPostgres(given)
        return
    if mode == "skip":
        pytest.skip("PostgreSQL tests skipped: CLOUD_TEST_POSTGRES=skip")
    try:
        server = PostgresServer.start()
    except Unavailable as error:
        if mode == "require":
            pytest.fail(f"PostgreSQL is required (CLOUD_TEST_POSTGRES=require): {error}")
        pytest.skip(f"PostgreSQL could not be started here: {error}")
    try:
        yield server
    finally:
        server.stop()


class ExternalPostgres:
    """A server someone else started: databases are created and dropped on it."""

    def __init__(self, url: str) -> None:
        self.url = url

    def create_database(self) -> str:
        import secrets

        import psycopg

        name = f"test_{secrets.token_hex(6)}"
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_server: Any) -> Iterator[str]:
    """A fresh, empty database on the test server."""
    url = postgres_server.create_database()
    try:
        yield url
    finally:
        postgres_server.drop_database(url)
