"""The pieces of a plan in Markdown: headline, facts, overview rows, details per environment.

`comments` decides how many of these fit where (a comment, the job summary, `plan.md`);
this module only says what each piece is. Every string from the repository or a pull
request goes through `markdown` (escaped, no link or mention can be injected); links are
only ours: commits by validated SHA, the run. A purely computational module.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from controller.core import markdown as md
from controller.core.plan_views import (
    GRAPH,
    EnvironmentView,
    PlanView,
    StackRow,
    format_counts,
    group_by_reason,
    reason_of,
)

SIMULATED_LABEL = "simulated: resource graph at base vs head, no cloud state"
MAY_RUN_NOTE = "each runs only if an upstream output it consumes changes (decided at deploy time)"
DIFF_LINES = 60  # per stack, in a comment; the full plan has them all
INPUT_LINES = 12  # changed inputs shown per resource
NAMES_IN_ROW = 3
_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})")
OVERVIEW_HEADER = [
    "| | deployment / environment | will run | may run | destroy | resources "
    "| stacks that change |",
    "|---|---|---|---|---|---|---|",
]


@dataclass(frozen=True)
class RenderContext:
    """What the run knows beyond the plan document: where it ran, which commits."""

    repository: str = ""
    server_url: str = "https://github.com"
    run_url: str | None = None
    run_id: str | None = None  # the plan run's id: a comment never replaces a later run's
    head: str | None = None  # the pull request's head, when the run knows it for sure
    base: str | None = None
    relayed: bool = False  # posted by the relay from a fork's (untrusted) run
    artifact_url: str | None = None

    def commit_url(self, sha: str | None) -> str | None:
        full = md.full_sha(sha)
        if not (full and self.repository.count("/") == 1):
            return None
        return f"{self.server_url.rstrip('/')}/{self.repository}/commit/{full}"


@dataclass(frozen=True)
class Failure:
    step: str
    error: str


# --- the top --------------------------------------------------------------------------------


def headline(
    view: PlanView | None,
    *,
    document: Mapping[str, Any] | None,
    errors: int,
    failures: list[Failure],
) -> str:
    if failures:
        return "## ❌ cloud plan failed"
    if errors:
        return f"## ❌ cloud plan: invalid ({errors} validation problem{'s' * (errors != 1)})"
    if view is None or document is None:
        return "## ❌ cloud plan: no plan was made"
    if view.failed_previews:
        count = view.failed_previews
        return f"## ⚠️ cloud plan incomplete: {count} preview{'s' * (count != 1)} failed"
    parts = [f"{view.will_run} will run"] if view.will_run else []
    if view.may_run:
        parts.append(f"{view.may_run} may run")
    if view.to_destroy:
        parts.append(f"{view.to_destroy} to destroy")
    simulated = " (simulated)" if document.get("simulated") or view.graph_previews else ""
    return f"## ☁️ cloud plan: {' · '.join(parts) or 'nothing to run'}{simulated}"


def facts(document: Mapping[str, Any] | None, context: RenderContext) -> str:
    """Which code was planned, by what, where and when: one quoted line."""
    document = document or {}
    items = []
    for label, sha in (
        ("head", context.head or document.get("head")),
        ("base", document.get("baseCommit") or context.base),
    ):
        short = md.short_sha(sha)
        if short:
            items.append(f"{label} {md.link(f'`{short}`', context.commit_url(sha))}")
    engine = document.get("engine")
    if engine:
        simulated = " (simulated)" if document.get("simulated") else ""
        items.append(f"engine {md.code(engine)}{simulated}")
    elif document:
        items.append("no previews (static plan)")
    if context.run_url:
        items.append(md.link("run", context.run_url))
    planned = _TIME.match(str(document.get("plannedAt") or ""))
    if planned:
        items.append(f"planned {planned.group(1)} {planned.group(2)} UTC")
    return "> " + " · ".join(items) + "\n" if items else ""


def state_block(
    view: PlanView | None,
    *,
    document: Mapping[str, Any] | None,
    errors: int,
    failures: list[Failure],
    context: RenderContext,
) -> str:
    """What went wrong, at the top, before anything that could read as a result."""
    run = md.link("the run", context.run_url)
    lines = []
    for failure in failures:
        lines.append(f"**The {md.code(failure.step)} step failed**: {md.text(failure.error)}")
    if failures:
        lines.append(f"Nothing below is a plan: no count was made. See {run}.")
    elif errors:
        lines.append("**Validation failed**: fix the problems below; nothing was planned.")
    elif view is None or document is None:
        lines.append(
            f"**No plan was made**: the plan step did not run or did not finish. See {run}."
        )
    elif view.failed_previews:
        lines.append(
            "**Previews failed** for the stacks marked ⚠️: what they would change is unknown. "
            f"See {run}."
        )
    if context.relayed:
        lines.append(
            "_From a fork: planned by the pull request's own workflow run (its code ran with "
            "no secret and no write token); posted by the relay workflow from that run's "
            "artifact._"
        )
    return "".join(f"{line}\n\n" for line in lines)


def failure_from(record: Mapping[str, Any]) -> Failure:
    return Failure(str(record.get("step") or "?"), str(record.get("error") or "failed"))


# --- validation problems --------------------------------------------------------------------

PROBLEMS_HEADER = ["| file | line | code | problem |", "|---|---|---|---|"]


def problem_row(problem: Mapping[str, Any]) -> str:
    line = problem.get("line")
    return (
        f"| {md.code(problem.get('file') or '-')} | {int(line) if str(line).isdigit() else ''} "
        f"| {md.code(problem.get('code', ''))} | {md.text(problem.get('message', ''))} |"
    )


# --- overview -------------------------------------------------------------------------------


def environment_cell(deployment: str, environment: str) -> str:
    return f"{md.code(deployment)} / {md.code(environment)}"


def resources_cell(env: EnvironmentView) -> str:
    total = len(env.will_run)
    previewed = len(env.previewed)
    failed = len(env.failed)
    if not total:
        return "none"
    if failed:
        counts = f" {format_counts(env.counts)}" if previewed else ""
        return f"⚠️ {failed} failed{counts}"
    if not previewed:
        return "not previewed"
    shown = format_counts(env.counts)
    return shown if previewed == total else f"{shown} ({previewed} of {total} previewed)"


def stacks_cell(env: EnvironmentView) -> str:
    names = [row.stack for row in env.will_run] + [f"\0{r.get('stack', '?')}" for r in env.removals]
    shown = ", ".join(
        f"destroy {md.code(name[1:])}" if name.startswith("\0") else md.code(name)
        for name in names[:NAMES_IN_ROW]
    )
    return shown + (f" +{len(names) - NAMES_IN_ROW} more" if len(names) > NAMES_IN_ROW else "")


def overview_row(env: EnvironmentView) -> str:
    return (
        f"| {env.icon} | {environment_cell(env.deployment, env.environment)} | "
        f"{len(env.will_run)} | {len(env.may_run)} | {len(env.removals)} | "
        f"{resources_cell(env)} | {stacks_cell(env)} |"
    )


def overview_signature(env: EnvironmentView) -> str:
    """An overview row without its environment: rows with equal signatures can be merged."""
    return overview_row(env).split(" | ", 2)[2]


def merged_row(group: list[EnvironmentView]) -> str:
    first = group[0]
    names = ", ".join(environment_cell(env.deployment, env.environment) for env in group)
    return f"| {first.icon} | {names} ({len(group)}) | {overview_signature(first)}"


def overview_legend(view: PlanView) -> str:
    notes = [
        "**will run**: new or changed",
        f"**may run**: {MAY_RUN_NOTE}",
        "**resources**: + create, ~ update, - delete, ± replace, from previews",
    ]
    if view.graph_previews:
        notes.append(f"previews marked simulated are a {SIMULATED_LABEL.split(': ', 1)[1]}")
    return "<sub>" + " · ".join(notes) + "</sub>\n\n"


def idle_line(view: PlanView, *, limit: int = 40) -> str:
    if not view.idle:
        return ""
    names = [environment_cell(env.deployment, env.environment) for env in view.idle[:limit]]
    more = len(view.idle) - len(names)
    listed = ", ".join(names) + (f" and {more} more" if more > 0 else "")
    count = len(view.idle)
    return f"**Nothing to run** in {count} environment{'s' * (count != 1)}: {listed}.\n\n"


# --- details of one environment -------------------------------------------------------------


def environment_details(env: EnvironmentView, *, diff_lines: int | None = DIFF_LINES) -> str:
    """One collapsible section: the stacks that will run, what may run, what rests, the
    removals, each preview's diff, and the layers (only environments with work get one)."""
    summary = (
        f"{env.icon} {md.html_code(env.deployment)} / {md.html_code(env.environment)} · "
        f"{len(env.will_run)} will run · {len(env.may_run)} may run"
        + (f" · {len(env.removals)} to destroy" if env.removals else "")
        + (f" · {md.html_text(format_counts(env.counts))}" if env.previewed else "")
    )
    parts = [f"<details><summary>{summary}</summary>\n\n"]
    if env.will_run:
        parts.append("| stack | layer | action | resources | why |\n|---|---|---|---|---|\n")
        parts += [_stack_row(row) + "\n" for row in env.will_run]
        parts.append("\n")
    if env.may_run:
        parts.append(f"**May run** ({len(env.may_run)}), {MAY_RUN_NOTE}:\n\n")
        parts += _grouped(env.may_run)
    if env.resting:
        parts.append(f"**Unchanged** ({len(env.resting)}):\n\n")
        parts += _grouped(env.resting)
    if env.removals:
        parts.append(
            f"**To destroy** ({len(env.removals)}), on merge only after an approval in the "
            "protected environment:\n\n| stack | why | resources |\n|---|---|---|\n"
        )
        parts += [
            f"| {md.code(r.get('stack', '?'))} | {md.text(r.get('reason', ''))} | "
            f"{_removal_resources(r)} |\n"
            for r in env.removals
        ]
        parts.append("\n")
    for row in env.will_run:
        if row.previewed and (row.preview or {}).get("changes"):
            parts.append(_diff_block(row, limit=diff_lines))
    if env.layers:
        parts.append(_mermaid(env))
    parts.append("</details>\n\n")
    return "".join(parts)


