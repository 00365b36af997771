"""The plan workflow's comment as a reviewer meets it: the action's steps run in this
process with the `GITHUB_*` variables of a pull request, GitHub's API played by the
recording fake (`responses` under PyGithub)."""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import re
import zipfile
from pathlib import Path

import pytest
import responses

from controller.action.commands import run_action
from controller.adapters.github_api import make_github
from tests.conftest import commit_change, git
from tests.github_fake import BOT, FakeGitHub, fixture, pull_request_event

TAGS_OLD = '"Stack": STACK}'
TAGS_NEW = '"Stack": STACK, "Owner": "platform"}'
COUNTS = re.compile(r"\d+ (to change|will run|may run|unchanged|to destroy)")


def unthrottled(monkeypatch) -> None:
    """make_github without PyGithub's pauses between requests (a test needs no politeness)."""

    def fast(token, *, base_url="https://api.github.com", **_):
        return make_github(token, base_url=base_url, throttle=False)

    for name in ("controller.action.commands", "controller.action.plan_comments"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "make_github"):
            monkeypatch.setattr(module, "make_github", fast)


def pull_request_env(repo: Path, work: Path, *, base: str) -> dict[str, str]:
    head = git(repo, "rev-parse", "HEAD").strip()
    event = work / "event.json"
    event.write_text(json.dumps(pull_request_event(7, head=head, base=base)))
    return {
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": "acme/infra",
        "GITHUB_RUN_ID": "99",
        "GITHUB_SHA": head,
        "GITHUB_TOKEN": "t",
        "CLOUD_ROOT": str(repo),
        "CLOUD_WORK_DIR": str(work / "cloud"),
        "CLOUD_BASE_REF": base,
        "GITHUB_OUTPUT": str(work / "out"),
    }


def step(env: dict[str, str], command: str, summary: Path | None = None, **extra: str) -> int:
    more = {"GITHUB_STEP_SUMMARY": str(summary)} if summary else {}
    return run_action(env | {"CLOUD_COMMAND": command} | more | extra)


def tag_change(repo: Path) -> str:
    base = git(repo, "rev-parse", "HEAD").strip()
    commit_change(repo, "stacks/network/__main__.py", TAGS_OLD, TAGS_NEW)
    return base


# --- a failed plan says so -------------------------------------------------------------------


def test_a_missing_base_ref_replaces_a_good_comment_with_the_failure(
    repo, work, monkeypatch, capsys
):
    unthrottled(monkeypatch)
    base = tag_change(repo)
    env = pull_request_env(repo, work, base=base)
    assert step(env, "plan") == 0
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake = FakeGitHub(mock)
        assert step(env, "comment") == 0
        [good] = fake.bodies()
        assert "will run" in good
        missing = "0123456789abcdef0123456789abcdef01234567"
        failing = env | {"CLOUD_BASE_REF": missing, "GITHUB_RUN_ID": "100"}
        assert step(failing, "plan") == 1
        assert step(failing, "comment") == 0
        [body] = fake.bodies()  # the same comment, edited
    assert "plan failed" in body.splitlines()[2]
    assert "`plan`" in body and missing[:12] in body
    assert "https://github.com/acme/infra/actions/runs/100" in body
    assert not COUNTS.search(body), body
    assert "No deployment is affected" not in body


def test_the_summary_of_a_failed_plan_says_it_failed_and_is_written_once(repo, work):
    env = pull_request_env(repo, work, base="0" * 40)
    summaries = [work / "plan.md", work / "summary.md"]
    assert step(env, "plan", summaries[0]) == 1
    assert step(env, "summary", summaries[1]) == 0
    assert not summaries[0].exists() or not summaries[0].read_text().strip()
    text = summaries[1].read_text()
    assert "plan failed" in text and "`plan`" in text
    assert "validation problems" not in text
    assert not COUNTS.search(text)


def test_a_good_plan_writes_its_summary_once(repo, work):
    env = pull_request_env(repo, work, base=tag_change(repo))
    summaries = [work / "plan.md", work / "summary.md"]
    assert step(env, "plan", summaries[0]) == 0
    assert step(env, "summary", summaries[1]) == 0
    assert not summaries[0].exists() or "cloud plan" not in summaries[0].read_text()
    assert summaries[1].read_text().count("cloud plan") == 1


# --- numbers a reviewer can trust ------------------------------------------------------------


