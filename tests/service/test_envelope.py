"""What every response shares: the envelope, the seeds' headers, request ids, error
translation (no internals leak), body limits, rate limits, access and audit logs."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest

from controller.core import rbac
from controller.service.http.middleware import AccessLog, RequestCounts
from controller.service.http.routes import ENDPOINTS
from tests.service.conftest import Harness, HarnessFactory, example_files
from tests.service.fakes import MemorySource

SECURITY_HEADERS = {
    "strict-transport-security": "max-age=31536000; includeSubDomains",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "x-xss-protection": "1; mode=block",
    "content-security-policy": "default-src 'self'",
}


def test_a_success_is_the_seeds_envelope(harness: Harness, admin) -> None:
    response = harness.client.get("/api/v1/templates", headers=admin)
    body = response.json()
    assert set(body) == {"success", "data", "meta"} and body["success"] is True
    assert set(body["meta"]) == {"requestId", "timestamp", "duration"}
    assert body["meta"]["requestId"] == response.headers["x-request-id"]
    assert body["meta"]["timestamp"].endswith("Z") and body["meta"]["duration"] >= 0


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/api/v1/nothing-here", 404, "RESOURCE_NOT_FOUND"),
        ("PATCH", "/api/v1/deployments", 405, "METHOD_NOT_ALLOWED"),
        ("GET", "/api/v1/deployments/DNOPE00", 404, "RESOURCE_NOT_FOUND"),
    ],
)
def test_errors_are_the_seeds_envelope_with_headers(
    harness: Harness, admin, method: str, path: str, status: int, code: str
) -> None:
    response = harness.client.request(method, path, headers=admin)
    assert response.status_code == status
    body = response.json()
    assert body["success"] is False and set(body) == {"success", "error", "meta"}
    assert set(body["error"]) == {"code", "message", "details", "suggestion", "documentationUrl"}
    assert body["error"]["documentationUrl"] == f"/docs#error-{code}"
    assert body["error"]["code"] == code and body["error"]["suggestion"]
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert response.headers["x-ratelimit-tier"] == "standard"


def test_a_safe_request_id_is_kept_and_an_unsafe_one_replaced(harness: Harness) -> None:
    kept = harness.client.get("/health", headers={"X-Request-ID": "ci-run-1234.5"})
    assert kept.headers["x-request-id"] == "ci-run-1234.5"
    assert kept.json()["meta"]["requestId"] == "ci-run-1234.5"
    replaced = harness.client.get("/health", headers={"X-Request-ID": "<script>"})
    assert replaced.headers["x-request-id"].startswith("req-")


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b'{"organization": ', "VALIDATION_INVALID_FORMAT"),
        (b"[1, 2]", "VALIDATION_INVALID_FORMAT"),
        (b"", "VALIDATION_REQUIRED_FIELD"),
        (b"\xff\xfe", "VALIDATION_INVALID_FORMAT"),
    ],
)
def test_bodies_that_are_not_json_objects_are_400(
    harness: Harness, admin, content: bytes, code: str
) -> None:
    response = harness.client.post(
        "/api/v1/deployments",
        content=content,
        headers=admin | {"Content-Type": "application/json"},
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == code


def test_a_10_mb_body_is_413(harness: Harness, admin) -> None:
    body = json.dumps({"organization": "x" * (10 * 1024 * 1024)})
    response = harness.client.post(
        "/api/v1/deployments", content=body, headers=admin | {"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert harness.source.commits == []


def test_a_streamed_body_over_the_limit_is_413(harness: Harness, admin) -> None:
    chunks = (b"x" * 65536 for _ in range(40))  # no Content-Length: counted as it arrives
    response = harness.client.post("/api/v1/validate/manifest", content=chunks, headers=admin)
    assert response.status_code == 413


class BrokenSource(MemorySource):
    def read(self):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom in /srv/secret/internal/path.py")


def test_an_unexpected_error_is_a_bare_500_logged_with_its_request_id(
    make_harness: HarnessFactory, caplog: pytest.LogCaptureFixture
) -> None:
    harness = make_harness(source=BrokenSource(example_files()))
    with caplog.at_level(logging.ERROR, logger="cloud.errors"):
        response = harness.client.get("/api/v1/deployments", headers=harness.bearer())
    assert response.status_code == 500
    error = response.json()["error"]
    assert error == {
        "code": "INTERNAL_ERROR",
        "message": "internal server error",
        "details": {},
        "suggestion": error["suggestion"],
        "documentationUrl": "/docs#error-INTERNAL_ERROR",
    }
    assert "secret" not in response.text and "Traceback" not in response.text
    request_id = response.headers["x-request-id"]
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None
    assert response.headers["x-frame-options"] == "DENY"


def test_health_is_503_when_the_repo_cannot_be_read(make_harness: HarnessFactory) -> None:
    harness = make_harness(source=BrokenSource(example_files()))
    response = harness.client.get("/health")
    assert response.status_code == 503
    services = response.json()["error"]["details"]["services"]
    assert services["repo"]["status"] == "unhealthy" and services["store"]["status"] == "healthy"
    assert "secret" not in response.text


def test_health_and_info_are_public(harness: Harness) -> None:
    health = harness.client.get("/api/v1/health").json()["data"]
    assert health["status"] == "healthy"
    assert set(health["services"]) == {
        "api", "store", "repo", "engine", "github", "database", "pulumi", "aws"
    }  # fmt: skip
    assert health["services"]["aws"]["status"] == "skipped"
    info = harness.client.get("/api/v1/info").json()["data"]
    assert info["apiVersion"] == "v1" and info["endpoints"] == len(ENDPOINTS) > 39


# --- rate limits ----------------------------------------------------------------------------


def test_a_user_over_the_tier_limit_gets_429_with_retry_after(
    make_harness: HarnessFactory,
) -> None:
    harness = make_harness(rate_limit_tiers={"standard": {"minute": 3, "hour": 100, "day": None}})
    headers = harness.bearer()
    remaining = []
    for _ in range(3):
        response = harness.client.get("/api/v1/templates", headers=headers)
        assert response.status_code == 200
        assert response.headers["x-ratelimit-limit"] == "3"
        assert response.headers["x-ratelimit-tier"] == "standard"
        remaining.append(response.headers["x-ratelimit-remaining"])
    assert remaining == ["2", "1", "0"]
    refused = harness.client.get("/api/v1/templates", headers=headers)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert refused.json()["error"]["details"]["window"] == "1 minute"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["x-ratelimit-remaining"] == "0"
    key_headers = {"X-API-Key": harness.api_key([rbac.DEPLOYMENTS_READ], username="other")}
    assert harness.client.get("/api/v1/deployments", headers=key_headers).status_code == 200


def test_each_api_key_has_its_own_budget(make_harness: HarnessFactory) -> None:
    harness = make_harness(
        rate_limit_tiers={"enterprise": {"minute": 2, "hour": None, "day": None}}
    )
    first = {"X-API-Key": harness.api_key([rbac.DEPLOYMENTS_READ], tier="enterprise")}
    second = {"X-API-Key": harness.api_key([rbac.DEPLOYMENTS_READ], tier="enterprise")}
    codes = [harness.client.get("/api/v1/deployments", headers=first).status_code for _ in "abc"]
    assert codes == [200, 200, 429]
    assert harness.client.get("/api/v1/deployments", headers=second).status_code == 200


def test_anonymous_callers_are_limited_per_address(make_harness: HarnessFactory) -> None:
    harness = make_harness(rate_limit_anonymous_per_minute=2)
    codes = [harness.client.get("/health").status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_sign_ins_and_bad_credentials_have_a_stricter_budget(make_harness: HarnessFactory) -> None:
    harness = make_harness(rate_limit_auth_per_minute=3)
    harness.user("alice")
    codes = [
        harness.client.post(
            "/api/v1/auth/login", json={"username": "alice", "password": "guess"}
        ).status_code
        for _ in range(4)
    ]
    assert codes == [401, 401, 401, 429]
    guessed = harness.client.get("/api/v1/deployments", headers={"X-API-Key": "msk_live_x"})
    assert guessed.status_code == 429  # key guessing draws on the same budget
    assert guessed.headers["x-ratelimit-tier"] == "auth"


# --- logs -----------------------------------------------------------------------------------


def test_every_mutating_call_is_in_the_audit_log(harness: Harness, admin) -> None:
    harness.client.post("/api/v1/auth/login", json={"username": "mallory", "password": "x"})
    harness.client.post(
        "/api/v1/deployments/D1BRV40/environments/prod/enable",
        headers=admin,
        params={},
    )
    auditor = harness.bearer("auditor", (rbac.AUDITOR,))
    entries = harness.client.get("/api/v1/audit-logs", headers=auditor).json()["data"]["entries"]
    enabled, login = entries[0], entries[1]
    assert enabled["actor"] == "admin" and enabled["status"] == 200
    assert enabled["action"] == "POST /api/v1/deployments/D1BRV40/environments/prod/enable"
    assert enabled["details"]["commit"] == harness.source.commits[-1]["sha"]
    assert login["actor"] == "mallory" and login["status"] == 401
    assert login["actorType"] == "anonymous" and login["client"]
    developer = harness.bearer("dev", (rbac.DEVELOPER,))
    assert harness.client.get("/api/v1/audit-logs", headers=developer).status_code == 403


def test_the_access_log_is_one_json_line_per_request(
    make_harness: HarnessFactory, caplog: pytest.LogCaptureFixture
) -> None:
    harness = make_harness(access_log=True)
    headers = harness.bearer()
    with caplog.at_level(logging.INFO, logger="cloud.access"):
        response = harness.client.get("/api/v1/templates", headers=headers)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "cloud.access"]
    assert len(lines) == 1
    line = lines[0]
    assert line["requestId"] == response.headers["x-request-id"]
    assert line["method"] == "GET" and line["path"] == "/api/v1/templates"
    assert line["statusCode"] == 200 and line["userId"].startswith("usr-")


def test_the_access_log_thread_writes_every_line_in_order() -> None:
    """The batched writer of `cloud serve` (a handler of its own): lines recorded while
    it writes are neither lost nor reordered, and what is left is written at stop."""
    stream = io.StringIO()
    logger = logging.getLogger("cloud.access.test")
    logger.propagate = False
    logger.handlers = [logging.StreamHandler(stream)]
    log = AccessLog(logger)
    log.INTERVAL = 0.001  # many batches, taken while lines are still being recorded
    log.start()
    try:
        for n in range(20_000):
            log.record(1e9, f"req-{n}", None, "GET", "/health", 200, 0.1, "127.0.0.1")
    finally:
        log.stop()
        logger.handlers = []
    ids = [json.loads(line)["requestId"] for line in stream.getvalue().splitlines()]
    assert ids == [f"req-{n}" for n in range(20_000)]


def test_cors_is_answered_for_configured_origins_only(make_harness: HarnessFactory) -> None:
    harness = make_harness(cors_origins=["https://console.example.com"])
    preflight = {"Access-Control-Request-Method": "GET"}
    allowed = harness.client.options(
        "/api/v1/deployments", headers=preflight | {"Origin": "https://console.example.com"}
    )
    assert allowed.headers["access-control-allow-origin"] == "https://console.example.com"
    refused = harness.client.options(
        "/api/v1/deployments", headers=preflight | {"Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in refused.headers


@pytest.mark.parametrize("cors", [False, True], ids=["frame", "after-cors"])
def test_callers_are_authenticated_and_limited_with_or_without_cors(
    make_harness: HarnessFactory, cors: bool
) -> None:
    """Authentication and rate limiting run in the request's frame, or, with CORS
    configured, as a layer after it: the same answers either way, and preflights are
    answered before anyone is authenticated or counted."""
    origin = "https://console.example.com"
    harness = make_harness(cors_origins=[origin] if cors else [])
    key = harness.api_key([rbac.DEPLOYMENTS_READ])
    headers = {"X-API-Key": key, "Origin": origin}
    first = harness.client.get("/api/v1/deployments", headers=headers)
    second = harness.client.get("/api/v1/deployments", headers=headers)
    assert first.status_code == second.status_code == 200
    assert int(second.headers["x-ratelimit-remaining"]) == (
        int(first.headers["x-ratelimit-remaining"]) - 1
    )
    assert ("access-control-allow-origin" in first.headers) is cors
    wrong = harness.client.get("/api/v1/deployments", headers={"X-API-Key": key + "x"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "AUTH_INVALID_TOKEN"
    assert "x-ratelimit-limit" in wrong.headers and "x-request-id" in wrong.headers
    bearer = harness.client.get("/api/v1/deployments", headers=harness.bearer())
    assert bearer.status_code == 200
    if cors:
        preflight = harness.client.options(
            "/api/v1/deployments",
            headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
        )
        assert preflight.status_code == 200 and "x-ratelimit-limit" not in preflight.headers


FRAME_REQUESTS = [
    ("GET", "/api/v1/deployments", None),  # an exact path
    ("HEAD", "/api/v1/deployments", None),
    ("GET", "/api/v1/deployments/D1BRV40", None),  # a path with a parameter
    ("GET", "/api/v1/deployments/D9ZZZ99", None),  # the endpoint's own 404
    ("GET", "/api/v1/deployments/not-an-id", None),  # a bad path parameter: 400
    ("GET", "/api/v1/deployments?bogus=1", None),  # a bad query: 400
    ("POST", "/api/v1/deployments", b"[1, 2"),  # a bad body: 400
    ("GET", "/api/v1/nothing-here", None),  # Starlette's 404
    ("PATCH", "/api/v1/deployments", None),  # Starlette's 405
    ("GET", "/api/v1/openapi.json", None),  # an endpoint with an answer of its own
    ("GET", "/health", None),  # public
]


def test_the_frame_answers_as_the_router_would(harness: Harness) -> None:
    """With nothing between them, the request's frame calls the endpoints the router
    resolves and sends their answers itself; the answers (status, headers, body) are
    those of the same request through the router as ASGI layers."""
    key = harness.api_key([rbac.DEPLOYMENTS_READ, rbac.DEPLOYMENTS_CREATE])

    def answers() -> list[tuple[int, list[str], Any]]:
        seen = []
        for method, path, body in FRAME_REQUESTS:
            response = harness.client.request(
                method, path, content=body, headers={"X-API-Key": key}
            )
            try:
                data = response.json()
            except ValueError:
                data = response.content
            if isinstance(data, dict):
                data.pop("meta", None)
                if path == "/health":
                    data = data["success"]  # the rest is the time and the uptime
            names = sorted(
                name for name in response.headers if name not in ("date", "x-request-id")
            )
            assert "x-request-id" in response.headers and "x-ratelimit-tier" in names, path
            seen.append((response.status_code, names, data))
        return seen

    harness.client.get("/health")
    frame = harness.client.app._http_stack
    assert frame.resolve is not None  # linked: no layer between the frame and the routes
    direct = answers()
    frame.resolve = None
    through_router = answers()
    assert [status for status, _, _ in direct] == [
        200, 200, 200, 404, 400, 400, 400, 404, 405, 200, 200
    ]  # fmt: skip
    assert direct == through_router


@pytest.mark.parametrize(
    ("path", "user"),
    [
        pytest.param("/api/v1/deployments", "usr-1", id="plain"),
        pytest.param('/api/v1/"quoted"\\back\nline', None, id="escaped"),
        pytest.param("/api/v1/déploiements/\u2028", "usr-é", id="non-ascii"),
    ],
)
def test_an_access_line_is_the_json_of_its_fields(path: str, user: str | None) -> None:
    from controller.service.http.middleware import access_line

    line = access_line((1_760_000_000.5, "req-abc", user, "GET", path, 503, 1.23456, "::1"))
    assert "\n" not in line
    assert json.loads(line) == {
        "timestamp": "2025-10-09T08:53:20.500Z",
        "level": "error",
        "requestId": "req-abc",
        "userId": user,
        "method": "GET",
        "path": path,
        "statusCode": 503,
        "duration": 1.23,
        "client": "::1",
    }


def test_request_counts_are_kept_per_minute() -> None:
    """seeds/002's system metrics count per minute; the current minute is remembered
    between requests, and a new minute starts its own counts."""
    now = [600.0]
    counts = RequestCounts(lambda: now[0])
    for status in (200, 404, 200):
        counts.record(status)
    now[0] = 660.5  # the next minute
    counts.record(500)
    assert counts.minutes == {10: [3, 1], 11: [1, 1]}
    assert counts.since(660.0) == (1, 1) and counts.since(600.0) == (4, 2)
    now[0] = 601.0  # a clock set back: its minute's counts, not the last one's
    counts.record(200)
    assert counts.minutes[10] == [4, 1]