def _grouped(entries: Iterable[Mapping[str, Any]]) -> list[str]:
    return [
        f"- {md.text(reason) or '(no reason given)'}: {', '.join(md.code(s) for s in stacks)}\n"
        for reason, stacks in group_by_reason(entries)
    ] + ["\n"]


def _stack_row(row: StackRow) -> str:
    preview = row.preview or {}
    if row.failed:
        resources = "⚠️ preview failed"
        error = md.text(preview.get("error") or "preview failed")
        why = f"{error} (planned: {md.text(row.reason)})"
    elif row.previewed:
        source = " (simulated)" if preview.get("source") == GRAPH else ""
        resources = format_counts(row.counts or {}) + source
        why = md.text(row.reason)
    else:
        note = preview.get("reason") if preview else None
        resources = "not previewed" + (f": {md.text(note)}" if note else "")
        why = md.text(row.reason)
    return f"| {md.code(row.stack)} | {row.layer} | {row.action} | {resources} | {why} |"


def _removal_resources(removal: Mapping[str, Any]) -> str:
    resources = [str(r) for r in removal.get("resources") or []]
    if not resources:
        return "the stack's resources (state not readable here)"
    shown = ", ".join(md.code(r) for r in resources[:8])
    return shown + (f" and {len(resources) - 8} more" if len(resources) > 8 else "")