def test_a_tag_change_counts_what_runs_and_shows_the_base_vs_head_diff(repo, work, monkeypatch):
    unthrottled(monkeypatch)
    env = pull_request_env(repo, work, base=tag_change(repo)) | {
        "CLOUD_ENGINE": "simulate",
        "CLOUD_PREVIEW": "true",
        "CLOUD_DEPLOYMENT": "D1BRV40",
        "CLOUD_ENVIRONMENT": "dev",
    }
    assert step(env, "plan") == 0
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake = FakeGitHub(mock)
        assert step(env, "comment") == 0
        [body] = fake.bodies()
    headline = body.splitlines()[2]
    assert "1 will run" in headline and "15 may run" in headline, headline
    assert "+16" not in body and "| 16 |" not in body
    assert "simulated: resource graph at base vs head, no cloud state" in body
    assert "```diff" in body
    diff = body.split("```diff", 1)[1].split("```", 1)[0]
    assert re.search(r'tags\.Owner: \(none\) → "platform"', diff), diff
    assert "+ aws:" not in diff  # nothing is created by a tag change


# --- it owns only its own comments -----------------------------------------------------------


def test_a_users_comment_with_the_marker_is_left_alone(repo, work, monkeypatch):
    unthrottled(monkeypatch)
    env = pull_request_env(repo, work, base=tag_change(repo))
    assert step(env, "plan") == 0
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake = FakeGitHub(mock)
        theirs = fake.add_comment("<!-- cloud:plan-comment -->\nI quote the bot", login="octocat")
        assert step(env, "comment") == 0
        assert fake.comments[theirs]["body"] == "<!-- cloud:plan-comment -->\nI quote the bot"
        assert fake.authors() == ["octocat", BOT]
        assert step(env, "comment") == 0
        assert len(fake.comments) == 2
        assert "PATCH" not in [m for m, u in fake.requests if str(theirs) in u]


# --- fork pull requests ----------------------------------------------------------------------


def plan_artifact(work: Path) -> bytes:
    """The `cloud-plan` artifact as upload-artifact zips the work folder's files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted((work / "cloud").glob("*")):
            if path.suffix in (".json", ".md"):
                archive.write(path, path.name)
    return buffer.getvalue()


def relay_env(repo: Path, work: Path, event: dict) -> dict[str, str]:
    path = work / "workflow_run.json"
    path.write_text(json.dumps(event))
    return {
        "GITHUB_EVENT_PATH": str(path),
        "GITHUB_EVENT_NAME": "workflow_run",
        "GITHUB_REPOSITORY": "acme/infra",
        "GITHUB_RUN_ID": "555",
        "GITHUB_TOKEN": "relay-token",
        "CLOUD_ROOT": str(repo),
        "CLOUD_WORK_DIR": str(work / "relay"),
    }


@contextlib.contextmanager
def relayed_run(event: dict, artifacts: dict[str, bytes], *, head: str, base: str):
    """GitHub as the relay meets it: the fork's pull request at `head`, the plan run of
    `event` with its artifacts."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake = FakeGitHub(mock)
        fake.add_fork_pull(head=head, base=base)
        fake.add_run(event, artifacts)
        yield fake


@pytest.fixture
def fork_plan(repo, work):
    """A fork's pull request planned by the untrusted run: no token, no secret."""
    base = tag_change(repo)
    env = pull_request_env(repo, work, base=base)
    env.pop("GITHUB_TOKEN")
    assert step(env, "plan") == 0
    assert step(env, "summary", work / "summary.md") == 0
    head = env["GITHUB_SHA"]
    event = fixture("workflow_run_fork_pr.json", head=head)
    return base, head, event


def test_a_fork_pull_request_gets_its_comment_from_the_relay(repo, work, fork_plan, monkeypatch):
    unthrottled(monkeypatch)
    base, head, event = fork_plan
    with relayed_run(event, {"cloud-plan": plan_artifact(work)}, head=head, base=base) as fake:
        assert step(relay_env(repo, work, event), "relay") == 0
        [body] = fake.bodies()
        assert fake.authors() == [BOT]
        assert "will run" in body.splitlines()[2]
        assert head[:7] in body and "https://github.com/acme/infra/actions/runs/9200000007" in body
        assert "fork" in body
        assert step(relay_env(repo, work, event), "relay") == 0
        assert len(fake.comments) == 1


def test_the_relay_posts_nothing_on_a_pull_request_whose_head_moved(
    repo, work, fork_plan, monkeypatch
):
    unthrottled(monkeypatch)
    base, _head, event = fork_plan
    with relayed_run(
        event, {"cloud-plan": plan_artifact(work)}, head="f" * 40, base=base
    ) as fake:  # a newer push: this plan is stale
        assert step(relay_env(repo, work, event), "relay") == 0
        assert fake.bodies() == []


