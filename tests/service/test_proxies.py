"""The client address behind trusted proxies only: what the rate limiter counts and the
audit log records."""

from __future__ import annotations

import warnings

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from controller.service.http.proxies import ForwardedClientMiddleware, forwarded_client
from controller.service.settings import load_settings
from tests.conftest import REPO_ROOT
from tests.service.conftest import HarnessFactory

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

PROXIES = ["127.0.0.1", "10.0.0.0/8"]
MID_MINUTE = {"clock": lambda: 1_760_000_010.0}  # no window boundary in the middle of a test
trusted = ForwardedClientMiddleware(lambda *_: None, trusted=PROXIES).trusts


@pytest.mark.parametrize(
    ("hops", "client"),
    [
        pytest.param(["203.0.113.9"], "203.0.113.9", id="one-hop"),
        pytest.param(["198.51.100.1, 203.0.113.9"], "203.0.113.9", id="spoofed-left-is-ignored"),
        pytest.param(["203.0.113.9, 10.1.2.3"], "203.0.113.9", id="trusted-hops-skipped"),
        pytest.param(["203.0.113.9", "10.1.2.3"], "203.0.113.9", id="two-headers"),
        pytest.param(["10.0.0.1, 10.0.0.2"], "10.0.0.1", id="all-trusted-leftmost"),
        pytest.param(["[2001:db8::1]:443"], "2001:db8::1", id="bracketed-v6-with-port"),
        pytest.param(["203.0.113.9:5000"], "203.0.113.9", id="v4-with-port"),
        pytest.param([" "], None, id="empty"),
    ],
)
def test_the_client_is_the_rightmost_hop_that_is_not_a_trusted_proxy(hops, client) -> None:
    assert forwarded_client(hops, trusted) == client


def test_a_proxy_entry_that_is_not_an_address_stops_the_service_by_name(monkeypatch) -> None:
    monkeypatch.setenv("CLOUD_REPO_ROOT", str(REPO_ROOT))
    monkeypatch.setenv("CLOUD_TRUSTED_PROXIES", "10.0.0.0/8, proxy.internal")
    settings, problems = load_settings()
    assert settings is None
    assert problems == ["CLOUD_TRUSTED_PROXIES: 'proxy.internal' is not an IP address or network"]


def test_no_proxy_is_trusted_by_default() -> None:
    settings, _ = load_settings(repo_root=REPO_ROOT)
    assert settings is not None and settings.trusted_proxies == []


def sign_in_statuses(client: TestClient, forwarded: list[str]) -> list[int]:
    return [
        client.post(
            "/api/v1/auth/login",
            json={"username": "admin", "password": "wrong password"},
            headers={"X-Forwarded-For": address},
        ).status_code
        for address in forwarded
    ]


def test_behind_a_trusted_proxy_each_client_has_its_own_budget_and_audit_entry(
    make_harness: HarnessFactory,
) -> None:
    harness = make_harness(
        trusted_proxies=PROXIES, rate_limit_auth_per_minute=2, services_options=MID_MINUTE
    )
    proxy = TestClient(harness.client.app, client=("127.0.0.1", 41000))
    forwarded = ["203.0.113.1", "203.0.113.1", "203.0.113.1", "203.0.113.2"]
    assert sign_in_statuses(proxy, forwarded) == [401, 401, 429, 401]
    entries, _ = harness.store.list_audit(limit=10, offset=0, actor=None, action=None)
    assert sorted(entry.client for entry in entries) == sorted(forwarded)


def test_forwarded_for_from_a_peer_that_is_not_a_trusted_proxy_is_ignored(
    make_harness: HarnessFactory,
) -> None:
    harness = make_harness(
        trusted_proxies=PROXIES, rate_limit_auth_per_minute=2, services_options=MID_MINUTE
    )
    outsider = TestClient(harness.client.app, client=("198.51.100.7", 41000))
    assert sign_in_statuses(outsider, ["203.0.113.1", "203.0.113.2", "203.0.113.3"]) == [
        401,
        401,
        429,
    ]
    entries, _ = harness.store.list_audit(limit=10, offset=0, actor=None, action=None)
    assert {entry.client for entry in entries} == {"198.51.100.7"}