def diff_lines(changes: Iterable[Mapping[str, Any]]) -> list[str]:
    """A preview's changes as `diff` lines: + create, - delete, a -/+ pair for a replace,
    `!` for an update followed by its changed inputs, old → new."""
    lines: list[str] = []
    for change in changes:
        kind = change.get("kind")
        what = f"{change.get('type', '?')} {change.get('name', '?')}"
        if kind == "create":
            lines.append(f"+ {what}")
        elif kind == "delete":
            lines.append(f"- {what}")
        elif kind == "replace":
            lines += [f"- {what} (replace)", f"+ {what} (replace)"]
        elif kind == "update":
            lines.append(f"! {what}")
            inputs = list(change.get("inputs") or [])
            names = change.get("changedInputs") or []
            for item in inputs[:INPUT_LINES]:
                lines.append(f"    {item.get('path')}: {item.get('old')} → {item.get('new')}")
            if len(inputs) > INPUT_LINES:
                lines.append(f"    … {len(inputs) - INPUT_LINES} more inputs")
            if not inputs and names:
                lines.append(f"    changed: {', '.join(str(n) for n in names)}")
    return [" ".join(line.split("\n")) for line in lines]


def _diff_block(row: StackRow, *, limit: int | None) -> str:
    preview = row.preview or {}
    lines = diff_lines(preview.get("changes") or [])
    if limit is not None and len(lines) > limit:
        lines = [*lines[:limit], f"  … {len(lines) - limit} more lines (full plan: plan.md)"]
    source = SIMULATED_LABEL if preview.get("source") == GRAPH else "preview against the state"
    return f"{md.code(row.stack)} · {source}\n\n" + md.fenced("\n".join(lines), "diff") + "\n"


def _mermaid(env: EnvironmentView) -> str:
    statuses = {str(e.get("stack")): e.get("status") for e in env.entries}
    nodes = {name: f"s{index}" for index, name in enumerate(sorted(statuses))}
    lines = ["flowchart LR"]
    marks = {"new": " +", "changed": " ~", "pending-upstream": " …"}
    for layer in env.layers:
        number = int(layer.get("layer") or 0)
        lines.append(f'  subgraph L{number}["Layer {number}"]')
        for name in layer.get("stacks") or []:
            node = nodes.setdefault(str(name), f"s{len(nodes)}")
            lines.append(f'    {node}["{md.label(name)}{marks.get(statuses.get(str(name)), "")}"]')
        lines.append("  end")
    for entry in env.entries:
        for upstream in entry.get("dependencies") or []:
            if str(upstream) in nodes:
                lines.append(f"  {nodes[str(upstream)]} --> {nodes[str(entry.get('stack'))]}")
    return (
        "<details><summary>Layers</summary>\n\n"
        + md.fenced("\n".join(lines), "mermaid")
        + "\n</details>\n\n"
    )


__all__ = [
    "OVERVIEW_HEADER",
    "PROBLEMS_HEADER",
    "SIMULATED_LABEL",
    "Failure",
    "RenderContext",
    "environment_details",
    "facts",
    "failure_from",
    "headline",
    "idle_line",
    "merged_row",
    "overview_legend",
    "overview_row",
    "overview_signature",
    "problem_row",
    "reason_of",
    "state_block",
]