def test_a_new_plan_run_marks_the_previous_comment_outdated(repo, work, fork_plan, monkeypatch):
    unthrottled(monkeypatch)
    base, head, event = fork_plan
    with relayed_run(event, {"cloud-plan": plan_artifact(work)}, head=head, base=base) as fake:
        assert step(relay_env(repo, work, event), "relay") == 0
        newer = "e" * 40
        fake.pulls[7]["head"]["sha"] = newer
        requested = event | {
            "action": "requested",
            "workflow_run": event["workflow_run"]
            | {"id": 9200000008, "head_sha": newer, "status": "queued", "conclusion": None},
        }
        assert step(relay_env(repo, work, requested), "relay") == 0
        [body] = fake.bodies()
    assert (
        f"**Outdated**: this plan is for `{head[:7]}`; the pull request is now at `eeeeeee`" in body
    )
    assert "will run" in body  # the old plan is still there to read, marked


def test_a_failed_fork_plan_is_relayed_as_a_failure(repo, work, monkeypatch):
    unthrottled(monkeypatch)
    env = pull_request_env(repo, work, base="0" * 40)
    env.pop("GITHUB_TOKEN")
    assert step(env, "plan") == 1
    event = fixture("workflow_run_fork_pr.json", head=env["GITHUB_SHA"])
    event["workflow_run"]["conclusion"] = "failure"
    with relayed_run(
        event, {"cloud-plan": plan_artifact(work)}, head=env["GITHUB_SHA"], base="0" * 40
    ) as fake:
        assert step(relay_env(repo, work, event), "relay") == 0
        [body] = fake.bodies()
    assert body.splitlines()[2] == "## ❌ cloud plan failed"
    assert "**The `plan` step failed**: base-ref 0000000" in body
    assert not COUNTS.search(body)


def test_a_run_without_an_artifact_is_relayed_as_a_failure_of_the_workflow(
    repo, work, fork_plan, monkeypatch
):
    unthrottled(monkeypatch)
    base, head, event = fork_plan
    event["workflow_run"]["conclusion"] = "failure"
    with relayed_run(event, {}, head=head, base=base) as fake:
        assert step(relay_env(repo, work, event), "relay") == 0
        [body] = fake.bodies()
    assert "**The `plan workflow` step failed**: the run uploaded no plan artifact" in body
    assert "the run's conclusion: failure" in body


def test_a_plan_artifact_that_is_not_a_plan_is_relayed_as_unreadable(
    repo, work, fork_plan, monkeypatch
):
    unthrottled(monkeypatch)
    base, head, event = fork_plan
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("plan.json", json.dumps({"environments": [1, "two"], "previews": 3}))
    with relayed_run(event, {"cloud-plan": buffer.getvalue()}, head=head, base=base) as fake:
        assert step(relay_env(repo, work, event), "relay") == 0
        [body] = fake.bodies()
    assert body.splitlines()[2] == "## ❌ cloud plan failed"
    assert "**The `comment` step failed**: the plan could not be read" in body


def test_a_secret_written_in_a_manifest_appears_in_nothing_the_plan_renders(
    repo, work, monkeypatch
):
    unthrottled(monkeypatch)
    manifest = "deployments/D1BRV40-CompanyA-ecommerce/manifest.yaml"
    commit_change(
        repo,
        manifest,
        "  services-api:\n    config:\n",
        '  services-api:\n    config:\n      apiKeyValue: "old-key-123456"\n',
    )
    base = git(repo, "rev-parse", "HEAD")
    commit_change(repo, manifest, "old-key-123456", "new-key-654321")
    env = pull_request_env(repo, work, base=base) | {
        "CLOUD_ENGINE": "simulate",
        "CLOUD_PREVIEW": "true",
        "CLOUD_DEPLOYMENT": "D1BRV40",
        "CLOUD_ENVIRONMENT": "dev",
    }
    assert step(env, "plan") == 0
    assert step(env, "summary", work / "summary.md") == 0
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake = FakeGitHub(mock)
        assert step(env, "comment") == 0
        [body] = fake.bodies()
    assert "services-api" in body and "config key apiKeyValue changed" in body
    for text in (
        body,
        (work / "summary.md").read_text(),
        (work / "cloud/plan.md").read_text(),
        (work / "cloud/plan.json").read_text(),
    ):
        assert "old-key-123456" not in text and "new-key-654321" not in text
