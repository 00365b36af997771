"""One GitHub issue per drifted deployment environment, kept by the drift workflow.

An environment's issue is found again by its hidden marker (`core.drift.marker`) AND its
author (the workflow's identity): an issue someone else wrote, even with the marker in
it, is never edited or closed. When drift appears the issue is opened; while it lasts it
is edited in place (what drifted, since when — the first-seen time is kept — and a link to
the run); when a check finds the environment in sync again it gets a comment and is
closed. An environment whose check failed or was skipped keeps its issue as it is: an
unknown is not "gone". A create that GitHub may have stored before failing is looked for
before it is retried, so no run ever opens a second issue.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from github import Github
from github.GithubException import GithubException

from controller.adapters.github_api import RetryingCaller
from controller.core.drift import (
    ISSUE_LABEL,
    MARKER_PREFIX,
    issue_body,
    issue_title,
    marker,
    since_of,
)

BOT = "github-actions[bot]"  # who GITHUB_TOKEN writes as


@dataclass(frozen=True)
class IssueChange:
    deployment_id: str
    environment: str
    action: str  # opened | updated | unchanged | closed
    number: int
    url: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "deploymentId": self.deployment_id,
            "environment": self.environment,
            "action": self.action,
            "number": self.number,
            "url": self.url,
        }


@dataclass
class DriftIssues:
    github: Github
    repository: str
    author: str = BOT
    label: str = ISSUE_LABEL
    caller: RetryingCaller = field(default_factory=RetryingCaller)

    def sync(
        self,
        entries: Iterable[Mapping[str, Any]],
        *,
        at: str,
        run_url: str | None = None,
        simulated: bool = False,
    ) -> list[IssueChange]:
        """Open, update or close the issue of each checked environment (`cloud drift`'s
        report entries); returns what it did."""
        repo = self.github.get_repo(self.repository)
        ours = self._ours(repo)
        changes: list[IssueChange] = []
        for entry in entries:
            key = (entry["deploymentId"], entry["environment"])
            issue = ours.get(key)
            if entry["status"] == "drifted":
                since = since_of(issue.body) if issue is not None else None
                first_seen = since or entry.get("checkedAt") or at
                body = issue_body(entry, since=first_seen, run_url=run_url, simulated=simulated)
                changes.append(self._keep(repo, issue, key, body))
            elif entry["status"] == "in_sync" and issue is not None:
                changes.append(self._close(issue, key, at=at, run_url=run_url))
        return changes

    # --- finding ----------------------------------------------------------------------------

    def _ours(self, repo: Any) -> dict[tuple[str, str], Any]:
        """The open issues this workflow wrote, by deployment environment (the oldest
        first, should two ever exist)."""
        issues = self.caller.call(
            f"listing the open issues of {self.author}",
            lambda: list(repo.get_issues(state="open", creator=self.author)),
        )
        found: dict[tuple[str, str], Any] = {}
        for issue in sorted(issues, key=lambda i: i.number):
            key = self.key_of(issue)
            if key is not None:
                found.setdefault(key, issue)
        return found

    def key_of(self, issue: Any) -> tuple[str, str] | None:
        """The deployment environment of one of our issues (None: not ours)."""
        # a pull request is an issue too; its html_url says so (reading `pull_request`
        # would cost a request per issue when the listing leaves it out)
        if "/pull/" in (issue.html_url or "") or issue.user is None:
            return None
        if issue.user.login != self.author:
            return None  # a person's issue, marker or not
        first = (issue.body or "").split("\n", 1)[0].strip()
        if not (first.startswith(MARKER_PREFIX) and first.endswith("-->")):
            return None
        target = first[len(MARKER_PREFIX) : -len("-->")].strip()
        deployment_id, sep, environment = target.partition("/")
        if not sep or first != marker(deployment_id, environment):
            return None
        return deployment_id, environment

    # --- changing ---------------------------------------------------------------------------

    def _keep(self, repo: Any, issue: Any, key: tuple[str, str], body: str) -> IssueChange:
        title = issue_title(*key)
        if issue is None:
            created = self._create(repo, key, title, body)
            return IssueChange(*key, "opened", created.number, created.html_url)
        if issue.body == body and issue.title == title:
            return IssueChange(*key, "unchanged", issue.number, issue.html_url)
        self.caller.call(
            f"updating issue #{issue.number}", lambda: issue.edit(title=title, body=body)
        )
        return IssueChange(*key, "updated", issue.number, issue.html_url)

    def _create(self, repo: Any, key: tuple[str, str], title: str, body: str) -> Any:
        def attempt() -> Any:
            try:
                return repo.create_issue(title=title, body=body, labels=[self.label])
            except GithubException as error:
                if error.status is not None and error.status >= 500:
                    stored = self._ours(repo).get(key)
                    if stored is not None:
                        return stored
                raise

        return self.caller.call(f"opening the drift issue of {key[0]}/{key[1]}", attempt)

    def _close(
        self, issue: Any, key: tuple[str, str], *, at: str, run_url: str | None
    ) -> IssueChange:
        link = f" ([run]({run_url}))" if run_url else ""
        note = (
            f"The drift is gone: {key[0]} / {key[1]} was found in sync with what is "
            f"deployed at {at}{link}. Closing."
        )
        self.caller.call(f"commenting on issue #{issue.number}", lambda: issue.create_comment(note))
        self.caller.call(
            f"closing issue #{issue.number}",
            lambda: issue.edit(state="closed", state_reason="completed"),
        )
        return IssueChange(*key, "closed", issue.number, issue.html_url)
