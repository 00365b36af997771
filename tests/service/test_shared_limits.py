"""Limits that hold across replicas: rate-limit counts and WebSocket connections in the store.

Two apps (two replicas, or two uvicorn workers) on one store, each with its own memory,
on both backends (`store_target` is parametrized; asked for before `make_harness`, so
the database outlives the apps). The rate limiter counts in memory
and shares its counts at each sync (the background task's job; called directly here so
the test does not depend on timing); the connection quota is counted in the store.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from controller.core import rbac
from tests.service.conftest import Harness, HarnessFactory
from tests.service.event_helpers import receive, token_of
from tests.service.test_realtime import connected, refusal

FIVE = {"minute": 5, "hour": None, "day": None}


def two_replicas(make_harness: HarnessFactory, store_target: str, **settings: Any) -> Any:
    where = (
        {"database_url": store_target}
        if store_target.startswith("postgresql://")
        else {"database": store_target}
    )
    options = {"rate_limit_sync_seconds": 0, **where, **settings}
    return make_harness(**options), make_harness(**options)


def sync(harness: Harness) -> None:
    services = harness.services
    services.rate_limiter.sync(services.store, services.clock())


def test_a_keys_rate_limit_holds_across_replicas(
    store_target: str, make_harness: HarnessFactory
) -> None:
    a, b = two_replicas(
        make_harness, store_target, rate_limit_tiers={"standard": FIVE, "enterprise": FIVE}
    )
    key = a.api_key([rbac.DEPLOYMENTS_READ])
    headers = {"X-API-Key": key}

    def get(replica: Harness) -> int:
        return replica.client.get("/api/v1/deployments", headers=headers).status_code

    assert [get(a) for _ in range(3)] == [200, 200, 200]
    sync(a)
    assert get(b) == 200  # b has not heard of this key yet: counted here, then shared
    sync(b)
    assert [get(b), get(b)] == [200, 429]  # 3 on a + 2 on b: the limit of 5 is spent
    sync(b)
    sync(a)
    refused = a.client.get("/api/v1/deployments", headers=headers)
    assert refused.status_code == 429
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert refused.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"


def test_a_replica_that_cannot_reach_the_store_keeps_its_counts_for_the_next_sync(
    store_target: str, make_harness: HarnessFactory
) -> None:
    a, b = two_replicas(
        make_harness, store_target, rate_limit_tiers={"standard": FIVE, "enterprise": FIVE}
    )
    key = a.api_key([rbac.DEPLOYMENTS_READ])

    class Down:
        def add_rate_hits(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("store unreachable")

    for _ in range(4):
        assert a.client.get("/api/v1/deployments", headers={"X-API-Key": key}).status_code == 200
    with pytest.raises(RuntimeError):
        a.services.rate_limiter.sync(Down(), a.services.clock())  # type: ignore[arg-type]
    sync(a)  # the 4 hits are still counted
    assert b.client.get("/api/v1/deployments", headers={"X-API-Key": key}).status_code == 200
    sync(b)
    assert b.client.get("/api/v1/deployments", headers={"X-API-Key": key}).status_code == 429


def test_the_websocket_connection_quota_holds_across_replicas(
    store_target: str, make_harness: HarnessFactory
) -> None:
    a, b = two_replicas(make_harness, store_target, realtime_connections_free=2)
    token = token_of(a.bearer("freebie", (rbac.DEVELOPER,), tier="free"))
    with connected(a, token=token), connected(b, token=token):
        with b.client.websocket_connect("/ws") as third:
            third.send_json({"type": "authenticate", "token": token})
            error, close = refusal(third)
        assert close == 1008 and error["code"] == "RATE_LIMIT_EXCEEDED"
        assert "2 WebSocket connection" in error["message"]
    # the closed ones free their room, as soon as their replica has released them
    for _ in range(2):
        assert eventually_connects(a, token) and eventually_connects(b, token)


def eventually_connects(harness: Harness, token: str, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        with harness.client.websocket_connect("/ws") as ws:
            ws.send_json({"type": "authenticate", "token": token})
            if receive(ws)["type"] == "authenticated":
                return True
        assert time.monotonic() < deadline, "the closed connections were never released"
        time.sleep(0.02)


# --- the verified-key cache: one lookup per key, until anything changes ----------------------


def test_a_verified_key_is_looked_up_once_until_the_store_changes(
    store_target: str, make_harness: HarnessFactory
) -> None:
    a, _ = two_replicas(make_harness, store_target)
    key = a.api_key([rbac.DEPLOYMENTS_READ])
    store = a.services.store
    lookups = []
    real = store.find_api_key
    store.find_api_key = lambda lookup: lookups.append(lookup) or real(lookup)
    for _ in range(2):  # the first use also writes the key's lastUsedAt: a new version
        assert a.client.get("/api/v1/deployments", headers={"X-API-Key": key}).status_code == 200
    lookups.clear()
    for _ in range(20):
        assert a.client.get("/api/v1/deployments", headers={"X-API-Key": key}).status_code == 200
    assert lookups == []  # verified: these requests asked the store nothing about the key
    other = a.api_key([rbac.DEPLOYMENTS_READ], username="other")  # a write: a new version
    assert a.client.get("/api/v1/deployments", headers={"X-API-Key": key}).status_code == 200
    assert a.client.get("/api/v1/deployments", headers={"X-API-Key": other}).status_code == 200
    assert len(lookups) == 2  # both looked up after the write


def test_a_key_revoked_on_one_replica_is_refused_by_the_other(
    store_target: str, make_harness: HarnessFactory
) -> None:
    a, b = two_replicas(make_harness, store_target)
    key = a.api_key([rbac.DEPLOYMENTS_READ])
    admin = a.bearer()
    key_id = a.client.get("/api/v1/auth/api-keys", headers=admin).json()["data"]["apiKeys"][0][
        "keyId"
    ]
    for replica in (a, b):  # both have verified (and cached) it
        assert (
            replica.client.get("/api/v1/deployments", headers={"X-API-Key": key}).status_code == 200
        )
    assert b.client.delete(f"/api/v1/auth/api-keys/{key_id}", headers=admin).status_code == 200

    def refused_on_a() -> bool:
        response = a.client.get("/api/v1/deployments", headers={"X-API-Key": key})
        return response.status_code == 401

    # SQLite: at the next request; PostgreSQL: once a hears b's notification
    deadline = time.monotonic() + 5
    while not refused_on_a():
        assert time.monotonic() < deadline, "replica a still accepts a revoked key"
        time.sleep(0.01)
    if not store_target.startswith("postgresql://"):
        return
    # while a cannot hear notifications, it caches nothing: a revocation still counts
    store = a.services.store
    store._listening = False
    second = a.api_key([rbac.DEPLOYMENTS_READ], username="second")
    assert a.client.get("/api/v1/deployments", headers={"X-API-Key": second}).status_code == 200
    second_id = next(
        k["keyId"]
        for k in a.client.get("/api/v1/auth/api-keys", headers=a.bearer("second")).json()["data"][
            "apiKeys"
        ]
    )
    import psycopg

    with psycopg.connect(store_target, autocommit=True) as raw:  # a writer a does not hear
        raw.execute(
            "UPDATE api_keys SET revoked_at = '2020-01-01T00:00:00.000Z' WHERE id = %s",
            (second_id,),
        )
    assert a.client.get("/api/v1/deployments", headers={"X-API-Key": second}).status_code == 401


def test_a_cascade_of_revocations_reaches_the_other_replicas_cache(
    store_target: str, make_harness: HarnessFactory
) -> None:
    """Revoking a key revokes the keys made with it (issue 14): a replica that verified
    (and remembered) such a child refuses it once the parent is revoked on another."""
    a, b = two_replicas(make_harness, store_target)
    parent = a.api_key([rbac.DEPLOYMENTS_READ, rbac.API_KEYS_MANAGE])
    made = a.client.post(
        "/api/v1/auth/api-keys",
        json={"name": "child", "permissions": [rbac.DEPLOYMENTS_READ]},
        headers={"X-API-Key": parent},
    )
    assert made.status_code == 201, made.text
    child = made.json()["data"]["apiKey"]
    for _ in range(3):
        assert a.client.get("/api/v1/deployments", headers={"X-API-Key": child}).status_code == 200
    admin = b.bearer()
    listed = b.client.get("/api/v1/auth/api-keys", headers=admin).json()["data"]["apiKeys"]
    parent_id = next(k["keyId"] for k in listed if k["name"] == "test key")
    assert b.client.delete(f"/api/v1/auth/api-keys/{parent_id}", headers=admin).status_code == 200
    deadline = time.monotonic() + 5
    while a.client.get("/api/v1/deployments", headers={"X-API-Key": child}).status_code != 401:
        assert time.monotonic() < deadline, "replica a still accepts a key whose maker was revoked"
        time.sleep(0.01)
