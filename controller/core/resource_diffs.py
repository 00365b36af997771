"""Two resource graphs compared: what a reviewer needs to see, values included.

A resource graph is what a program registers (type, name, URN, inputs), from a stack's
state or from running the program under Pulumi's mock runtime. Matched by URN, each
resource is created, deleted, updated (with every changed input as a path and its old and
new value) or the same. Values are shown as compact JSON, cut to a readable length; a
secret (the mock runtime keeps only a hash of it, as `{"[secret]": …}`) shows as
`[secret]`, whether or not it changed. A purely computational module.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

SECRET = "[secret]"
ABSENT = "(none)"
VALUE_LIMIT = 120
STACK_TYPE = "pulumi:pulumi:Stack"


def is_secret(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {SECRET}


def show_value(value: Any, *, limit: int = VALUE_LIMIT) -> str:
    """A value as a reviewer reads it: compact JSON, secrets masked, cut to `limit`."""
    text = json.dumps(_masked(value), sort_keys=True, separators=(", ", ": "), default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _masked(value: Any) -> Any:
    if is_secret(value):
        return SECRET
    if isinstance(value, Mapping):
        return {str(key): _masked(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    return value


def input_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[dict[str, str]]:
    """Changed inputs as `{"path", "old", "new"}` (shown values), nested maps by key path."""
    changes: list[dict[str, str]] = []
    _walk(old, new, "", changes)
    return changes


def _walk(old: Any, new: Any, path: str, changes: list[dict[str, str]]) -> None:
    if old == new:
        return
    both_maps = isinstance(old, Mapping) and isinstance(new, Mapping)
    if both_maps and not is_secret(old) and not is_secret(new):
        for key in sorted(set(old) | set(new), key=str):
            inner = f"{path}.{key}" if path else str(key)
            _walk(old.get(key, _MISSING), new.get(key, _MISSING), inner, changes)
        return
    if is_secret(old) and is_secret(new):
        changes.append({"path": path, "old": SECRET, "new": f"{SECRET} (changed)"})
        return
    changes.append(
        {
            "path": path,
            "old": ABSENT if old is _MISSING else show_value(old),
            "new": ABSENT if new is _MISSING else show_value(new),
        }
    )


class _Missing:
    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return "<missing>"


_MISSING: Any = _Missing()


def diff_graphs(
    old: Iterable[Mapping[str, Any]], new: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Each resource of either graph as a change: `{"urn", "type", "name", "kind", "inputs"}`.

    `kind` is create, update, delete or same; `inputs` lists the changed inputs of an
    update. Order: the new graph's resources as registered, then the deleted ones.
    """
    before = {r["urn"]: r for r in old if r.get("type") != STACK_TYPE}
    changes: list[dict[str, Any]] = []
    for resource in new:
        if resource.get("type") == STACK_TYPE:
            continue
        previous = before.pop(resource["urn"], None)
        name = resource.get("name") or resource_name(resource["urn"])
        if previous is None:
            changes.append(_change(resource, name, "create"))
            continue
        changed = input_changes(previous.get("inputs") or {}, resource.get("inputs") or {})
        changes.append(_change(resource, name, "update" if changed else "same", changed))
    for urn, resource in before.items():
        changes.append(_change(resource, resource.get("name") or resource_name(urn), "delete"))
    return changes


def _change(
    resource: Mapping[str, Any], name: str, kind: str, inputs: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    return {
        "urn": resource["urn"],
        "type": resource["type"],
        "name": name,
        "kind": kind,
        "inputs": inputs or [],
    }


def count_changes(changes: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(("create", "update", "delete", "replace", "same"), 0)
    for change in changes:
        counts[change["kind"]] = counts.get(change["kind"], 0) + 1
    return counts


def resource_name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]
