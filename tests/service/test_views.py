"""The service's pure parts, table by table: change lists, listing, pagination, statuses,
the write guard (only new errors refuse a write), and the fixed-window rate limiter."""

from __future__ import annotations

import pytest

from controller.core.problems import Problem
from controller.edits.catalog_state import introduced_problems
from controller.edits.changes import describe_changes
from controller.service.endpoints.payloads import DeploymentListQuery
from controller.service.endpoints.replies import DeploymentSummary, EnvironmentState
from controller.service.endpoints.views import paginate, select_deployments
from controller.service.http.rate_limits import FixedWindowLimiter, tier_limits


@pytest.mark.parametrize(
    ("before", "after", "lines"),
    [
        pytest.param({"a": 1}, {"a": 1}, [], id="no change"),
        pytest.param({"a": 1}, {"a": 2}, ["a: 1 → 2"], id="value"),
        pytest.param({}, {"t": {"k": "v"}}, ["t: <new> → {'k': 'v'}"], id="added"),
        pytest.param({"t": {"k": "v"}}, {"t": {}}, ["t.k: v → <removed>"], id="removed"),
        pytest.param({"l": [1]}, {"l": [1, 2]}, ["l: [1] → [1, 2]"], id="list"),
        pytest.param({"s": "x" * 80}, {"s": "y"}, [f"s: {'x' * 57}... → y"], id="long values"),
    ],
)
def test_describe_changes(before: dict, after: dict, lines: list[str]) -> None:
    assert describe_changes(before, after) == lines


def row(deployment_id: str, *, org: str = "A", created: str | None = None) -> DeploymentSummary:
    return DeploymentSummary(
        deployment_id=deployment_id,
        organization=org,
        project="p",
        domain=None,
        template="default",
        status="initialized",
        environments={"dev": EnvironmentState(enabled=True, status="ready")},
        created_at=created,
        updated_at=None,
        last_deployed_at=None,
    )


ROWS = [
    row("D000003", created="2025-01-03T00:00:00.000Z"),
    row("D000001", org="B", created="2025-01-01T00:00:00.000Z"),
    row("D000002"),
]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param({}, ["D000001", "D000002", "D000003"], id="by id"),
        pytest.param({"sortOrder": "desc"}, ["D000003", "D000002", "D000001"], id="desc"),
        pytest.param(
            {"sortBy": "createdAt"}, ["D000001", "D000003", "D000002"], id="unknown dates last"
        ),
        pytest.param(
            {"sortBy": "createdAt", "sortOrder": "desc"},
            ["D000003", "D000001", "D000002"],
            id="unknown dates last, desc too",
        ),
        pytest.param({"organization": "b"}, ["D000001"], id="organization, any case"),
        pytest.param({"environment": "prod"}, [], id="environment not enabled"),
    ],
)
def test_select_deployments(query: dict, expected: list[str]) -> None:
    selected = select_deployments(ROWS, DeploymentListQuery.model_validate(query))
    assert [r.deployment_id for r in selected] == expected


@pytest.mark.parametrize(
    ("total", "page", "limit", "items", "pages", "next_page", "prev_page"),
    [
        (0, 1, 20, 0, 1, None, None),
        (45, 1, 20, 20, 3, 2, None),
        (45, 3, 20, 5, 3, None, 2),
        (45, 4, 20, 0, 3, None, 3),
    ],
)
def test_paginate(
    total: int, page: int, limit: int, items: int, pages: int, next_page, prev_page
) -> None:
    shown, pagination = paginate(list(range(total)), page=page, limit=limit)
    assert len(shown) == items and pagination.total_pages == pages
    assert (pagination.next_page, pagination.prev_page) == (next_page, prev_page)


def problem(code: str, message: str, line: int = 1, severity: str = "error") -> Problem:
    return Problem(code, message, file="m.yaml", line=line, severity=severity)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("before", "after", "introduced"),
    [
        pytest.param([], [problem("X", "bad")], ["bad"], id="a new error"),
        pytest.param(
            [problem("X", "bad", 3)],
            [problem("X", "bad", 7)],
            [],
            id="an old error that moved lines",
        ),
        pytest.param([], [problem("X", "meh", severity="warning")], [], id="warnings never refuse"),
        pytest.param([problem("X", "bad")], [], [], id="a fix"),
    ],
)
def test_only_errors_a_write_introduces_refuse_it(
    before: list[Problem], after: list[Problem], introduced: list[str]
) -> None:
    assert [p.message for p in introduced_problems(before, after)] == introduced


def test_fixed_windows_count_per_key_and_reset() -> None:
    limiter = FixedWindowLimiter()
    limits = {"minute": 2, "hour": 3, "day": None}
    assert [limiter.hit("k", limits, 60.0).allowed for _ in range(3)] == [True, True, False]
    refused = limiter.hit("k", limits, 61.0)
    assert (refused.window, refused.reset, refused.retry_after) == ("minute", 120, 59)
    assert limiter.hit("other", limits, 61.0).allowed
    assert limiter.hit("k", limits, 120.0).allowed  # a new minute
    hour = limiter.hit("k", limits, 180.0)
    assert not hour.allowed and hour.window == "hour" and hour.reset == 3600


def test_tier_overrides_merge_into_the_seed_tiers() -> None:
    tiers = tier_limits({"free": {"minute": 5}, "internal": {"minute": None}})
    assert tiers["free"] == {"minute": 5, "hour": 1_000, "day": 10_000}
    assert tiers["enterprise"]["day"] is None and tiers["internal"] == {"minute": None}
