"""The ten attacks of issue 14 that got through, replayed: each now answers a clear 4xx (or
stops the service at start-up) and changes nothing. One test (or two) per item, named
after it; the unit tests of each fix sit with their modules."""

from __future__ import annotations

import pytest

from controller.cli.main import main
from controller.core.webhooks import sign, verify_signature
from tests.conftest import REPO_ROOT
from tests.service.conftest import NEW, Harness

D1 = "/api/v1/deployments/D1BRV40"


# --- 8. every name pattern accepted a trailing newline -------------------------------------


def test_8_a_stack_name_with_a_trailing_newline_is_refused_and_nothing_starts(
    harness: Harness,
) -> None:
    response = harness.client.post(
        f"{D1}/stacks/network%0A/deploy", json={"environment": "dev"}, headers=harness.bearer()
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_INVALID_FORMAT"
    assert error["details"]["field"] == "stack_name"
    assert harness.store.latest_operations() == {}


def test_8_a_project_with_a_trailing_newline_is_refused_and_nothing_is_written(
    harness: Harness,
) -> None:
    before = dict(harness.source.files)
    response = harness.client.post(
        "/api/v1/deployments", json=NEW | {"project": "shop\n"}, headers=harness.bearer()
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "VALIDATION_INVALID_FORMAT"
    assert "project" in response.json()["error"]["message"]
    assert harness.source.files == before and harness.source.commits == []


# --- 1. SSRF: webhookUrl reached 100.64.0.0/10 and 6to4 ------------------------------------


def test_1_a_webhook_url_in_shared_address_space_is_refused_and_nothing_starts(
    harness: Harness,
) -> None:
    for url in ("https://100.64.0.1/", "https://100.100.100.200/", "https://[2002:7f00:1::]/"):
        response = harness.client.post(
            f"{D1}/deploy",
            json={"environment": "dev", "webhookUrl": url},
            headers=harness.bearer(),
        )
        assert response.status_code == 400, (url, response.text)
        error = response.json()["error"]
        assert error["code"] == "VALIDATION_INVALID_FORMAT"
        assert error["details"]["field"] == "webhookUrl"
        assert "not a public address" in error["message"]
    assert harness.store.latest_operations() == {}


# --- 9. webhookUrl refusals disclosed internal DNS answers ---------------------------------


def test_9_a_webhook_url_refusal_does_not_disclose_what_the_host_resolves_to(
    harness: Harness,
) -> None:
    response = harness.client.post(
        f"{D1}/deploy",
        json={"environment": "dev", "webhookUrl": "https://localhost/hook"},
        headers=harness.bearer(),
    )
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert "localhost is not a public address" in message
    assert "127.0.0.1" not in response.text and "::1" not in response.text
    assert harness.store.latest_operations() == {}


# --- 7. a blank webhook secret counted as a secret -----------------------------------------


def test_7_a_blank_webhook_secret_stops_the_service_at_start_up(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLOUD_DISPATCHER", "github")
    monkeypatch.setenv("CLOUD_WEBHOOK_SECRET", " ")
    monkeypatch.setenv("CLOUD_GITHUB_REPOSITORY", "acme/infra")
    monkeypatch.setenv("CLOUD_GITHUB_TOKEN", "t")
    assert main(["--root", str(REPO_ROOT), "serve"]) == 2
    assert "CLOUD_WEBHOOK_SECRET: is set but blank" in capsys.readouterr().err


def test_7_a_delivery_signed_with_a_blank_key_is_not_verified() -> None:
    body = b'{"action": "completed"}'
    assert not verify_signature(b" ", body, sign(b" ", body))
