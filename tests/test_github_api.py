"""The plan comment through PyGithub against GitHub's REST API (faked with `responses`)."""

from __future__ import annotations

import pytest
import responses

from controller.adapters.github_api import (
    GitHubApiError,
    GitHubNotFoundError,
    PullRequestComments,
    RetryingCaller,
    RetryPolicy,
    make_github,
)
from controller.core.comments import COMMENT_LIMIT, MARKER, continuation_marker, render_comment
from tests.github_fake import FakeGitHub
from tests.test_comments import big_document


@pytest.fixture
def github():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield FakeGitHub(mock), mock


def publisher(sleeps=None, **policy):
    caller = RetryingCaller(
        policy=RetryPolicy(**policy),
        sleep=(sleeps.append if sleeps is not None else lambda s: None),
        now=lambda: 1_000.0,
        jitter=lambda: 1.0,
    )
    return PullRequestComments(make_github("token", throttle=False), "acme/infra", caller)


def body(text, part=1):
    return (MARKER if part == 1 else continuation_marker(part)) + "\n" + text


def test_the_first_run_creates_the_comment_and_the_second_edits_it(github):
    fake, _ = github
    fake.add_comment("a human's review")
    urls = publisher().publish(7, [body("plan v1")])
    assert fake.bodies() == ["a human's review", body("plan v1")]
    assert urls == [f"https://github.com/acme/infra/pull/7#issuecomment-{fake.next_id}"]
    publisher().publish(7, [body("plan v2")])
    assert fake.bodies() == ["a human's review", body("plan v2")]
    assert [method for method, _ in fake.requests].count("POST") == 1


def test_the_marker_is_found_on_any_page(github):
    fake, _ = github
    for index in range(150):
        fake.add_comment(f"chatter {index}")
    ours = fake.add_comment(body("old plan"))
    publisher().publish(7, [body("new plan")])
    assert fake.comments[ours]["body"] == body("new plan")
    assert len(fake.comments) == 151
    assert any("page=2" in url for method, url in fake.requests if method == "GET")


def test_an_unchanged_plan_is_not_edited_again(github):
    fake, _ = github
    fake.add_comment(body("same"))
    publisher().publish(7, [body("same")])
    assert [method for method, _ in fake.requests] == ["GET"]


def test_continuations_are_created_updated_and_removed_with_the_plan(github):
    fake, _ = github
    publisher().publish(7, [body("one"), body("two", 2), body("three", 3)])
    assert fake.bodies() == [body("one"), body("two", 2), body("three", 3)]
    publisher().publish(7, [body("one'"), body("two'", 2)])
    assert fake.bodies() == [body("one'"), body("two'", 2)]


def test_a_rate_limit_with_retry_after_is_waited_out(github):
    fake, _ = github
    fake.fail_next = [(403, {"Retry-After": "7"}, "You have exceeded a secondary rate limit")]
    sleeps = []
    publisher(sleeps).publish(7, [body("plan")])
    assert sleeps == [7.0]
    assert fake.bodies() == [body("plan")]


def test_a_persistent_rate_limit_is_reported_clearly(github):
    fake, _ = github
    fake.fail_next = [(403, {"Retry-After": "30"}, "secondary rate limit")] * 3
    sleeps = []
    with pytest.raises(GitHubApiError) as caught:
        publisher(sleeps, max_attempts=3).publish(7, [body("plan")])
    assert sleeps == [30.0, 30.0]
    message = str(caught.value)
    assert "gave up after 3 attempt(s) and 60s of waiting" in message
    assert "403" in message and "secondary rate limit" in message


def test_an_exhausted_primary_limit_waits_until_the_reset(github):
    fake, _ = github
    fake.fail_next = [
        (
            403,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1042"},
            "API rate limit exceeded",
        )
    ]
    sleeps = []
    publisher(sleeps).publish(7, [body("plan")])
    assert sleeps == [43.0]


def test_a_secondary_limit_without_a_hint_waits_a_minute_then_backs_off(github):
    fake, _ = github
    fake.fail_next = [(403, {}, "You have exceeded a secondary rate limit")] * 2
    sleeps = []
    publisher(sleeps).publish(7, [body("plan")])
    assert sleeps == [60.0, 120.0]


def test_server_errors_are_retried_with_capped_backoff(github):
    fake, _ = github
    fake.fail_next = [(502, {}, "Bad Gateway")] * 3
    sleeps = []
    publisher(sleeps, max_backoff=3.0).publish(7, [body("plan")])
    assert sleeps == [1.0, 2.0, 3.0]


def test_a_create_that_failed_after_github_stored_it_is_not_repeated(github):
    fake, _ = github
    fake.fail_after_storing = 1
    publisher().publish(7, [body("plan")])
    assert fake.bodies() == [body("plan")]
    assert [method for method, _ in fake.requests].count("POST") == 1


def test_a_pull_request_that_is_gone_is_reported_as_not_found(github):
    fake, _ = github
    fake.fail_next = [(404, {}, "Not Found")]
    with pytest.raises(GitHubNotFoundError, match="not found on GitHub"):
        publisher().publish(7, [body("plan")])


def test_a_plain_403_is_not_retried(github):
    fake, _ = github
    fake.fail_next = [(403, {}, "Resource not accessible by integration")]
    sleeps = []
    with pytest.raises(GitHubApiError, match="Resource not accessible by integration"):
        publisher(sleeps).publish(7, [body("plan")])
    assert sleeps == []


def test_an_oversized_plan_is_published_as_continuation_comments(github):
    fake, _ = github
    bodies = render_comment(big_document(stacks=2500, changes=1))
    assert len(bodies) > 1
    publisher().publish(7, bodies)
    assert fake.bodies() == bodies
    assert all(len(text) <= COMMENT_LIMIT for text in fake.bodies())
    assert fake.bodies()[0].startswith(MARKER)
    assert fake.bodies()[1].startswith(continuation_marker(2))
    shorter = render_comment(big_document(stacks=10, changes=1))
    publisher().publish(7, shorter)
    assert fake.bodies() == shorter  # the continuations it no longer needs are deleted
