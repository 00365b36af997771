"""The plan comment on GitHub, and what the comment relay reads: through PyGithub.

A comment is ours when it starts with the plan marker AND its author is the token's own
login: a user who quotes the bot's comment (marker included) keeps their comment, and a
run never PATCHes what it may not edit (a 403 on GitHub). The default `GITHUB_TOKEN`
cannot read `GET /user`; it comments as `github-actions[bot]`, which is then assumed (a
GitHub App's token comments as `<app-slug>[bot]`: say so with `comment-author`).

Publishing keeps at most `MAX_COMMENTS`: the plan comment is edited in place, missing
continuations are created, and every other comment of ours that carries the marker (stale
continuations of any number, duplicates left by a race) is deleted. A run never replaces
the comment of a later run (the run id is in the comment's hidden line), so a slow, older
run cannot overwrite a newer plan.

The relay (a `workflow_run` workflow) finds the pull request of a plan run by the run's
head repository, branch and commit (GitHub leaves `pull_requests` empty for forks) and
downloads the run's artifact into memory, reading only the few plain files it expects,
each with a size cap: the artifact was made by untrusted code.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import requests
from github import Github
from github.GithubException import GithubException

from controller.adapters.github_api import GitHubApiError, RetryingCaller
from controller.core.comments import MAX_COMMENTS, comment_meta, comment_part, mark_outdated

DEFAULT_AUTHOR = "github-actions[bot]"
ARTIFACT_LIMIT = 64 * 1024 * 1024  # bytes of the zip, and of all files read from it


def comment_author(
    github: Github, configured: str = "", caller: RetryingCaller | None = None
) -> str:
    """Whose comments are ours: `configured`, else the token's login, else the bot of the
    default token (whose `GET /user` GitHub answers with 403)."""
    if configured.strip():
        return configured.strip()
    try:
        return (caller or RetryingCaller()).call(
            "who the token is", lambda: github.get_user().login
        )
    except GitHubApiError as error:
        if error.status == 403:
            return DEFAULT_AUTHOR
        raise


@dataclass
class PullRequestComments:
    """The plan comment of a pull request: found by marker and author, edited in place."""

    github: Github
    repository: str
    author: str = DEFAULT_AUTHOR
    caller: RetryingCaller = field(default_factory=RetryingCaller)

    def publish(
        self, number: int, bodies: list[str], *, run_id: int | None = None
    ) -> list[str] | None:
        """Create or update the comment and its continuations; return their URLs, or None
        when a later run's plan is already there (it is left as it is)."""
        if not 1 <= len(bodies) <= MAX_COMMENTS:
            raise ValueError(f"a plan is 1 to {MAX_COMMENTS} comments, not {len(bodies)}")
        issue, ours = self._ours(number)
        main = next(iter(ours.get(1, [])), None)
        if run_id is not None and main is not None:
            planned = comment_meta(main.body or "")["run"]
            if planned is not None and planned.isdigit() and int(planned) > run_id:
                return None
        kept: set[int] = set()
        urls: list[str] = []
        for part, body in enumerate(bodies, 1):
            comment = next(iter(ours.get(part, [])), None)
            if comment is None:
                comment = self._create(issue, number, body)
            elif comment.body != body:
                self.caller.call(
                    f"editing the plan comment of #{number}", lambda c=comment, b=body: c.edit(b)
                )
            kept.add(comment.id)
            urls.append(comment.html_url)
        for comments in ours.values():
            for stale in comments:
                if stale.id not in kept:
                    self.caller.call(
                        f"deleting a stale plan comment of #{number}", lambda c=stale: c.delete()
                    )
        return urls

    def mark_outdated(self, number: int, *, head: str, run_url: str | None) -> int:
        """Mark our comments outdated when they plan another commit than `head`; how many."""
        _, ours = self._ours(number)
        edited = 0
        for comments in ours.values():
            for comment in comments:
                marked = mark_outdated(comment.body or "", head=head, run_url=run_url)
                if marked is not None and marked != comment.body:
                    self.caller.call(
                        f"marking the plan of #{number} outdated",
                        lambda c=comment, b=marked: c.edit(b),
                    )
                    edited += 1
        return edited

    def _ours(self, number: int) -> tuple[Any, dict[int, list[Any]]]:
        repo = self.github.get_repo(self.repository)  # lazy: the client is
        issue = self.caller.call(f"pull request #{number}", lambda: repo.get_issue(number))
        comments = self.caller.call(f"comments of #{number}", lambda: list(issue.get_comments()))
        return issue, self.select(comments)

    def select(self, comments: Iterable[Any]) -> dict[int, list[Any]]:
        """Our comments by part (1: the plan comment), oldest first."""
        found: dict[int, list[Any]] = {}
        for comment in comments:
            part = comment_part(comment.body or "")
            login = getattr(comment.user, "login", "") or ""
            if part is not None and login.lower() == self.author.lower():
                found.setdefault(part, []).append(comment)
        return found

    def _create(self, issue: Any, number: int, body: str) -> Any:
        """Create a comment. A 5xx may come after GitHub stored it, so before each retry
        look for it: a retried create must not post a second comment."""

        def attempt() -> Any:
            try:
                return issue.create_comment(body)
            except GithubException as error:
                if error.status is not None and error.status >= 500:
                    mine = self.select(list(issue.get_comments()))
                    stored = [c for part in mine.values() for c in part if c.body == body]
                    if stored:
                        return stored[0]
                raise

        return self.caller.call(f"commenting on #{number}", attempt)


