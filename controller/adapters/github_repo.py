"""The catalog in a GitHub repository, read at a branch's head and written as commits or PRs.

Reads go through PyGithub: the branch's head sha (polled at most every few seconds), the
recursive tree at that sha to find the catalog files, and the contents API for each file.
A snapshot is cached by commit sha and file texts by blob sha, so a new commit that
touches one manifest costs one tree and one file read. Writes use the contents API on
the configured branch (a commit per file) or, in pull-request mode, on a fresh branch
followed by a pull request; the caller validated them first.
"""

from __future__ import annotations

import base64
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from github import Auth, Github, GithubException, InputGitAuthor
from github.Repository import Repository

from controller.adapters.catalog_sources import (
    CatalogFiles,
    SourceConflictError,
    SourceError,
    WriteOutcome,
)
from controller.adapters.local_git import Author
from controller.adapters.stack_sources import build_stack_files
from controller.core.paths import is_catalog_path
from controller.core.stack_files import StackFiles


def connect(
    *, token: str, api_url: str = "https://api.github.com", **options: Any
) -> Github:  # pragma: no cover - trivial
    return Github(auth=Auth.Token(token), base_url=api_url, **options)


class GitHubCatalogSource:
    kind = "github"

    def __init__(
        self,
        client: Github,
        repository: str,
        *,
        branch: str | None = None,
        pull_requests: bool = False,
        poll_seconds: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.repository = repository
        self._branch = branch
        self.pull_requests = pull_requests
        self.poll_seconds = poll_seconds
        self.monotonic = monotonic
        self._repo: Repository | None = None
        self._head: str | None = None
        self._checked = float("-inf")
        self._snapshots: dict[str, tuple[CatalogFiles, dict[str, str]]] = {}
        self._blobs: dict[str, str] = {}
        self._lock = threading.Lock()
        self._last_error: str | None = None
        self._last_sync: float | None = None

    # --- reading --------------------------------------------------------------------------

    @property
    def repo(self) -> Repository:
        if self._repo is None:
            self._repo = self._call(lambda: self.client.get_repo(self.repository))
        return self._repo

    @property
    def branch(self) -> str:
        if self._branch is None:
            self._branch = self.repo.default_branch
        return self._branch

    def revision(self) -> str:
        with self._lock:
            now = self.monotonic()
            if self._head is None or now - self._checked >= self.poll_seconds:
                branch = self.branch
                self._head = self._call(lambda: self.repo.get_branch(branch).commit.sha)
                self._checked = now
            return self._head

    def forget_head(self) -> None:
        """Ask GitHub for the branch head again next time (a push webhook said it moved)."""
        with self._lock:
            self._head = None

    def read(self) -> CatalogFiles:
        sha = self.revision()
        with self._lock:
            cached = self._snapshots.get(sha)
            if cached is not None:
                return cached[0]
            tree = self._call(lambda: self.repo.get_git_tree(sha, recursive=True))
            blob_shas = {
                element.path: element.sha
                for element in tree.tree
                if element.type == "blob" and is_catalog_path(element.path)
            }
            files: dict[str, str] = {}
            for path, blob in sorted(blob_shas.items()):
                if blob not in self._blobs:
                    content = self._call(
                        lambda path=path: self.repo.get_contents(path, ref=sha)  # type: ignore[misc]
                    )
                    if isinstance(content, list):  # pragma: no cover - a folder, not a file
                        continue
                    self._blobs[blob] = content.decoded_content.decode("utf-8", errors="replace")
                files[path] = self._blobs[blob]
            snapshot = CatalogFiles(revision=sha, files=files, commit=sha)
            self._snapshots = {sha: (snapshot, blob_shas)}  # keep only the newest
            self._stack_ids = {
                element.path: element.sha
                for element in tree.tree
                if element.type == "blob" and element.path.startswith("stacks/")
            }
            self._last_sync = time.time()
            return snapshot

    def snapshot_at(self, commit: str) -> tuple[dict[str, str], dict[str, str]]:
        """The catalog's texts and the stack files' blob ids at `commit` (a rollback)."""
        tree = self._call(lambda: self.repo.get_git_tree(commit, recursive=True))
        texts: dict[str, str] = {}
        ids: dict[str, str] = {}
        for element in tree.tree:
            if element.type != "blob":
                continue
            if element.path.startswith("stacks/"):
                ids[element.path] = element.sha
            if is_catalog_path(element.path):
                if element.sha not in self._blobs:
                    content = self._call(
                        lambda path=element.path: self.repo.get_contents(path, ref=commit)  # type: ignore[misc]
                    )
                    self._blobs[element.sha] = content.decoded_content.decode(
                        "utf-8", errors="replace"
                    )
                texts[element.path] = self._blobs[element.sha]
        return texts, self._stack_files(ids)

    def stack_file_ids(self) -> StackFiles:
        """Every file under stacks/ at the snapshot read last: blob ids and facts."""
        self.read()
        with self._lock:
            ids = dict(getattr(self, "_stack_ids", {}))
        return self._stack_files(ids)

    def _stack_files(self, ids: Mapping[str, str]) -> StackFiles:
        """Facts by blob, memoized for the source's life: a blob is fetched once."""
        known = getattr(self, "_facts", {})

        def read(missing: dict[str, str]) -> dict[str, bytes]:
            return {
                path: base64.b64decode(
                    self._call(lambda blob=blob: self.repo.get_git_blob(blob)).content  # type: ignore[misc]
                )
                for path, blob in missing.items()
            }

        files = build_stack_files(ids, read, known=known)
        self._facts = {**known, **files.facts}
        return files

    # --- writing --------------------------------------------------------------------------

    def write(
        self, changes: Mapping[str, str | None], *, message: str, author: Author
    ) -> WriteOutcome:
        self.read()
        with self._lock:
            head = self._head or ""
            blob_shas = self._snapshots[head][1] if head in self._snapshots else {}
            identity = InputGitAuthor(author.name or "unknown", author.email or "unknown@invalid")
            target = self.branch
            if self.pull_requests:
                target = _branch_name(message)
                self._call(lambda: self.repo.create_git_ref(f"refs/heads/{target}", head))
            commit = None
            for path, text in sorted(changes.items()):
                commit = self._write_one(path, text, blob_shas.get(path), target, message, identity)
            outcome = WriteOutcome("commit", commit=commit, branch=target)
            if self.pull_requests:
                pull = self._call(
                    lambda: self.repo.create_pull(
                        base=self.branch,
                        head=target,
                        title=message.splitlines()[0],
                        body=f"{message}\n\nProposed through the cloud API by {author.name}.",
                    )
                )
                outcome = WriteOutcome(
                    "pull-request",
                    commit=commit,
                    branch=target,
                    pull_request_url=pull.html_url,
                    pull_request_number=pull.number,
                )
            else:
                self._head = None  # re-read the branch on the next request
            return outcome

    def _write_one(
        self,
        path: str,
        text: str | None,
        blob: str | None,
        branch: str,
        message: str,
        identity: InputGitAuthor,
    ) -> str | None:
        repo = self.repo
        if text is None:
            if blob is None:
                return None
            result = self._call(
                lambda: repo.delete_file(path, message, blob, branch=branch, author=identity)
            )
        elif blob is None:
            result = self._call(
                lambda: repo.create_file(path, message, text, branch=branch, author=identity)
            )
        else:
            result = self._call(
                lambda: repo.update_file(path, message, text, blob, branch=branch, author=identity)
            )
        return result["commit"].sha  # type: ignore[union-attr]

    # --- plumbing -------------------------------------------------------------------------

    def _call(self, action: Callable[[], Any]) -> Any:
        try:
            result = action()
        except GithubException as error:
            self._last_error = f"GitHub answered {error.status}"
            if error.status in (409, 422):
                raise SourceConflictError(
                    f"GitHub refused the change ({error.status}): the branch moved; retry"
                ) from None
            raise SourceError(f"GitHub answered {error.status}") from None
        except OSError as error:  # requests' connection errors derive from it
            self._last_error = "GitHub unreachable"
            raise SourceError(f"GitHub unreachable: {type(error).__name__}") from None
        self._last_error = None
        return result

    def health(self) -> dict[str, Any]:
        status = "healthy" if self._last_error is None else "degraded"
        state: dict[str, Any] = {
            "status": status,
            "kind": "github",
            "pullRequests": self.pull_requests,
        }
        if self._last_error:
            state["error"] = self._last_error
        return state


def _branch_name(message: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", message.lower()).strip("-")[:40] or "change"
    return f"cloud/{slug}-{secrets.token_hex(3)}"
