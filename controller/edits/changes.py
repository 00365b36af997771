"""What an edit changed, said for people and for programs: change lines (`tags.team: a → b`)
and how the write reached the repo (a commit, a pull request, or files only).
A purely computational module.
"""

from __future__ import annotations

from typing import Any

from controller.adapters.catalog_sources import WriteOutcome


def full_dict(model: Any) -> dict[str, Any]:
    """A model as JSON data with every field, so defaults show in change lists."""
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


def describe_changes(before: Any, after: Any, path: str = "") -> list[str]:
    """Human lines for what differs between two JSON-like values (`tags.X: a → b`)."""
    if isinstance(before, dict) and isinstance(after, dict):
        lines: list[str] = []
        for key in sorted(set(before) | set(after), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in before:
                lines.append(f"{where}: <new> → {_short(after[key])}")
            elif key not in after:
                lines.append(f"{where}: {_short(before[key])} → <removed>")
            else:
                lines += describe_changes(before[key], after[key], where)
        return lines
    if before != after:
        return [f"{path or '(value)'}: {_short(before)} → {_short(after)}"]
    return []


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def change_data(outcome: WriteOutcome | None) -> dict[str, Any] | None:
    """The API's `change` object of a write (None: nothing was written)."""
    if outcome is None:
        return None
    return {
        "mode": outcome.mode,
        "commit": outcome.commit,
        "branch": outcome.branch,
        "pullRequestUrl": outcome.pull_request_url,
        "pullRequestNumber": outcome.pull_request_number,
    }