@dataclass(frozen=True)
class PullRequestHead:
    number: int
    sha: str


def find_pull_request(
    github: Github,
    repository: str,
    *,
    head_repository: str,
    branch: str,
    sha: str,
    caller: RetryingCaller | None = None,
) -> PullRequestHead | None:
    """The open pull request whose head is `branch` of `head_repository` (preferring the
    one at `sha`), with the commit its head is at now; None when there is none."""
    call = (caller or RetryingCaller()).call
    owner = head_repository.split("/", 1)[0]
    repo = github.get_repo(repository)
    pulls = call(
        "pull requests of the run's branch",
        lambda: list(repo.get_pulls(state="open", head=f"{owner}:{branch}")),
    )
    matching = [
        pull
        for pull in pulls
        if (pull.head.repo.full_name if pull.head.repo else "").lower() == head_repository.lower()
    ]
    if not matching:
        return None
    chosen = next((pull for pull in matching if pull.head.sha == sha), matching[0])
    return PullRequestHead(chosen.number, chosen.head.sha)


def download_artifact(
    github: Github,
    repository: str,
    *,
    token: str,
    run_id: int,
    name: str,
    files: Iterable[str],
    caller: RetryingCaller | None = None,
    limit: int = ARTIFACT_LIMIT,
    timeout: float = 60.0,
) -> tuple[dict[str, bytes], str] | None:
    """The files named `files` (names or `prefix*` patterns) of the run's artifact `name`,
    read in memory, and the artifact's id; None when the run has no such artifact.

    GitHub answers the download with a 302 to blob storage (not a GitHub host, which
    PyGithub's own download refuses to follow): the token goes to GitHub only, the signed
    blob URL is fetched without it."""
    call = (caller or RetryingCaller()).call
    repo = github.get_repo(repository)
    run = repo.get_workflow_run(run_id)
    artifacts = call(f"artifacts of run {run_id}", lambda: list(run.get_artifacts()))
    artifact = next((a for a in artifacts if a.name == name and not a.expired), None)
    if artifact is None:
        return None
    with requests.Session() as session:
        answer = session.get(
            artifact.archive_download_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"},
            allow_redirects=False,
            timeout=timeout,
        )
        location = answer.headers.get("Location")
        if answer.status_code not in (301, 302, 303, 307) or not location:
            raise GitHubApiError(
                f"downloading artifact {name}: GitHub answered {answer.status_code}",
                status=answer.status_code,
            )
        data = bytearray()
        with session.get(location, stream=True, timeout=timeout) as blob:
            if blob.status_code != 200:
                raise GitHubApiError(
                    f"downloading artifact {name}: storage answered {blob.status_code}"
                )
            for chunk in blob.iter_content(chunk_size=65536):
                data += chunk
                if len(data) > limit:
                    raise GitHubApiError(f"artifact {name} is larger than {limit} bytes")
    return _read_zip(bytes(data), list(files), limit=limit), str(artifact.id)


def _read_zip(data: bytes, patterns: list[str], *, limit: int) -> dict[str, bytes]:
    """Only plain top-level files whose names match; no path is ever written to disk."""

    def wanted(filename: str) -> bool:
        if "/" in filename or "\\" in filename or filename.startswith("."):
            return False
        return any(
            filename == p or (p.endswith("*") and filename.startswith(p[:-1])) for p in patterns
        )

    found: dict[str, bytes] = {}
    total = 0
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                if info.is_dir() or not wanted(info.filename):
                    continue
                with archive.open(info) as stream:
                    content = stream.read(limit - total + 1)
                total += len(content)
                if total > limit:
                    raise GitHubApiError(f"the artifact's files are larger than {limit} bytes")
                found[info.filename] = content
    except zipfile.BadZipFile as error:
        raise GitHubApiError(f"the artifact is not a zip file: {error}") from None
    return found
