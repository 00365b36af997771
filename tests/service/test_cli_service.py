"""`cloud users` and `cloud serve` as a new user runs them: create the first administrator,
start the service on a checkout, and walk the seeds' Example 2 over real HTTP."""

from __future__ import annotations

import gc
import io
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from controller.cli import INTERPRETER_GC_THRESHOLDS
from controller.cli.main import main
from controller.service.http.rate_limits import TIER_NAMES as SERVICE_TIERS
from controller.store.sqlite import open_store
from tests.service.serving import free_port, start_service

PASSWORD = "a long enough password"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("CLOUD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CLOUD_DATA_DIR", str(tmp_path / ".cloud"))
    return tmp_path / ".cloud"


def add_user(
    monkeypatch: pytest.MonkeyPatch, root: Path, *args: str, password: str = PASSWORD
) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    return main(["--root", str(root), "users", "add", *args, "--password-stdin"])


def test_users_add_creates_a_user_with_a_scrypt_hash(
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
    repo_copy: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = add_user(monkeypatch, repo_copy, "admin", "--role", "Administrator", "--org", "CompanyA")
    assert code == 0
    assert "created user admin (Administrator)" in capsys.readouterr().out
    store = open_store(data_dir / "cloud.db")
    user = store.get_user_by_username("admin")
    store.close()
    assert user is not None and user.roles == ("Administrator",)
    assert user.password_hash is not None and user.password_hash.startswith("scrypt$16384$")
    assert PASSWORD not in user.password_hash
    assert main(["--root", str(repo_copy), "users", "list"]) == 0
    assert "admin" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "password", "message"),
    [
        (["bob", "--role", "Root"], PASSWORD, "unknown role(s) 'Root'"),
        (["bob", "--role", "Developer"], "short", "at least 10 characters"),
    ],
)
def test_users_add_refuses_bad_input_with_exit_2(
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
    repo_copy: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    password: str,
    message: str,
) -> None:
    assert add_user(monkeypatch, repo_copy, *args, password=password) == 2
    assert message in capsys.readouterr().err


def test_a_username_is_taken_once(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, repo_copy: Path
) -> None:
    assert add_user(monkeypatch, repo_copy, "alice", "--role", "Developer") == 0
    assert add_user(monkeypatch, repo_copy, "alice", "--role", "Auditor") == 2


def test_the_cli_knows_the_services_tiers() -> None:
    from controller.cli.service_commands import TIER_NAMES

    assert TIER_NAMES == SERVICE_TIERS


def test_cloud_serve_runs_with_the_interpreters_collector_thresholds(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, repo_copy: Path
) -> None:
    """The short commands raise the collector's thresholds; the server must not keep
    them: a first generation of 200,000 objects is one long pause for every request in
    flight (bench/api.py's p99)."""
    during: list[tuple[int, ...]] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **options: during.append(gc.get_threshold()))
    before = gc.get_threshold()
    try:
        assert main(["--root", str(repo_copy), "serve", "--port", str(free_port())]) == 0
    finally:
        gc.set_threshold(*before)
    assert during == [INTERPRETER_GC_THRESHOLDS]
    assert INTERPRETER_GC_THRESHOLDS[0] < 200_000  # what `main` sets for the others


@pytest.fixture
def served(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, checkout: Path
) -> Iterator[tuple[str, Path]]:
    assert add_user(monkeypatch, checkout, "admin", "--role", "Administrator") == 0
    port = free_port()
    process = start_service(checkout, port, data_dir.parent / "serve.log")
    try:
        yield f"http://127.0.0.1:{port}", checkout
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_cloud_serve_runs_example_2_over_http(served: tuple[str, Path]) -> None:
    url, root = served
    with httpx.Client(base_url=url, timeout=10) as http:
        login = http.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
        assert login.status_code == 200, login.text
        assert "server" not in login.headers  # the stack is not advertised
        assert login.headers["x-content-type-options"] == "nosniff" and "date" in login.headers
        headers = {"Authorization": f"Bearer {login.json()['data']['accessToken']}"}
        created = http.post(
            "/api/v1/deployments",
            headers=headers,
            json={
                "organization": "CompanyA",
                "project": "ecommerce-platform",
                "domain": "ecommerce.companyA.com",
                "template": "default",
                "region": "us-east-1",
                "accounts": {"dev": "111111111111"},
                "contact": {"email": "platform@companyA.com", "team": "Platform"},
            },
        )
        assert created.status_code == 201, created.text
        deployment_id = created.json()["data"]["deploymentId"]
        commit = created.json()["data"]["change"]["commit"]
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        assert commit == head
        listed = http.get("/api/v1/deployments", headers=headers).json()["data"]["deployments"]
        assert deployment_id in [d["deploymentId"] for d in listed]
        shown = http.get(f"/api/v1/deployments/{deployment_id}", headers=headers)
        assert shown.json()["data"]["organization"] == "CompanyA"
        validated = http.post(f"/api/v1/deployments/{deployment_id}/validate", headers=headers)
        assert validated.json()["data"]["valid"] is True
        assert http.get("/docs").status_code == 200
    assert (root / ".cloud").exists() is False  # CLOUD_DATA_DIR was elsewhere
