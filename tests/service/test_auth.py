"""Signing in, token rotation, API keys, and the attacks on each (all end in a 401)."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from controller.adapters.clock import epoch_of
from controller.core import rbac
from tests.service.conftest import PASSWORD, SECRET, Harness, HarnessFactory


def login(harness: Harness, username: str = "alice", password: str = PASSWORD) -> dict:
    response = harness.client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    return {"status": response.status_code, **response.json()}


def error_code(response) -> str:
    return response.json()["error"]["code"]


def test_login_returns_tokens_and_the_user(harness: Harness) -> None:
    harness.user("alice", (rbac.DEVELOPER,))
    result = login(harness)
    assert result["status"] == 200
    data = result["data"]
    assert data["tokenType"] == "Bearer" and data["expiresIn"] == 3600
    assert data["user"]["roles"] == [rbac.DEVELOPER]
    claims = jwt.decode(data["accessToken"], SECRET, algorithms=["HS256"], audience="cloud-api")
    assert claims["exp"] - claims["iat"] == 3600
    assert {"iss", "aud", "sub", "sid", "nbf", "jti"} <= set(claims)
    me = harness.client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {data['accessToken']}"}
    )
    assert me.json()["data"]["username"] == "alice"
    assert me.json()["data"]["authenticatedVia"] == "jwt"


@pytest.mark.parametrize(
    ("username", "password"),
    [
        pytest.param("alice", "wrong password", id="wrong password"),
        pytest.param("nobody", PASSWORD, id="unknown user"),
    ],
)
def test_bad_credentials_are_401_and_say_nothing_about_which(
    harness: Harness, username: str, password: str
) -> None:
    harness.user("alice")
    result = login(harness, username, password)
    assert result["status"] == 401
    assert result["error"]["code"] == "AUTH_INVALID_CREDENTIALS"
    assert result["error"]["message"] == "invalid username or password"


def test_a_disabled_account_cannot_sign_in(harness: Harness) -> None:
    harness.user("alice", disabled=True)
    assert login(harness)["status"] == 403


def test_login_without_a_password_is_a_400_naming_the_field(harness: Harness) -> None:
    response = harness.client.post("/api/v1/auth/login", json={"username": "alice"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_REQUIRED_FIELD"
    assert error["details"]["field"] == "password"


def test_refresh_rotates_and_reuse_of_an_old_token_ends_the_session(harness: Harness) -> None:
    harness.user("alice")
    first = login(harness)["data"]
    rotated = harness.client.post(
        "/api/v1/auth/refresh", json={"refreshToken": first["refreshToken"]}
    )
    assert rotated.status_code == 200
    second = rotated.json()["data"]
    assert second["refreshToken"] != first["refreshToken"]

    replay = harness.client.post(
        "/api/v1/auth/refresh", json={"refreshToken": first["refreshToken"]}
    )
    assert replay.status_code == 401
    assert error_code(replay) == "AUTH_INVALID_TOKEN"
    assert "reuse" in replay.json()["error"]["message"]
    # the whole session is gone: the rotated token and the access token die with it
    after = harness.client.post(
        "/api/v1/auth/refresh", json={"refreshToken": second["refreshToken"]}
    )
    assert after.status_code == 401
    me = harness.client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {second['accessToken']}"}
    )
    assert me.status_code == 401


def test_a_forged_refresh_token_is_refused(harness: Harness) -> None:
    harness.user("alice")
    token = login(harness)["data"]["refreshToken"]
    forged = token.split(".")[0] + ".not-the-secret"
    response = harness.client.post("/api/v1/auth/refresh", json={"refreshToken": forged})
    assert response.status_code == 401 and error_code(response) == "AUTH_INVALID_TOKEN"


def test_logout_revokes_the_access_token_and_the_refresh_token(harness: Harness) -> None:
    harness.user("alice")
    data = login(harness)["data"]
    headers = {"Authorization": f"Bearer {data['accessToken']}"}
    out = harness.client.post("/api/v1/auth/logout", headers=headers)
    assert out.status_code == 200 and out.json()["message"] == "Successfully logged out"
    assert harness.client.get("/api/v1/users/me", headers=headers).status_code == 401
    again = harness.client.post("/api/v1/auth/refresh", json={"refreshToken": data["refreshToken"]})
    assert again.status_code == 401


# --- attacks on access tokens -------------------------------------------------------------


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _claims(harness: Harness) -> dict:
    token = harness.bearer("alice")["Authorization"].split()[1]
    return jwt.decode(token, options={"verify_signature": False})


def _tampered(harness: Harness) -> str:
    token = harness.bearer("eve", (rbac.DEVELOPER,))["Authorization"].split()[1]
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = harness.user("alice").id  # try to become the administrator
    return f"{header}.{_b64(claims)}.{signature}"


def _alg_none(harness: Harness) -> str:
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(harness))}."


def _expired(harness: Harness) -> str:
    claims = _claims(harness) | {"exp": int(time.time()) - 600, "iat": int(time.time()) - 4200}
    return jwt.encode(claims, SECRET, algorithm="HS256")


def _wrong_audience(harness: Harness) -> str:
    return jwt.encode(_claims(harness) | {"aud": "another-api"}, SECRET, algorithm="HS256")


def _wrong_issuer(harness: Harness) -> str:
    return jwt.encode(_claims(harness) | {"iss": "someone-else"}, SECRET, algorithm="HS256")


def _other_secret(harness: Harness) -> str:
    return jwt.encode(_claims(harness), "x" * 48, algorithm="HS256")


def _no_expiry(harness: Harness) -> str:
    claims = _claims(harness)
    del claims["exp"]
    return jwt.encode(claims, SECRET, algorithm="HS256")


@pytest.mark.parametrize(
    ("forge", "code"),
    [
        pytest.param(_tampered, "AUTH_INVALID_TOKEN", id="tampered payload"),
        pytest.param(_alg_none, "AUTH_INVALID_TOKEN", id="alg none"),
        pytest.param(_expired, "AUTH_TOKEN_EXPIRED", id="expired"),
        pytest.param(_wrong_audience, "AUTH_INVALID_TOKEN", id="wrong audience"),
        pytest.param(_wrong_issuer, "AUTH_INVALID_TOKEN", id="wrong issuer"),
        pytest.param(_other_secret, "AUTH_INVALID_TOKEN", id="signed with another key"),
        pytest.param(_no_expiry, "AUTH_INVALID_TOKEN", id="no exp claim"),
    ],
)
def test_forged_access_tokens_are_401(harness: Harness, forge, code: str) -> None:
    harness.user("alice")
    token = forge(harness)
    response = harness.client.get(
        "/api/v1/deployments", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401
    assert error_code(response) == code
    assert "CompanyA" not in response.text


def test_an_access_token_of_a_disabled_user_stops_working(harness: Harness) -> None:
    headers = harness.bearer("alice")
    harness.sql("UPDATE users SET disabled = 1 WHERE username = 'alice'")
    assert harness.client.get("/api/v1/users/me", headers=headers).status_code == 401


# --- API keys -------------------------------------------------------------------------------


def test_an_api_key_is_shown_once_and_stored_only_as_a_hash(harness: Harness) -> None:
    key = harness.api_key([rbac.DEPLOYMENTS_READ])
    assert key.startswith("msk_live_") and len(key) >= len("msk_live_") + 12 + 43
    listing = harness.client.get("/api/v1/auth/api-keys", headers=harness.bearer()).json()
    assert key not in json.dumps(listing)
    with harness.store._lock:
        rows = harness.store._db.execute("SELECT * FROM api_keys").fetchall()
    assert key not in json.dumps(rows)
    entry = listing["data"]["apiKeys"][0]
    assert entry["status"] == "active" and entry["lastUsedAt"] is None
    assert entry["permissions"] == [rbac.DEPLOYMENTS_READ]


def test_an_api_key_works_records_its_use_and_is_limited_to_its_scope(harness: Harness) -> None:
    key = harness.api_key([rbac.DEPLOYMENTS_READ])
    headers = {"X-API-Key": key}
    assert harness.client.get("/api/v1/deployments", headers=headers).status_code == 200
    refused = harness.client.get("/api/v1/templates", headers=headers)
    assert refused.status_code == 403 and error_code(refused) == "AUTHZ_FORBIDDEN"
    me = harness.client.get("/api/v1/users/me", headers=headers).json()["data"]
    assert me["authenticatedVia"] == "api_key" and me["permissions"] == [rbac.DEPLOYMENTS_READ]
    listing = harness.client.get("/api/v1/auth/api-keys", headers=harness.bearer()).json()
    assert listing["data"]["apiKeys"][0]["lastUsedAt"] is not None


def test_a_revoked_api_key_is_refused_at_once(harness: Harness) -> None:
    key = harness.api_key([rbac.DEPLOYMENTS_READ])
    admin = harness.bearer()
    key_id = harness.client.get("/api/v1/auth/api-keys", headers=admin).json()["data"]["apiKeys"][
        0
    ]["keyId"]
    assert harness.client.get("/api/v1/deployments", headers={"X-API-Key": key}).status_code == 200
    revoked = harness.client.delete(f"/api/v1/auth/api-keys/{key_id}", headers=admin)
    assert revoked.status_code == 200
    response = harness.client.get("/api/v1/deployments", headers={"X-API-Key": key})
    assert response.status_code == 401 and error_code(response) == "AUTH_INVALID_TOKEN"
    listing = harness.client.get("/api/v1/auth/api-keys", headers=admin).json()
    assert listing["data"]["apiKeys"][0]["status"] == "revoked"


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("msk_live_short", id="malformed"),
        pytest.param("msk_live_" + "a" * 55, id="unknown lookup"),
        pytest.param("Bearer something", id="not a key"),
    ],
)
def test_unknown_api_keys_are_401(harness: Harness, key: str) -> None:
    response = harness.client.get("/api/v1/deployments", headers={"X-API-Key": key})
    assert response.status_code == 401 and error_code(response) == "AUTH_INVALID_TOKEN"


def test_a_key_with_the_right_lookup_and_a_wrong_secret_is_refused(harness: Harness) -> None:
    key = harness.api_key([rbac.DEPLOYMENTS_READ])
    guessed = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    response = harness.client.get("/api/v1/deployments", headers={"X-API-Key": guessed})
    assert response.status_code == 401


def test_an_expired_api_key_is_refused(harness: Harness) -> None:
    key = harness.api_key([rbac.DEPLOYMENTS_READ])
    harness.sql("UPDATE api_keys SET expires_at = '2000-01-01T00:00:00.000Z'")
    response = harness.client.get("/api/v1/deployments", headers={"X-API-Key": key})
    assert response.status_code == 401 and error_code(response) == "AUTH_TOKEN_EXPIRED"


def test_a_remembered_key_is_refused_once_it_expires(harness: Harness) -> None:
    """The verified-key cache holds a key only until its expiry: time passing is enough,
    with nothing changed in the store."""
    key = harness.api_key([rbac.DEPLOYMENTS_READ])
    listing = harness.client.get("/api/v1/auth/api-keys", headers=harness.bearer()).json()
    expires = epoch_of(listing["data"]["apiKeys"][0]["expiresAt"])
    for _ in range(3):  # verified, then answered from the cache
        assert (
            harness.client.get("/api/v1/deployments", headers={"X-API-Key": key}).status_code == 200
        )
    authenticator = harness.services.authenticator
    version = harness.services.store.read_version()
    authenticator.clock = lambda: expires - 0.5
    assert harness.client.get("/api/v1/deployments", headers={"X-API-Key": key}).status_code == 200
    authenticator.clock = lambda: expires + 0.001
    response = harness.client.get("/api/v1/deployments", headers={"X-API-Key": key})
    assert response.status_code == 401 and error_code(response) == "AUTH_TOKEN_EXPIRED"
    assert harness.services.store.read_version() == version  # refused by time alone


def test_a_key_cannot_carry_permissions_its_owner_lacks(harness: Harness) -> None:
    headers = harness.bearer("dev", (rbac.DEVELOPER,))
    response = harness.client.post(
        "/api/v1/auth/api-keys",
        json={"name": "wider", "permissions": [rbac.DEPLOYMENTS_READ, rbac.DEPLOYMENTS_CREATE]},
        headers=headers,
    )
    assert response.status_code == 403 and error_code(response) == "AUTHZ_FORBIDDEN"
    assert response.json()["error"]["details"]["notHeld"] == [rbac.DEPLOYMENTS_CREATE]


def test_a_key_narrows_further_when_its_owner_loses_a_role(harness: Harness) -> None:
    key = harness.api_key(
        [rbac.DEPLOYMENTS_READ, rbac.DEPLOYMENTS_CREATE],
        username="dm",
        roles=(rbac.DEPLOYMENT_MANAGER,),
    )
    harness.sql("UPDATE users SET roles = '[\"Developer\"]' WHERE username='dm'")
    response = harness.client.post(
        "/api/v1/deployments", json={"organization": "CompanyA"}, headers={"X-API-Key": key}
    )
    assert response.status_code == 403


def test_unknown_permissions_and_too_long_lives_are_400(harness: Harness, admin) -> None:
    unknown = harness.client.post(
        "/api/v1/auth/api-keys", json={"name": "k", "permissions": ["root"]}, headers=admin
    )
    assert unknown.status_code == 400 and error_code(unknown) == "VALIDATION_INVALID_FORMAT"
    forever = harness.client.post(
        "/api/v1/auth/api-keys",
        json={"name": "k", "permissions": [rbac.DEPLOYMENTS_READ], "expiresIn": 10**9},
        headers=admin,
    )
    assert forever.status_code == 400


def test_someone_elses_key_cannot_be_revoked(harness: Harness) -> None:
    harness.api_key([rbac.DEPLOYMENTS_READ], username="alice", roles=(rbac.DEVELOPER,))
    alice = harness.bearer("alice", (rbac.DEVELOPER,))
    key_id = harness.client.get("/api/v1/auth/api-keys", headers=alice).json()["data"]["apiKeys"][
        0
    ]["keyId"]
    bob = harness.bearer("bob", (rbac.DEVELOPER,))
    response = harness.client.delete(f"/api/v1/auth/api-keys/{key_id}", headers=bob)
    assert response.status_code == 404
    assert harness.client.get("/api/v1/auth/api-keys", headers=bob).json()["data"]["total"] == 0


def test_signing_out_with_an_api_key_is_400(harness: Harness) -> None:
    key = harness.api_key([rbac.DEPLOYMENTS_READ])
    response = harness.client.post("/api/v1/auth/logout", headers={"X-API-Key": key})
    assert response.status_code == 400
    assert harness.client.get("/api/v1/deployments", headers={"X-API-Key": key}).is_success


def test_credential_errors_keep_their_code_with_rate_limiting_off(
    make_harness: HarnessFactory,
) -> None:
    harness = make_harness(rate_limit_enabled=False)
    harness.user("alice")
    response = harness.client.get(
        "/api/v1/deployments", headers={"Authorization": f"Bearer {_expired(harness)}"}
    )
    assert response.status_code == 401 and error_code(response) == "AUTH_TOKEN_EXPIRED"
    assert "x-ratelimit-limit" not in response.headers


# --- the documents' other sign-in shapes ------------------------------------------------------


def test_login_as_documented_with_the_e_mail_and_an_mfa_code(harness: Harness) -> None:
    """seeds/001: `{"username": "user@example.com", "password": …, "mfaCode": …}`; the
    answer carries an idToken (who signed in), which is not an access token."""
    harness.user("alice", (rbac.DEVELOPER,))
    response = harness.client.post(
        "/api/v1/auth/login",
        json={"username": "alice@example.com", "password": PASSWORD, "mfaCode": "123456"},
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    claims = jwt.decode(data["idToken"], SECRET, algorithms=["HS256"], audience="cloud-api")
    assert claims["email"] == "alice@example.com" and claims["roles"] == [rbac.DEVELOPER]
    as_bearer = harness.client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {data['idToken']}"}
    )
    assert as_bearer.status_code == 401
    refreshed = harness.client.post(
        "/api/v1/auth/refresh", json={"refreshToken": data["refreshToken"]}
    ).json()["data"]
    assert jwt.decode(refreshed["idToken"], SECRET, algorithms=["HS256"], audience="cloud-api")


def test_the_form_encoded_token_endpoint_of_seeds_004(harness: Harness) -> None:
    harness.user("alice", (rbac.DEVELOPER,))
    response = harness.client.post(
        "/api/v1/token",
        content=f"username=alice&password={PASSWORD.replace(' ', '+')}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer" and body["access_token"]
    me = harness.client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.json()["data"]["username"] == "alice"
    wrong = harness.client.post(
        "/api/v1/token",
        content="username=alice&password=nope",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert wrong.status_code == 401 and error_code(wrong) == "AUTH_INVALID_CREDENTIALS"


def test_a_service_token_is_scoped_to_one_deployment_and_expires(harness: Harness) -> None:
    """seeds/004 `POST /service-token` `{service, origin, expiration_in_days: 1-180}`."""
    headers = harness.bearer("manager", (rbac.DEPLOYMENT_MANAGER,))
    response = harness.client.post(
        "/api/v1/service-token",
        json={"service": "D1BRV40", "origin": "github", "expiration_in_days": 30},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    token = {"Authorization": f"Bearer {body['service_token']}"}
    claims = jwt.decode(body["service_token"], SECRET, algorithms=["HS256"], audience="cloud-api")
    assert claims["exp"] - claims["iat"] == 30 * 86400
    own = harness.client.get("/api/v1/deployments/D1BRV40", headers=token)
    assert own.status_code == 200
    other = harness.client.get("/api/v1/deployments/D2K7Q1M", headers=token)
    assert other.status_code == 404  # outside its scope: as if it did not exist
    listed = harness.client.get("/api/v1/deployments", headers=token).json()["data"]
    assert [d["deploymentId"] for d in listed["deployments"]] == ["D1BRV40"]
    # scoped to deploying: it cannot change the catalog even though its owner could
    writes = harness.client.post("/api/v1/deployments", json={}, headers=token)
    assert writes.status_code == 403
    for days in (0, 181):
        refused = harness.client.post(
            "/api/v1/service-token",
            json={"service": "D1BRV40", "origin": "github", "expiration_in_days": days},
            headers=headers,
        )
        assert refused.status_code == 400, refused.text
    unknown = harness.client.post(
        "/api/v1/service-token",
        json={"service": "DZZZZZZ", "origin": "github", "expiration_in_days": 1},
        headers=headers,
    )
    assert unknown.status_code == 404
    # revoked like a session: signing out with it ends it
    assert harness.client.post("/api/v1/auth/logout", headers=token).status_code == 200
    assert harness.client.get("/api/v1/deployments/D1BRV40", headers=token).status_code == 401
