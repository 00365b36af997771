"""The ten attacks of issue 14 that got through, replayed: each now answers a clear 4xx (or
stops the service at start-up) and changes nothing. One test (or two) per item, named
after it; the unit tests of each fix sit with their modules."""

from __future__ import annotations

import json
import os
import stat
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from controller.adapters.catalog_sources import LocalCatalogSource
from controller.cli.main import main
from controller.core.webhooks import sign, verify_signature
from controller.engines.base import DeployRecord, StackSpec
from controller.engines.simulated import SimulatedEngine
from controller.store.base import AuditEntry
from controller.store.sqlite import open_store
from tests.conftest import REPO_ROOT, git, refuse_commits
from tests.service.conftest import D1_FILE, NEW, Harness, HarnessFactory, example_files
from tests.service.event_helpers import receive, token_of
from tests.service.serving import free_port, start_service
from tests.service.test_oidc import AUDIENCE, ISSUER, JWKS_URL, idp, token  # noqa: F401

D1 = "/api/v1/deployments/D1BRV40"


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


# --- 2. secret config values were shown in clear --------------------------------------------

SECRET_VALUE = "hunter2-origin-verify-0123456789"


def with_secret(value: str = SECRET_VALUE) -> dict[str, str]:
    files = dict(example_files())
    manifest = yaml.safe_load(files[D1_FILE])
    manifest["stacks"]["services-api"] = {
        "config": {"apiKeyValue": value},
        "environments": {"stage": {"config": {"apiKeyValue": value + "-stage"}}},
    }
    files[D1_FILE] = yaml.safe_dump(manifest, sort_keys=False)
    return files


def test_2_a_developer_reads_secret_config_values_masked(make_harness: HarnessFactory) -> None:
    harness = make_harness(files=with_secret())
    developer = harness.bearer("dev", roles=("Developer",))
    shown = harness.client.get(D1, headers=developer)
    manifest = harness.client.get(f"{D1}/manifest", headers=developer)
    for response in (shown, manifest):
        assert response.status_code == 200, response.text
        assert SECRET_VALUE not in response.text
        stack = response.json()["data"]["manifest"]["stacks"]["services-api"]
        assert stack["config"]["apiKeyValue"] == "[secret]"
        assert stack["environments"]["stage"]["config"]["apiKeyValue"] == "[secret]"
    asked = harness.client.get(f"{D1}/manifest?showSecrets=true", headers=developer)
    assert asked.status_code == 403 and "secrets:read" in asked.json()["error"]["message"]
    assert SECRET_VALUE not in asked.text


