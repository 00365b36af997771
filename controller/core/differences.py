"""Why two fingerprints differ, in the terms a reviewer thinks in.

"config key instanceClass changed: db.t3.small → db.t3.medium", "program
stacks/network/__main__.py changed", "pulumi-aws 7.50.0 → 7.51.1". Values appear only
where both sides kept them in clear (short and not secret); otherwise the reason names the
key alone. Fingerprints of format 1 (files by blob id, every deployment setting) are
explained in their own terms. A purely computational module.
"""

from __future__ import annotations

from collections.abc import Mapping

Components = Mapping[str, Mapping[str, str]]

_LABELS = {
    "config": "config key",
    "settings": "deployment setting",
    "context": "deployment setting",
}
_DEFINITION_FIELDS = {
    "configuration": "config schema",
    "outputs": "outputs",
    "dependencies": "dependencies",
    "reads": "reads",
}


def explain_difference(
    old: Components,
    new: Components,
    *,
    old_values: Components | None = None,
    new_values: Components | None = None,
    stack: str = "",
) -> list[str]:
    """Why two fingerprints differ, as short sentences: stack files first, then config."""
    before_values, after_values = old_values or {}, new_values or {}
    reasons: list[str] = []
    if "files" in old or "files" in new:
        reasons += _legacy_files(old.get("files", {}), new.get("files", {}))
    reasons += _definition(
        old.get("definition"), new.get("definition"), stack, before_values, after_values
    )
    reasons += _program(old.get("program"), new.get("program"))
    reasons += _toolchain(old.get("toolchain"), new.get("toolchain"))
    for part in ("config", "settings", "context"):
        before, after = old.get(part), new.get(part)
        if before is None and after is None:
            continue
        reasons += _keyed(
            _LABELS[part],
            before or {},
            after or {},
            before_values.get(part, {}),
            after_values.get(part, {}),
        )
    return reasons or ["fingerprint changed"]


def _state(key: str, before: Mapping[str, str], after: Mapping[str, str]) -> str:
    return "added" if key not in before else "removed" if key not in after else "changed"


def _keyed(
    label: str,
    before: Mapping[str, str],
    after: Mapping[str, str],
    old_shown: Mapping[str, str],
    new_shown: Mapping[str, str],
) -> list[str]:
    reasons = []
    for key in sorted(set(before) | set(after)):
        if before.get(key) == after.get(key):
            continue
        state = _state(key, before, after)
        secret = str(before.get(key, "")).startswith("pbkdf2:") or str(
            after.get(key, "")
        ).startswith("pbkdf2:")
        old_text, new_text = old_shown.get(key), new_shown.get(key)
        if secret:
            detail = " (secret: value not shown)"
        elif state == "changed" and old_text is not None and new_text is not None:
            detail = f": {old_text} → {new_text}"
        elif state == "added" and new_text is not None:
            detail = f": {new_text}"
        elif state == "removed" and old_text is not None:
            detail = f" (was {old_text})"
        else:
            detail = ""
        reasons.append(f"{label} {key} {state}{detail}")
    return reasons


def _definition(
    before: Mapping[str, str] | None,
    after: Mapping[str, str] | None,
    stack: str,
    old_values: Components,
    new_values: Components,
) -> list[str]:
    if before is None or after is None:
        return []
    changed = [name for name in _DEFINITION_FIELDS if before.get(name) != after.get(name)]
    if not changed:
        return []
    where = f"stacks/{stack}/stack.yaml" if stack else "the stack definition"
    details = []
    for name in changed:
        old_text = old_values.get("definition", {}).get(name)
        new_text = new_values.get("definition", {}).get(name)
        arrow = f" {old_text} → {new_text}" if old_text and new_text else ""
        details.append(_DEFINITION_FIELDS[name] + arrow)
    return [f"stack definition {where} changed: {', '.join(details)}"]


def _program(before: Mapping[str, str] | None, after: Mapping[str, str] | None) -> list[str]:
    if before is None or after is None:
        return []
    reasons = []
    for path in sorted(set(before) | set(after)):
        if before.get(path) != after.get(path):
            what = "program" if path.endswith(".py") else "file"
            reasons.append(f"{what} {path} {_state(path, before, after)}")
    return reasons


def _toolchain(before: Mapping[str, str] | None, after: Mapping[str, str] | None) -> list[str]:
    if before is None or after is None:
        return []
    reasons = []
    for name in sorted(set(before) | set(after)):
        if before.get(name) == after.get(name):
            continue
        if name not in before:
            reasons.append(f"{name} {after[name]} added to the toolchain")
        elif name not in after:
            reasons.append(f"{name} {before[name]} removed from the toolchain")
        else:
            reasons.append(f"{name} {before[name]} → {after[name]}")
    return reasons


def _legacy_files(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """Format 1: files by blob id (the pins, the definition, the program, all as bytes)."""
    reasons = []
    for path in sorted(set(before) | set(after)):
        if before.get(path) == after.get(path):
            continue
        what = (
            "toolchain pins"
            if path.startswith("stacks/requirements")
            else "stack definition"
            if path.endswith("/stack.yaml")
            else "program file"
        )
        reasons.append(f"{what} {path} {_state(path, before, after)}")
    return reasons
