"""The drift workflow's issues, against GitHub's issues API played by `responses` through
PyGithub: one issue per drifted deployment environment, opened once, updated in place,
closed with a comment when the drift is gone, never duplicated; a person's issue that
carries the marker is left alone."""

from __future__ import annotations

from typing import Any

import pytest
import responses

from controller.adapters.drift_issues import DriftIssues
from controller.adapters.github_api import RetryingCaller, make_github
from controller.core.drift import environment_entry, marker
from tests.github_issues_fake import FakeIssues

RUN = "https://github.com/acme/infra/actions/runs/{}"


def report(name: str = "hand-edited", *, at: str = "2026-12-01T05:00:00.000Z") -> dict[str, Any]:
    """A refresh report (`OperationReport.to_dict()`) where network's VPC drifted."""
    return {
        "operationId": "op-1",
        "startedAt": at,
        "stacks": [
            {
                "stack": "network",
                "status": "succeeded",
                "drift": {
                    "status": "drifted",
                    "driftDetected": True,
                    "resources": [
                        {"urn": "urn::vpc", "type": "aws:ec2/vpc:Vpc", "name": "vpc",
                         "kind": "updated",
                         "properties": [{"name": "tags.Name", "old": "d1-dev", "new": name}]}
                    ],
                },
            },
            {"stack": "security", "status": "succeeded",
             "drift": {"status": "in_sync", "driftDetected": False, "resources": []}},
        ],
    }  # fmt: skip


def drifted(deployment: str = "D1BRV40", environment: str = "dev", **options: Any) -> Any:
    return environment_entry(deployment, environment, report(**options))


def in_sync(deployment: str = "D1BRV40", environment: str = "dev") -> Any:
    clean = report()
    clean["stacks"] = clean["stacks"][1:]
    return environment_entry(deployment, environment, clean)


@pytest.fixture
def github():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield FakeIssues(mock)


def issues() -> DriftIssues:
    return DriftIssues(
        make_github("t0ken", throttle=False),
        "acme/infra",
        caller=RetryingCaller(sleep=lambda _: None),
    )


def test_an_issue_is_opened_once_updated_in_place_and_closed_when_the_drift_is_gone(github):
    first = issues().sync([drifted(), in_sync("D2K7Q1M", "prod")], at="T1", run_url=RUN.format(1))
    assert [(c.action, c.number) for c in first] == [("opened", 1)]
    [opened] = github.open_ones()
    assert opened["title"] == "Drift: D1BRV40 / dev"
    assert opened["body"].startswith(marker("D1BRV40", "dev") + "\n")
    assert "| network | drifted | aws:ec2/vpc:Vpc vpc | tags.Name |" in opened["body"]
    assert '"d1-dev"' in opened["body"] and '"hand-edited"' in opened["body"]
    assert RUN.format(1) in opened["body"] and [label["name"] for label in opened["labels"]] == [
        "drift"
    ]

    same = issues().sync([drifted()], at="T2", run_url=RUN.format(1))
    assert [c.action for c in same] == ["unchanged"]
    second = issues().sync([drifted(name="edited again", at="T3")], at="T3", run_url=RUN.format(2))
    assert [(c.action, c.number) for c in second] == [("updated", 1)]
    [updated] = github.open_ones()
    assert '"edited again"' in updated["body"] and RUN.format(2) in updated["body"]
    assert "since **2026-12-01T05:00:00.000Z**" in updated["body"]  # first seen, kept
    assert len(github.issues) == 1

    gone = issues().sync([in_sync()], at="T4", run_url=RUN.format(3))
    assert [(c.action, c.number) for c in gone] == [("closed", 1)]
    assert github.open_ones() == []
    assert github.issues[1]["state_reason"] == "completed"
    [comment] = github.comments[1]
    assert "The drift is gone" in comment and RUN.format(3) in comment


def test_many_runs_never_open_a_second_issue(github):
    for run in range(5):
        issues().sync([drifted(name=f"edit {run % 2}")], at=f"T{run}", run_url=RUN.format(run))
    assert len(github.issues) == 1
    assert sum(method == "POST" and url.endswith("/issues") for method, url in github.requests) == 1


def test_a_create_github_stored_before_failing_is_not_repeated(github):
    github.fail_after_storing = 1
    [change] = issues().sync([drifted()], at="T1")
    assert change.action == "opened" and len(github.issues) == 1


def test_a_persons_issue_with_the_marker_is_left_alone(github):
    body = marker("D1BRV40", "dev") + "\nI copied this from the bot's issue; please look."
    person = github.add("Drift: D1BRV40 / dev (mine)", body, author="alice")
    pull = github.add("a PR", marker("D1BRV40", "dev"), pull_request=True)
    changes = issues().sync([drifted()], at="T1")
    assert [c.action for c in changes] == ["opened"]
    assert changes[0].number not in (person, pull)
    issues().sync([in_sync()], at="T2")
    assert github.issues[person]["state"] == "open" and github.issues[person]["body"] == body
    assert person not in github.comments
    assert (
        sum(
            1 for method, url in github.requests if method == "PATCH" and url.endswith(f"/{person}")
        )
        == 0
    )


def test_an_environment_that_could_not_be_checked_keeps_its_issue(github):
    issues().sync([drifted()], at="T1")
    unknown = environment_entry("D1BRV40", "dev", None, status="failed", reason="no credentials")
    assert issues().sync([unknown], at="T2") == []
    assert len(github.open_ones()) == 1


def test_each_environment_has_its_own_issue(github):
    issues().sync([drifted("D1BRV40", "dev"), drifted("D1BRV40", "stage")], at="T1")
    titles = sorted(i["title"] for i in github.open_ones())
    assert titles == ["Drift: D1BRV40 / dev", "Drift: D1BRV40 / stage"]
    issues().sync([in_sync("D1BRV40", "stage"), drifted("D1BRV40", "dev")], at="T2")
    assert [i["title"] for i in github.open_ones()] == ["Drift: D1BRV40 / dev"]


def test_user_strings_cannot_break_the_table(github):
    issues().sync([drifted(name="a | b <script>")], at="T1")
    body = github.open_ones()[0]["body"]
    assert "a \\| b &lt;script&gt;" in body and "<script>" not in body