def test_2_changes_and_commit_messages_mask_secret_values(make_harness: HarnessFactory) -> None:
    harness = make_harness(files=with_secret())
    admin = harness.bearer()
    manifest = harness.client.get(f"{D1}/manifest?showSecrets=true", headers=admin).json()
    data = manifest["data"]["manifest"]
    assert data["stacks"]["services-api"]["config"]["apiKeyValue"] == SECRET_VALUE
    data["stacks"]["services-api"]["config"]["apiKeyValue"] = "a-brand-new-secret-value"
    response = harness.client.put(f"{D1}/manifest", json=data, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["changes"] == [
        "stacks.services-api.config.apiKeyValue: [secret] → [secret] (changed)"
    ]
    assert SECRET_VALUE not in response.text and "a-brand-new-secret-value" not in response.text
    message = harness.source.commits[-1]["message"]
    assert "[secret] → [secret] (changed)" in message
    assert SECRET_VALUE not in message and "a-brand-new-secret-value" not in message
    # PUT /deployments/{id} answers the same way
    data["stacks"]["services-api"]["config"]["apiKeyValue"] = "yet-another-secret-value"
    again = harness.client.put(D1, json={"manifest": data}, headers=admin)
    assert again.status_code == 200, again.text
    assert "yet-another-secret-value" not in again.text
    assert "yet-another-secret-value" not in harness.source.commits[-1]["message"]


def test_2_a_manifest_read_masked_and_sent_back_keeps_its_secrets(
    make_harness: HarnessFactory,
) -> None:
    harness = make_harness(files=with_secret())
    admin = harness.bearer()
    data = harness.client.get(f"{D1}/manifest", headers=admin).json()["data"]["manifest"]
    data["tags"] = {"Team": "shop"}
    response = harness.client.put(f"{D1}/manifest", json=data, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["changes"] == [
        "tags.CostCenter: CC-1234 → <removed>",
        "tags.Department: Engineering → <removed>",
        "tags.Team: <new> → shop",
    ]
    stored = yaml.safe_load(harness.source.files[D1_FILE])["stacks"]["services-api"]
    assert stored["config"]["apiKeyValue"] == SECRET_VALUE
    assert stored["environments"]["stage"]["config"]["apiKeyValue"] == SECRET_VALUE + "-stage"


def test_2_an_administrator_who_asks_reads_them_in_clear_and_it_is_audited(
    make_harness: HarnessFactory,
) -> None:
    harness = make_harness(files=with_secret())
    admin = harness.bearer()
    shown = harness.client.get(f"{D1}?showSecrets=true", headers=admin)
    assert shown.status_code == 200
    stack = shown.json()["data"]["manifest"]["stacks"]["services-api"]
    assert stack["config"]["apiKeyValue"] == SECRET_VALUE
    entries, _ = harness.store.list_audit(limit=5, offset=0, actor=None, action=None)
    assert entries[0].action == "GET /api/v1/deployments/D1BRV40"
    assert entries[0].details.get("secretsShown") is True
    # a key scoped without secrets:read cannot, even an administrator's
    key = harness.api_key(["deployments:read"])
    refused = harness.client.get(f"{D1}?showSecrets=true", headers={"X-API-Key": key})
    assert refused.status_code == 403


# --- 3. API keys outlived the credential that made them ------------------------------------

KEYS = "/api/v1/auth/api-keys"
YEAR = 366 * 86_400


def make_key(harness: Harness, headers: dict[str, str], **body: Any) -> Any:
    body = {"name": "k", "permissions": ["api-keys:manage", "deployments:read"]} | body
    return harness.client.post(KEYS, json=body, headers=headers)


def test_3_a_60_second_key_cannot_mint_a_366_day_key(harness: Harness) -> None:
    parent = make_key(harness, harness.bearer(), expiresIn=60).json()["data"]
    as_parent = {"X-API-Key": parent["apiKey"]}
    response = make_key(harness, as_parent, expiresIn=YEAR)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_INVALID_FORMAT" and error["details"]["field"] == "expiresIn"
    assert "the API key making it expires at" in error["message"]
    assert len(harness.store.list_api_keys(harness.user("admin").id)) == 1  # nothing made
    # without a lifetime it gets the parent's, and is told so
    child = make_key(harness, as_parent)
    assert child.status_code == 201, child.text
    assert child.json()["data"]["expiresAt"] <= parent["expiresAt"]
    assert "expires sooner than the default" in child.json()["warning"]


def test_3_revoking_a_key_revokes_every_key_made_with_it(harness: Harness) -> None:
    admin = harness.bearer()
    first = make_key(harness, admin).json()["data"]
    second = make_key(harness, {"X-API-Key": first["apiKey"]}).json()["data"]
    third = make_key(harness, {"X-API-Key": second["apiKey"]}).json()["data"]
    other = make_key(harness, admin).json()["data"]
    revoked = harness.client.delete(f"{KEYS}/{first['keyId']}", headers=admin)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["data"]["alsoRevoked"] == [second["keyId"], third["keyId"]]
    for key in (first, second, third):
        me = harness.client.get("/api/v1/users/me", headers={"X-API-Key": key["apiKey"]})
        assert me.status_code == 401 and "revoked" in me.json()["error"]["message"]
    still = harness.client.get("/api/v1/users/me", headers={"X-API-Key": other["apiKey"]})
    assert still.status_code == 200


@pytest.mark.usefixtures("idp")
def test_3_an_oidc_user_with_a_60_second_token_cannot_mint_a_year_long_key(
    make_harness: HarnessFactory,
) -> None:
    harness = make_harness(oidc_issuer=ISSUER, oidc_audience=AUDIENCE, oidc_jwks_url=JWKS_URL)
    short = {"Authorization": f"Bearer {token(exp=int(time.time()) + 60)}"}
    response = make_key(harness, short, permissions=["deployments:read"], expiresIn=YEAR)
    assert response.status_code == 400, response.text
    assert "at most 86400 seconds" in response.json()["error"]["message"]
    made = make_key(harness, short, permissions=["deployments:read"])
    assert made.status_code == 201, made.text
    expires = datetime.fromisoformat(made.json()["data"]["expiresAt"].replace("Z", "+00:00"))
    assert expires.timestamp() <= time.time() + 86_400 + 5


@pytest.mark.usefixtures("idp")
def test_3_an_oidc_users_key_keeps_no_rights_once_the_provider_stops_vouching(
    make_harness: HarnessFactory,
) -> None:
    now = [time.time()]
    harness = make_harness(
        oidc_issuer=ISSUER,
        oidc_audience=AUDIENCE,
        oidc_jwks_url=JWKS_URL,
        services_options={"clock": lambda: now[0]},
    )
    signed_in = {"Authorization": f"Bearer {token()}"}
    key = make_key(harness, signed_in, permissions=["deployments:read"]).json()["data"]["apiKey"]
    as_key = {"X-API-Key": key}
    assert harness.client.get("/api/v1/deployments", headers=as_key).status_code == 200
    now[0] += 3601  # the provider signed nothing for the user for over an hour
    stale = harness.client.get("/api/v1/deployments", headers=as_key)
    assert stale.status_code == 401, stale.text
    assert "has not confirmed oidc:carol's roles" in stale.json()["error"]["message"]
    # a new token from the provider vouches again, with the groups it now says
    harness.client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token()}"})
    assert harness.client.get("/api/v1/deployments", headers=as_key).status_code == 200
    dropped = {"Authorization": f"Bearer {token(groups=['staff'])}"}
    harness.client.get("/api/v1/users/me", headers=dropped)
    assert harness.client.get("/api/v1/deployments", headers=as_key).status_code == 403


# --- 4. X-Forwarded-For was trusted from any loopback peer ---------------------------------


def test_4_forwarded_for_from_a_loopback_relay_neither_resets_the_budget_nor_the_audit(
    monkeypatch: pytest.MonkeyPatch, checkout: Path, tmp_path: Path
) -> None:
    for name in list(os.environ):
        if name.startswith("CLOUD_"):
            monkeypatch.delenv(name)
    data_dir = tmp_path / "data"
    port = free_port()
    # a budget of 3: the 13 tries straddle at most one minute boundary of the fixed
    # windows, so one side holds 7 or more and must meet a 429
    process = start_service(
        checkout,
        port,
        tmp_path / "serve.log",
        CLOUD_DATA_DIR=str(data_dir),
        CLOUD_RATE_LIMIT_AUTH_PER_MINUTE="3",
    )
    try:
        statuses = []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            for attempt in range(13):
                response = http.post(
                    "/api/v1/auth/login",
                    json={"username": "admin", "password": f"guess number {attempt}"},
                    headers={"X-Forwarded-For": f"203.0.113.{attempt + 1}"},
                )
                statuses.append(response.status_code)
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert statuses[:3] == [401] * 3 and 429 in statuses, statuses
    store = open_store(data_dir / "cloud.db")
    try:
        entries, total = store.list_audit(limit=50, offset=0, actor=None, action=None)
    finally:
        store.close()
    assert total == 13 and {entry.client for entry in entries} == {"127.0.0.1"}


# --- 5. a failed commit left the change staged; large writes could not commit -------------


def test_5_a_manifest_with_20000_tags_is_committed_with_its_whole_change_list(
    make_harness: HarnessFactory, checkout: Path
) -> None:
    harness = make_harness(source=LocalCatalogSource(checkout), repo_root=checkout)
    manifest = yaml.safe_load((checkout / D1_FILE).read_text())
    manifest["tags"] = {f"Tag{index:05d}": f"value-{index}" for index in range(20_000)}
    response = harness.client.put(f"{D1}/manifest", json=manifest, headers=harness.bearer())
    assert response.status_code == 200, response.text[:500]
    assert len(response.json()["data"]["changes"]) == 20_000 + 2  # two tags removed
    message = git(checkout, "log", "-1", "--format=%B")
    assert message.startswith("Update deployment D1BRV40") and "tags.Tag19999:" in message
    assert git(checkout, "status", "--porcelain") == ""


def test_5_a_refused_commit_leaves_nothing_staged(
    make_harness: HarnessFactory, checkout: Path
) -> None:
    refuse_commits(checkout)
    harness = make_harness(source=LocalCatalogSource(checkout), repo_root=checkout)
    before = (checkout / D1_FILE).read_text()
    head = git(checkout, "rev-parse", "HEAD")
    manifest = yaml.safe_load(before)
    manifest["tags"] = {"Team": "attackers"}
    response = harness.client.put(f"{D1}/manifest", json=manifest, headers=harness.bearer())
    assert response.status_code == 502, response.text
    assert response.json()["error"]["code"] == "REPOSITORY_ERROR"
    assert (checkout / D1_FILE).read_text() == before
    assert git(checkout, "diff", "--cached", "--name-only") == ""
    assert git(checkout, "status", "--porcelain") == ""
    assert git(checkout, "rev-parse", "HEAD") == head


# --- 6. malformed bodies answered 500 -------------------------------------------------------

DEEP = b"[" * 100_000 + b"]" * 100_000


def refused_as_bad_format(response: Any, fragment: str) -> None:
    assert response.status_code == 400, response.text[:300]
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_INVALID_FORMAT" and fragment in error["message"]


@pytest.mark.parametrize(
    ("method", "path", "signed_in"),
    [
        pytest.param("POST", "/api/v1/auth/login", False, id="login-unauthenticated"),
        pytest.param("PUT", f"{D1}/manifest", True, id="put-manifest"),
        pytest.param("POST", "/api/v1/stacks", True, id="post-stacks"),
        pytest.param("POST", "/api/v1/templates", True, id="post-templates"),
    ],
)
def test_6_a_100000_deep_body_is_400_before_any_model_sees_it(
    make_harness: HarnessFactory, method: str, path: str, signed_in: bool
) -> None:
    harness = make_harness(raise_server_exceptions=False)
    headers = {"Content-Type": "application/json"} | (harness.bearer() if signed_in else {})
    response = harness.client.request(method, path, content=DEEP, headers=headers)
    refused_as_bad_format(response, "nests 100000 levels deep; at most 64")
    assert harness.source.commits == []


def test_6_a_5001_digit_integer_is_400(make_harness: HarnessFactory) -> None:
    harness = make_harness(raise_server_exceptions=False)
    body = b'{"username": "admin", "password": ' + b"9" * 5001 + b"}"
    response = harness.client.post(
        "/api/v1/auth/login", content=body, headers={"Content-Type": "application/json"}
    )
    refused_as_bad_format(response, "a number of 5001 characters")


def test_6_config_values_900_arrays_deep_are_400_and_nothing_is_written(
    make_harness: HarnessFactory,
) -> None:
    harness = make_harness(raise_server_exceptions=False)
    manifest = yaml.safe_load(harness.source.files[D1_FILE])
    deep: Any = "x"
    for _ in range(900):
        deep = [deep]
    manifest["stacks"]["network"]["config"]["vpcCidr"] = deep
    response = harness.client.put(
        f"{D1}/manifest",
        content=json.dumps(manifest),
        headers=harness.bearer() | {"Content-Type": "application/json"},
    )
    refused_as_bad_format(response, "levels deep")
    assert harness.source.commits == []


def test_6_a_signed_webhook_100000_deep_is_400_and_recorded_nowhere(
    make_harness: HarnessFactory,
) -> None:
    harness = make_harness(raise_server_exceptions=False, webhook_secret="a-webhook-secret")
    response = harness.client.post(
        "/webhooks/github",
        content=DEEP,
        headers={
            "X-GitHub-Event": "workflow_run",
            "X-GitHub-Delivery": "delivery-deep-1",
            "X-Hub-Signature-256": sign(b"a-webhook-secret", DEEP),
            "Content-Type": "application/json",
        },
    )
    refused_as_bad_format(response, "levels deep")
    assert harness.store.record_delivery(
        "delivery-deep-1", event="workflow_run", at="2025-01-01T00:00:00.000Z", forget_before=""
    ), "the refused delivery was recorded"


def test_6_a_10000_deep_websocket_frame_is_answered_and_the_socket_stays_open(
    harness: Harness,
) -> None:
    with harness.client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "authenticate", "token": token_of(harness.bearer())})
        assert receive(ws)["type"] == "authenticated"
        ws.send_text("[" * 10_000 + "]" * 10_000)
        reply = receive(ws)
        assert reply["type"] == "error" and reply["code"] == "VALIDATION_INVALID_FORMAT"
        assert "levels deep" in reply["message"]
        ws.send_json({"type": "ping"})
        assert receive(ws)["type"] == "pong"


