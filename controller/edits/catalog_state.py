"""The repo as the application sees it: a snapshot cached per revision, and the write path.

Parsing and validating the catalog costs milliseconds; a request must not pay it. The
snapshot is kept until the source's revision changes (checked at most every
`CLOUD_REPO_REFRESH_SECONDS`, and at once after our own writes), and whatever the routes
derive from it is memoized on it. Writes go through `write`: under one lock, the change
is applied to the freshest files in memory (`with_files`), the future snapshot is
validated, and only if it introduces no error is it handed to the source to write and
commit. An invalid write writes and commits nothing. The service and the CLI both write
through it (the CLI over the local checkout), so a change is checked the same way whoever
makes it.

Read-after-write: every acknowledged write raises a counter (`acknowledged`), and every
snapshot records how many writes had been acknowledged when its read began
(`writes_seen`). A snapshot older than the counter is never served, not even while
another request's refresh is in flight: `fresh()` and `at_least(generation)` wait for one
new enough. A cache above this one (per repository head) keys on `CatalogState.revision`
and asks `at_least(WriteResult.generation)` after its own writes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread

from controller.adapters.catalog_sources import CatalogFiles, CatalogSource, WriteOutcome
from controller.adapters.local_git import Author
from controller.core.catalog import RepoSnapshot, load_snapshot, with_files
from controller.core.problems import Problem, ProblemError
from controller.core.validation import validate_snapshot


@dataclass(frozen=True)
class CatalogState:
    files: CatalogFiles
    snapshot: RepoSnapshot
    writes_seen: int = 0  # acknowledged writes when its read began: it includes them all
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def revision(self) -> str:
        return self.files.revision

    def remember(self, key: Any, compute: Callable[[], Any]) -> Any:
        """A value derived from this state, computed once (states are immutable)."""
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]

    def problems(self, deployments: Iterable[str] | None = None) -> list[Problem]:
        scope = None if deployments is None else tuple(sorted(deployments))
        return self.remember(
            ("problems", scope),
            lambda: validate_snapshot(self.snapshot, deployments=scope),
        )


class WriteRefused(ProblemError):
    """The change would break the catalog: the problems it introduces, nothing written."""


@dataclass(frozen=True)
class WriteResult:
    outcome: WriteOutcome
    future: RepoSnapshot
    generation: int = 0  # a snapshot with writes_seen >= this one includes the write


def introduced_problems(before: list[Problem], after: list[Problem]) -> list[Problem]:
    """Errors in `after` that `before` did not have (line numbers may move; ignored).

    A write is refused only for what it breaks: a repo with an unrelated broken manifest
    can still be edited. A purely computational function.
    """
    known = {(p.code, p.file, p.message) for p in before if p.severity == "error"}
    return [p for p in after if p.severity == "error" and (p.code, p.file, p.message) not in known]


class RepoState:
    def __init__(
        self,
        source: CatalogSource,
        *,
        refresh_seconds: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.refresh_seconds = refresh_seconds
        self.monotonic = monotonic
        self._state: CatalogState | None = None
        self._checked = float("-inf")
        self._refreshing = False
        self._acknowledged = 0
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()

    @property
    def acknowledged(self) -> int:
        """How many writes this process has acknowledged (or been told of)."""
        return self._acknowledged

    def current(self) -> CatalogState:
        """The snapshot, re-read when the source moved; never older than an acknowledged
        write."""
        with self._lock:
            now = self.monotonic()
            state = self._state
            floor = self._acknowledged
            if (
                state is not None
                and state.writes_seen >= floor
                and now - self._checked < self.refresh_seconds
            ):
                return state
            revision = self.source.revision()
            if state is None or revision != state.revision:
                files = self.source.read()
                state = CatalogState(files, load_snapshot(files.files), floor)
            elif state.writes_seen < floor:
                # same revision: the write changed nothing the source shows (a pull request)
                state = CatalogState(state.files, state.snapshot, floor, state.memo)
            self._state = state
            self._checked = now
            return state

    def at_least(self, generation: int) -> CatalogState:
        """A snapshot that includes every write up to `generation` (`WriteResult.generation`)."""
        state = self._state
        if state is not None and state.writes_seen >= max(generation, self._acknowledged):
            return state
        self.invalidate()
        return self.current()

    async def fresh(self) -> CatalogState:
        """The current state; reading the source (disk, GitHub) happens off the event loop.

        One request at a time checks the source; the others meanwhile answer from the
        state they have (at most `refresh_seconds` old), rather than queueing behind it,
        unless that state predates a write already acknowledged: then they wait for a
        new enough one.
        """
        state = self._state
        if state is not None and state.writes_seen < self._acknowledged:
            return await anyio.to_thread.run_sync(self.current)
        if state is not None and (
            self._refreshing or self.monotonic() - self._checked < self.refresh_seconds
        ):
            return state
        # A local revision is a stat of each catalog file: cheaper here than a thread hop,
        # which under load waits on the event loop for the GIL at every syscall.
        local = getattr(self.source, "kind", "") == "local"
        if state is not None and local and self.source.revision() == state.revision:
            self._checked = self.monotonic()
            return state
        self._refreshing = True
        try:
            return await anyio.to_thread.run_sync(self.current)
        finally:
            self._refreshing = False

    def invalidate(self) -> None:
        with self._lock:
            self._checked = float("-inf")

    def note_write(self) -> int:
        """Someone (this process, or another replica that said so) wrote the repo: from
        now on only a snapshot read after this moment is served. Returns the generation."""
        with self._lock:
            self._acknowledged += 1
            self._checked = float("-inf")
            return self._acknowledged

    def write(
        self,
        changes: Mapping[str, str | None],
        *,
        message: str,
        author: Author,
        deployments: Iterable[str] | None = None,
        check: Callable[[CatalogState], None] | None = None,
    ) -> WriteResult:
        """Validate `changes` on the future snapshot, then write and commit them.

        `deployments` scopes validation (None: the catalog changed, check every
        deployment). `check` re-runs the caller's preconditions (exists, not exists)
        against the freshest state, under the write lock. Raises `WriteRefused` with the
        problems the change would introduce; nothing is written then.
        """
        with self._write_lock:
            self.invalidate()
            state = self.current()
            if check is not None:
                check(state)
            scope = None if deployments is None else list(deployments)
            future = load_snapshot(with_files(state.files.files, changes))
            after = validate_snapshot(future, deployments=scope)
            introduced = introduced_problems(state.problems(scope), after)
            if introduced:
                raise WriteRefused(introduced)
            try:
                outcome = self.source.write(changes, message=message, author=author)
            finally:
                generation = self.note_write()  # a failed write may have half-happened
            return WriteResult(outcome, future, generation)

    def health(self) -> dict[str, Any]:
        state = self.source.health()
        if self._state is not None:
            state["revision"] = self._state.files.commit or self._state.revision[:12]
            state["deployments"] = len(self._state.snapshot.deployments)
        return state
