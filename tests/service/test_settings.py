"""Configuration: the embedded defaults, and one clear line per bad `CLOUD_…` value."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from controller.cli.main import main
from controller.service.auth.tokens import load_or_create_secret
from controller.service.settings import Settings, load_settings
from tests.conftest import REPO_ROOT


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("CLOUD_"):
            monkeypatch.delenv(name)


def test_the_defaults_are_the_embedded_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO_ROOT / "stacks" / "network")
    settings, problems = load_settings()
    assert problems == [] and settings is not None
    assert settings.resolved_root() == REPO_ROOT
    assert settings.resolved_database() == REPO_ROOT / ".cloud" / "cloud.db"
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8000, 1)
    assert settings.repo_backend == "local" and settings.write_mode == "commit"
    assert settings.rate_limit_enabled and settings.access_token_ttl == 3600
    assert settings.refresh_token_ttl == 7 * 24 * 3600


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        ("CLOUD_PORT", "abc", "CLOUD_PORT: must be an integer, got 'abc'"),
        ("CLOUD_PORT", "70000", "CLOUD_PORT: must be at most 65535, got '70000'"),
        (
            "CLOUD_WRITE_MODE",
            "push",
            "CLOUD_WRITE_MODE: must be one of 'commit' or 'pr', got 'push'",
        ),
        (
            "CLOUD_RATE_LIMIT_ENABLED",
            "maybe",
            "CLOUD_RATE_LIMIT_ENABLED: must be true or false, got 'maybe'",
        ),
        ("CLOUD_JWT_SECRET", "short", "CLOUD_JWT_SECRET: must be at least 32 characters"),
        ("CLOUD_OIDC_ROLE_MAP", "{admins", "CLOUD_OIDC_ROLE_MAP: must be a JSON object"),
        ("CLOUD_OIDC_ALGORITHMS", "HS256", "CLOUD_OIDC_ALGORITHMS: must be a comma-separated list"),
        ("CLOUD_GITHUB_REPOSITORY", "not a repo", "CLOUD_GITHUB_REPOSITORY: has the wrong format"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, line: str
) -> None:
    monkeypatch.setenv("CLOUD_REPO_ROOT", str(REPO_ROOT))
    monkeypatch.setenv(variable, value)
    settings, problems = load_settings()
    assert settings is None
    assert len(problems) == 1 and problems[0].startswith(line), problems


def test_every_bad_value_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUD_PORT", "x")
    monkeypatch.setenv("CLOUD_WORKERS", "0")
    _, problems = load_settings()
    assert [p.split(":")[0] for p in problems] == ["CLOUD_PORT", "CLOUD_WORKERS"]


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        (
            {"CLOUD_REPO_BACKEND": "github"},
            [
                "CLOUD_GITHUB_REPOSITORY: required when CLOUD_REPO_BACKEND=github",
                "CLOUD_GITHUB_TOKEN: required when CLOUD_REPO_BACKEND=github",
            ],
        ),
        ({"CLOUD_WRITE_MODE": "pr"}, ["CLOUD_WRITE_MODE: 'pr' needs CLOUD_REPO_BACKEND=github"]),
        (
            {"CLOUD_DISPATCHER": "github"},
            [
                "CLOUD_WEBHOOK_SECRET: required when CLOUD_DISPATCHER=github",
                "CLOUD_GITHUB_REPOSITORY: required when CLOUD_DISPATCHER=github",
                "CLOUD_GITHUB_TOKEN: required when CLOUD_DISPATCHER=github",
            ],
        ),
        (
            {"CLOUD_OIDC_ISSUER": "https://idp"},
            [
                "CLOUD_OIDC_AUDIENCE: required when any CLOUD_OIDC_* is set",
                "CLOUD_OIDC_JWKS_URL: required when any CLOUD_OIDC_* is set",
            ],
        ),
        (
            {"CLOUD_OIDC_ROLE_MAP": '{"admins": "Root"}'},
            ["CLOUD_OIDC_ROLE_MAP: group 'admins' maps to 'Root', which is not a role"],
        ),
        (
            {"CLOUD_RATE_LIMIT_TIERS": '{"free": {"second": 1}}'},
            ["CLOUD_RATE_LIMIT_TIERS: tier 'free' has unknown window(s) second"],
        ),
    ],
)
def test_settings_that_only_make_sense_together(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], expected: list[str]
) -> None:
    monkeypatch.setenv("CLOUD_REPO_ROOT", str(REPO_ROOT))
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    _, problems = load_settings()
    assert len(problems) == len(expected)
    for problem, line in zip(problems, expected, strict=True):
        assert problem.startswith(line)


def test_a_folder_without_stacks_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CLOUD_REPO_ROOT", str(tmp_path))
    _, problems = load_settings()
    assert problems == [
        f"CLOUD_REPO_ROOT: {tmp_path} has no stacks/ folder (run in a repo, or set it)"
    ]


def test_cloud_serve_stops_before_binding_on_bad_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLOUD_PORT", "abc")
    assert main(["--root", str(REPO_ROOT), "serve"]) == 2
    assert "CLOUD_PORT: must be an integer, got 'abc'" in capsys.readouterr().err


def test_the_signing_secret_is_generated_once_readable_only_by_its_owner(tmp_path: Path) -> None:
    first = load_or_create_secret(tmp_path / ".cloud")
    path = tmp_path / ".cloud" / "jwt-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32
    assert load_or_create_secret(tmp_path / ".cloud") == first


@pytest.mark.parametrize(
    "variable", ["CLOUD_WEBHOOK_SECRET", "CLOUD_GITHUB_TOKEN", "CLOUD_JWT_SECRET"]
)
@pytest.mark.parametrize("blank", ["", " ", " " * 40, "\t\n "])
def test_a_secret_that_is_blank_after_stripping_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, variable: str, blank: str
) -> None:
    monkeypatch.setenv("CLOUD_REPO_ROOT", str(REPO_ROOT))
    monkeypatch.setenv(variable, blank)
    settings, problems = load_settings()
    assert settings is None
    assert problems == [f"{variable}: is set but blank; give a real secret, or unset it"]


def test_settings_are_frozen() -> None:
    settings = Settings(repo_root=REPO_ROOT)
    with pytest.raises(ValueError):
        settings.port = 1  # type: ignore[misc]


def test_the_github_dispatcher_does_not_start_without_a_webhook_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLOUD_DISPATCHER", "github")
    monkeypatch.setenv("CLOUD_GITHUB_REPOSITORY", "acme/infra")
    monkeypatch.setenv("CLOUD_GITHUB_TOKEN", "t")
    assert main(["--root", str(REPO_ROOT), "serve"]) == 2
    assert "CLOUD_WEBHOOK_SECRET: required when CLOUD_DISPATCHER=github" in capsys.readouterr().err
