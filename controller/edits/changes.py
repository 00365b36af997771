"""What an edit changed, said for people and for programs: change lines (`tags.team: a → b`,
secret config values masked) and how the write reached the repo (a commit, a pull
request, or files only).
A purely computational module.
"""

from __future__ import annotations

from typing import Any

from controller.adapters.catalog_sources import WriteOutcome
from controller.core.catalog import Catalog
from controller.core.models import Manifest, StackDefinition, Template
from controller.core.secret_config import (
    catalog_secret_keys,
    mask_definition,
    mask_manifest,
    mask_template,
)


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


def manifest_changes(before: Manifest, after: Manifest, catalog: Catalog) -> list[str]:
    """What a manifest write changes, for its answer and its commit message: secret values
    masked (a changed one reads `[secret] → [secret] (changed)`)."""
    keys = catalog_secret_keys(catalog.stacks)
    old, new = full_dict(before), full_dict(after)
    return describe_changes(mask_manifest(old, keys), mask_manifest(new, keys, before=old))


def template_changes(before: Template, after: Template, catalog: Catalog) -> list[str]:
    """What a template write changes: secret values of `defaultConfig` masked."""
    keys = catalog_secret_keys(catalog.stacks)
    old, new = full_dict(before), full_dict(after)
    return describe_changes(mask_template(old, keys), mask_template(new, keys, before=old))


def definition_changes(before: StackDefinition, after: StackDefinition) -> list[str]:
    """What a stack definition write changes: the defaults of secret keys masked."""
    old, new = full_dict(before), full_dict(after)
    return describe_changes(mask_definition(old), mask_definition(new, before=old))


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
