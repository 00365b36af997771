"""Commits in the local checkout: what a write through the service becomes in embedded mode.

The service writes a manifest, a template or a stack definition, then commits exactly
those paths (`git commit -- <paths>`), so whatever else is staged or modified in the
checkout stays out of the commit. The message goes through standard input (`-F -`): a
change list of 20,000 lines is no argument the kernel accepts. A commit that fails
(a hook refuses it, git breaks) puts the index back as it was, so the refused change
is not left staged for the next plain `git commit` in that checkout. The author is the
signed-in user; the committer is the checkout's configured identity, or "cloud
controller" where none is configured. Also reads the history the API reports as
createdAt/updatedAt, in one `git log` per HEAD.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from controller.adapters.git_repo import GitError

FALLBACK_NAME = "cloud controller"
FALLBACK_EMAIL = "cloud@localhost"


@dataclass(frozen=True)
class Author:
    name: str
    email: str


@dataclass(frozen=True)
class LocalGit:
    root: Path

    def _git(self, *args: str, env: dict[str, str] | None = None, stdin: str = "") -> str:
        try:
            completed = subprocess.run(
                ["git", "-C", str(self.root), *args],
                capture_output=True,
                check=False,
                env=env,
                input=stdin,
                text=True,
                timeout=60,
            )
        except FileNotFoundError:
            raise GitError("git is not installed") from None
        except subprocess.TimeoutExpired:
            raise GitError(f"git {args[0]} timed out") from None
        if completed.returncode != 0:
            lines = completed.stderr.strip().splitlines()
            raise GitError(f"git {args[0]}: {lines[-1] if lines else 'failed'}")
        return completed.stdout

    def is_checkout(self) -> bool:
        try:
            return self._git("rev-parse", "--is-inside-work-tree").strip() == "true"
        except GitError:
            return False

    def head(self) -> str | None:
        try:
            return self._git("rev-parse", "--verify", "--quiet", "HEAD").strip() or None
        except GitError:
            return None

    def commit(self, paths: Iterable[str], *, message: str, author: Author) -> str:
        """Commit exactly `paths` (written or deleted) and return the new commit's sha."""
        selected = sorted(set(paths))
        if not selected:
            raise GitError("nothing to commit")
        env = dict(os.environ)
        if not self._configured("user.name") or not self._configured("user.email"):
            env |= {
                "GIT_COMMITTER_NAME": FALLBACK_NAME,
                "GIT_COMMITTER_EMAIL": FALLBACK_EMAIL,
            }
        index = self._index_path()
        saved = index.read_bytes() if index.is_file() else None
        try:
            self._git("add", "--all", "--", *selected, env=env)
            self._git(
                "commit",
                "--quiet",
                "--no-edit",
                "--file=-",
                f"--author={_safe(author.name)} <{_safe(author.email)}>",
                "--only",
                "--",
                *selected,
                env=env,
                stdin=message,
            )
        except GitError:
            _restore(index, saved)
            raise
        sha = self.head()
        if sha is None:  # pragma: no cover - a commit was just made
            raise GitError("commit made but HEAD is unreadable")
        return sha

    def _index_path(self) -> Path:
        path = Path(self._git("rev-parse", "--git-path", "index").strip())
        return path if path.is_absolute() else self.root / path

    def identity(self) -> Author:
        """Who commits here: the checkout's configured user, or the fallback identity."""
        name, email = self._value("user.name"), self._value("user.email")
        return Author(name or FALLBACK_NAME, email or FALLBACK_EMAIL)

    def _value(self, key: str) -> str:
        try:
            return self._git("config", "--get", key).strip()
        except GitError:
            return ""

    def _configured(self, key: str) -> bool:
        return bool(self._value(key))

    def file_times(self, prefixes: Iterable[str]) -> dict[str, tuple[str, str]]:
        """`{path: (first commit time, last commit time)}` of files under `prefixes`."""
        return self.file_history(prefixes)[0]

    def file_history(
        self, prefixes: Iterable[str]
    ) -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]]]:
        """`{path: (first, last commit time)}` and `{path: (first, last author e-mail)}` of
        the files under `prefixes`, from one `git log`."""
        try:
            output = self._git(
                "log", "--format=%x00%cI%x00%ae", "--name-only", "--no-renames", "--", *prefixes
            )
        except GitError:
            return {}, {}
        times: dict[str, tuple[str, str]] = {}
        authors: dict[str, tuple[str, str]] = {}
        when = who = ""
        for line in output.splitlines():
            if line.startswith("\x00"):
                stamp, _, who = line[1:].partition("\x00")
                when = _utc(stamp)
            elif line and when:
                # the log is newest first: the last one seen is the oldest
                times[line] = (when, times[line][1] if line in times else when)
                authors[line] = (who, authors[line][1] if line in authors else who)
        return times, authors


def _restore(index: Path, saved: bytes | None) -> None:
    """Put the index back as it was before a failed commit (atomically: temp, rename)."""
    if saved is None:
        index.unlink(missing_ok=True)
        return
    temporary = index.with_name(f"{index.name}.cloud-restore")
    temporary.write_bytes(saved)
    os.replace(temporary, index)


def _safe(text: str) -> str:
    """An identity component git accepts: no angle brackets or newlines."""
    cleaned = "".join(ch for ch in text if ch not in "<>\n\r").strip()
    return cleaned or "unknown"


def _utc(stamp: str) -> str:
    try:
        moment = datetime.fromisoformat(stamp.strip())
    except ValueError:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