# --- 7. a blank webhook secret counted as a secret -----------------------------------------


def test_7_a_blank_webhook_secret_stops_the_service_at_start_up(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLOUD_DISPATCHER", "github")
    monkeypatch.setenv("CLOUD_WEBHOOK_SECRET", " ")
    monkeypatch.setenv("CLOUD_GITHUB_REPOSITORY", "acme/infra")
    monkeypatch.setenv("CLOUD_GITHUB_TOKEN", "t")

    def started(*args: object, **kwargs: object) -> None:
        raise AssertionError("cloud serve started with a blank CLOUD_WEBHOOK_SECRET")

    monkeypatch.setattr("uvicorn.run", started)
    assert main(["--root", str(REPO_ROOT), "serve"]) == 2
    assert "CLOUD_WEBHOOK_SECRET: is set but blank" in capsys.readouterr().err


def test_7_a_delivery_signed_with_a_blank_key_is_not_verified() -> None:
    body = b'{"action": "completed"}'
    assert not verify_signature(b" ", body, sign(b" ", body))


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


# --- 10. credential files were world-readable ----------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_10_the_store_and_its_wal_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    previous = os.umask(0o022)  # the usual umask, under which they were 0644
    try:
        store = open_store(tmp_path / ".cloud" / "cloud.db")
        try:
            store.append_audit(
                AuditEntry("2025-01-01T00:00:00.000Z", "req-1", "a", "user", "POST /x", 201, "c")
            )
            files = [tmp_path / ".cloud" / name for name in ("cloud.db", "cloud.db-wal")]
            assert all(path.exists() for path in files)
            assert [mode(path) for path in files] == [0o600, 0o600]
            assert mode(tmp_path / ".cloud") == 0o700
        finally:
            store.close()
    finally:
        os.umask(previous)


def test_10_the_simulators_state_is_private_and_holds_no_secret_in_clear(tmp_path: Path) -> None:
    program = tmp_path / "stacks" / "vault"
    program.mkdir(parents=True)
    (program / "__main__.py").write_text(
        "import pulumi\npulumi.export('password', pulumi.Output.secret('hunter2-s3cr3t'))\n"
    )
    engine = SimulatedEngine(state_dir=tmp_path / ".cloud" / "sim")
    spec = StackSpec("D000001", "vault", "dev", program, {})
    previous = os.umask(0o022)
    try:
        engine.up(spec, record=DeployRecord("f", {}, {}, "2025-01-01T00:00:00Z"))
    finally:
        os.umask(previous)
    state = tmp_path / ".cloud" / "sim" / "D000001" / "dev" / "vault.json"
    assert mode(state) == 0o600
    folders = [state.parent, state.parent.parent, state.parent.parent.parent]
    assert [mode(folder) for folder in folders] == [0o700, 0o700, 0o700]
    assert "hunter2-s3cr3t" not in state.read_text()
    assert "plaintext" not in state.read_text()
    assert engine.outputs(spec) == ({"password": "hunter2-s3cr3t"}, frozenset({"password"}))
