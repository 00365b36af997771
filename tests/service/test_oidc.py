"""An external OIDC issuer: tokens verified against its JWKS (served here by `responses`)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import jwt
import pytest
import responses
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from controller.core import rbac
from tests.service.conftest import Harness, HarnessFactory

ISSUER = "https://idp.example.com/"
AUDIENCE = "cloud-api-oidc"
JWKS_URL = "https://idp.example.com/.well-known/jwks.json"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks() -> dict:
    public = json.loads(RSAAlgorithm.to_jwk(KEY.public_key()))
    return {"keys": [public | {"kid": "key-1", "use": "sig", "alg": "RS256"}]}


def token(*, key=KEY, kid: str = "key-1", **claims: object) -> str:
    now = int(time.time())
    body = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-42",
        "email": "carol@companya.com",
        "preferred_username": "carol",
        "groups": ["deployment-manager", "staff"],
        "organizations": ["CompanyA"],
        "iat": now,
        "exp": now + 600,
    } | claims
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def idp() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(JWKS_URL, json=jwks())
        yield mock


@pytest.fixture
def oidc(make_harness: HarnessFactory, idp: responses.RequestsMock) -> Harness:
    return make_harness(oidc_issuer=ISSUER, oidc_audience=AUDIENCE, oidc_jwks_url=JWKS_URL)


def call(harness: Harness, bearer: str, path: str = "/api/v1/users/me"):
    return harness.client.get(path, headers={"Authorization": f"Bearer {bearer}"})


def test_a_token_from_the_issuer_signs_in_with_roles_from_its_groups(
    oidc: Harness, idp: responses.RequestsMock
) -> None:
    response = call(oidc, token())
    assert response.status_code == 200, response.text
    me = response.json()["data"]
    assert me["authenticatedVia"] == "oidc"
    assert me["roles"] == [rbac.DEPLOYMENT_MANAGER]
    assert me["organizations"] == ["CompanyA"]
    listing = call(oidc, token(), "/api/v1/deployments").json()["data"]["deployments"]
    assert [d["organization"] for d in listing] == ["CompanyA"]
    assert len(idp.calls) == 1  # the JWKS is cached


@pytest.mark.parametrize(
    ("make", "code"),
    [
        pytest.param(lambda: token(aud="someone-else"), "AUTH_INVALID_TOKEN", id="wrong audience"),
        pytest.param(lambda: token(exp=int(time.time()) - 120), "AUTH_TOKEN_EXPIRED", id="expired"),
        pytest.param(lambda: token(key=OTHER_KEY), "AUTH_INVALID_TOKEN", id="wrong key"),
        pytest.param(lambda: token(kid="unknown"), "AUTH_INVALID_TOKEN", id="unknown key id"),
        pytest.param(
            lambda: jwt.encode(
                {
                    "iss": ISSUER,
                    "aud": AUDIENCE,
                    "sub": "x",
                    "exp": int(time.time()) + 60,
                    "iat": int(time.time()),
                },
                "x" * 64,
                algorithm="HS256",
            ),
            "AUTH_INVALID_TOKEN",
            id="HS256 claiming the issuer",
        ),
    ],
)
def test_bad_issuer_tokens_are_401(oidc: Harness, make, code: str) -> None:
    response = call(oidc, make())
    assert response.status_code == 401
    assert response.json()["error"]["code"] == code


def test_a_user_without_mapped_groups_signs_in_with_no_permission(oidc: Harness) -> None:
    bearer = token(groups=["staff"], sub="user-7")
    assert call(oidc, bearer).status_code == 200
    assert call(oidc, bearer, "/api/v1/deployments").status_code == 403


def test_an_unreachable_issuer_is_401_and_shows_in_health(
    make_harness: HarnessFactory,
) -> None:
    with responses.RequestsMock() as mock:
        mock.get(JWKS_URL, status=503)
        harness = make_harness(oidc_issuer=ISSUER, oidc_audience=AUDIENCE, oidc_jwks_url=JWKS_URL)
        assert call(harness, token()).status_code == 401
        health = harness.client.get("/health").json()["data"]
        assert health["services"]["oidc"]["status"] == "degraded"
