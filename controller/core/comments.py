"""The plan comment on a pull request, the job summary and `plan.md`: one plan, three sizes.

GitHub refuses a comment over 65,536 characters and drops a step summary over 1 MiB, and
every comment posted is a notification. So the comment is one comment at any size it
can be: the headline and facts, what failed (if anything), the validation problems, and
an overview with one row per deployment environment that has work, complete; then the
details of as many environments as fit, most important first, each a collapsible section
kept whole. What is left out is said, with where the full plan is (the job summary and
the run's artifact). Only when the overview itself is longer than one comment does it
continue, table by table (each with its header), in at most `MAX_COMMENTS` comments; when
even that is not enough, environments with identical rows are merged into one row.

A comment starts with `MARKER` (continuations with `continuation_marker(n)`) and a second
hidden line naming the planned head commit and the run, so a later run can tell its own
comments from a user's quote of them, and an outdated plan from the current one. Known
secret values are replaced by `[secret]` in everything rendered. A purely computational
module.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from controller.core import markdown as md
from controller.core import plan_markdown as pieces
from controller.core.plan_markdown import Failure, RenderContext
from controller.core.plan_views import PlanView, view_plan

MARKER = "<!-- cloud:plan-comment -->"
COMMENT_LIMIT = 65_536  # characters, GitHub's limit for an issue comment
SUMMARY_LIMIT = 1024 * 1024  # bytes, GitHub's limit for one step's summary
MAX_COMMENTS = 3
MIN_DETAILS = 400  # no environment's section is shorter: below that, stop rendering them
MAX_MISSES = 20
RESERVE = 2_000  # per body: markers, the continuation line, the outdated banner, the footer
_PART = re.compile(r"^<!-- cloud:plan-comment part (\d+) -->")
_META = re.compile(r"^<!-- cloud:plan head=(\S+) run=(\S+) -->$", re.MULTILINE)
_BANNER_START = "> [!WARNING]\n> **Outdated**"

__all__ = [
    "COMMENT_LIMIT",
    "MARKER",
    "MAX_COMMENTS",
    "SUMMARY_LIMIT",
    "Failure",
    "RenderContext",
    "comment_meta",
    "comment_part",
    "continuation_marker",
    "mark_outdated",
    "redact",
    "redact_data",
    "render_comment",
    "render_full",
    "render_summary",
]


def continuation_marker(part: int) -> str:
    return f"<!-- cloud:plan-comment part {part} -->"


def comment_part(body: str) -> int | None:
    """1 for the plan comment, n for its n-th continuation, None for anything else."""
    if body.startswith(MARKER):
        return 1
    match = _PART.match(body)
    return int(match.group(1)) if match else None


def comment_meta(body: str) -> dict[str, str | None]:
    """The head commit and run a plan comment was written for (None where not known)."""
    match = _META.search(body[:500])
    if not match:
        return {"head": None, "run": None}
    head, run = match.groups()
    return {"head": None if head == "-" else head, "run": None if run == "-" else run}


def comment_size(text: str) -> int:
    """Characters as GitHub may count them (UTF-16 units: never fewer than code points)."""
    return len(text.encode("utf-16-le")) // 2


def summary_size(text: str) -> int:
    return len(text.encode("utf-8"))


# --- rendering ------------------------------------------------------------------------------


def render_comment(
    document: Mapping[str, Any] | None,
    *,
    problems: Iterable[Mapping[str, Any]] = (),
    failures: Iterable[Mapping[str, Any]] = (),
    secrets: Iterable[str] = (),
    context: RenderContext | None = None,
    run_url: str | None = None,
    limit: int = COMMENT_LIMIT,
    max_comments: int = MAX_COMMENTS,
) -> list[str]:
    """The comment bodies (the plan comment, then at most `max_comments - 1`
    continuations), each within `limit` characters."""
    context = context or RenderContext(run_url=run_url)
    plan = _Plan.of(document, problems, failures, context)
    meta = _meta_line(document, context)
    bodies = _fit(plan, budget=limit - RESERVE, bodies=max_comments, size=comment_size)
    rendered = []
    for number, body in enumerate(bodies, 1):
        marker = MARKER if number == 1 else continuation_marker(number)
        intro = f"_Plan comment, part {number} of {len(bodies)}._\n\n" if number > 1 else ""
        suffix = (
            f"_Continued in the next comment ({number + 1} of {len(bodies)})._\n"
            if number < len(bodies)
            else ""
        )
        rendered.append(redact(f"{marker}\n{meta}\n{intro}{body}{suffix}", secrets))
    return rendered


def render_summary(
    document: Mapping[str, Any] | None,
    *,
    problems: Iterable[Mapping[str, Any]] = (),
    failures: Iterable[Mapping[str, Any]] = (),
    secrets: Iterable[str] = (),
    context: RenderContext | None = None,
    limit: int = SUMMARY_LIMIT,
) -> str:
    """The job summary: the same plan in one body of at most `limit` bytes."""
    plan = _Plan.of(document, problems, failures, context or RenderContext(), in_summary=True)
    [body] = _fit(plan, budget=limit - RESERVE, bodies=1, size=summary_size)
    return redact(body, secrets)


def render_full(
    document: Mapping[str, Any] | None,
    *,
    problems: Iterable[Mapping[str, Any]] = (),
    failures: Iterable[Mapping[str, Any]] = (),
    secrets: Iterable[str] = (),
    context: RenderContext | None = None,
) -> str:
    """The whole plan, every detail (`plan.md`, uploaded with the run's artifact)."""
    plan = _Plan.of(document, problems, failures, context or RenderContext(), in_full=True)
    text = plan.top + _table_text(plan.problems) + _table_text(plan.overview) + plan.after
    return redact(text + "".join(render() for _, render in plan.details), secrets)


def mark_outdated(body: str, *, head: str | None, run_url: str | None) -> str | None:
    """The comment marked outdated when a plan of another head commit starts (None when
    it is already for `head`, or not a plan comment)."""
    part = comment_part(body)
    planned = comment_meta(body)["head"]
    if part is None or not head or planned == head:
        return None
    short_new = md.short_sha(head) or "?"
    short_old = md.short_sha(planned) if planned else None
    banner = (
        f"{_BANNER_START}: this plan is for "
        + (f"`{short_old}`" if short_old else "an earlier commit")
        + f"; the pull request is now at `{short_new}`, whose plan is being made"
        + (f" ({md.link('run', run_url)})" if run_url else "")
        + ".\n\n"
    )
    lines = body.split("\n")
    keep = 2 if len(lines) > 1 and lines[1].startswith("<!-- cloud:plan ") else 1
    rest = "\n".join(lines[keep:])
    if rest.startswith(_BANNER_START):
        rest = rest.split("\n\n", 1)[1] if "\n\n" in rest else ""
    return "\n".join(lines[:keep]) + "\n" + banner + rest


def _meta_line(document: Mapping[str, Any] | None, context: RenderContext) -> str:
    head = md.full_sha(context.head or (document or {}).get("head")) or "-"
    run = context.run_id if context.run_id and context.run_id.isdigit() else "-"
    return f"<!-- cloud:plan head={head} run={run} -->"


def redact(text: str, secrets: Iterable[str]) -> str:
    values = {value for value in secrets if value and len(value) >= 4}
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, "[secret]")
    return text


def redact_data(data: Any, secrets: Iterable[str]) -> Any:
    """`data` (JSON-like) with every known secret value replaced inside its strings."""
    values = sorted({v for v in secrets if v and len(v) >= 4}, key=len, reverse=True)
    if not values:
        return data

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return redact(item, values)
        if isinstance(item, Mapping):
            return {walk(key): walk(value) for key, value in item.items()}
        if isinstance(item, list | tuple):
            return [walk(value) for value in item]
        return item

    return walk(data)


# --- what a plan is made of -----------------------------------------------------------------


@dataclass
class _Table:
    caption: str  # a heading line for the table; "{range}" is replaced when it is split
    header: list[str]
    rows: list[str]
    note: str = ""  # said under the last part

    def render(self, rows: list[str], first: int) -> str:
        span = (
            f" ({first + 1} to {first + len(rows)} of {len(self.rows)})"
            if len(rows) < len(self.rows)
            else ""
        )
        caption = self.caption.replace("{range}", span)
        return caption + "\n".join([*self.header, *rows]) + "\n\n"


@dataclass
class _Plan:
    top: str
    problems: _Table
    overview: _Table
    after: str
    details: list[tuple[str, Callable[[], str]]]  # (environment key, its section), in order
    compact: Callable[[], list[str]] = list  # the overview with identical rows merged
    links: str = ""

    @classmethod
    def of(
        cls,
        document: Mapping[str, Any] | None,
        problems: Iterable[Mapping[str, Any]],
        failures: Iterable[Mapping[str, Any]],
        context: RenderContext,
        *,
        in_summary: bool = False,
        in_full: bool = False,
    ) -> _Plan:
        problem_list = list(problems)
        errors = sum(1 for p in problem_list if p.get("severity", "error") == "error")
        failure_list = [pieces.failure_from(f) for f in failures]
        view: PlanView | None = view_plan(document) if document is not None else None
        top = (
            pieces.headline(view, document=document, errors=errors, failures=failure_list)
            + "\n\n"
            + pieces.facts(document, context)
            + "\n"
            + pieces.state_block(
                view, document=document, errors=errors, failures=failure_list, context=context
            )
        )
        problem_table = _Table(
            f"### ❌ Validation problems ({len(problem_list)}){{range}}\n\n",
            pieces.PROBLEMS_HEADER,
            [pieces.problem_row(p) for p in problem_list],
        )
        show_plan = view is not None and not failure_list
        environments = view.environments if show_plan and view else []
        overview = _Table(
            "### Overview{range}\n\n",
            pieces.OVERVIEW_HEADER,
            [pieces.overview_row(env) for env in environments],
        )
        after = ""
        if show_plan and view:
            if environments:
                after += pieces.overview_legend(view)
            after += pieces.idle_line(view, limit=10_000 if in_full else 40)
            if not environments and not view.idle and not problem_list:
                after += "No deployment is affected by this change.\n\n"
        limit = None if in_full else pieces.DIFF_LINES
        details = [
            (env.key, lambda env=env: pieces.environment_details(env, diff_lines=limit))
            for env in environments
        ]
        compact = functools.partial(_merged_rows, environments)  # only when needed
        where = "the run's artifact `cloud-plan` (`plan.md`, `plan.json`)" + (
            f": {md.link('download', context.artifact_url)}" if context.artifact_url else ""
        )
        if not in_summary and context.run_url:
            where = f"the {md.link('job summary', context.run_url)} and " + where
        links = f"<sub>Full plan: {where}.</sub>\n" if show_plan and environments else ""
        return cls(top, problem_table, overview, after, details, compact, links)


def _merged_rows(environments: list[Any], *, per_row: int = 150) -> list[str]:
    """Rows of environments whose rows are identical but for their names, at most
    `per_row` names to a row (a row is never split across comments)."""
    groups: dict[str, list[Any]] = {}
    for env in environments:
        groups.setdefault(pieces.overview_signature(env), []).append(env)
    return [
        pieces.merged_row(group[start : start + per_row])
        for group in groups.values()
        for start in range(0, len(group), per_row)
    ]


def _table_text(table: _Table) -> str:
    return table.render(table.rows, 0) if table.rows else ""


# --- fitting --------------------------------------------------------------------------------


class _Bodies:
    """Bodies being filled in order; a new one only while `count` allows."""

    def __init__(self, budget: int, count: int, size: Callable[[str], int]) -> None:
        self.budget, self.count, self.size = budget, count, size
        self.texts = [""]
        self.used = [0]  # the size of each body, kept as it grows

    def room(self) -> int:
        return self.budget - self.used[-1]

    def append(self, text: str, cost: int | None = None) -> None:
        self.texts[-1] += text
        self.used[-1] += self.size(text) if cost is None else cost

    def open(self) -> bool:
        if len(self.texts) < self.count and self.texts[-1]:
            self.texts.append("")
            self.used.append(0)
            return True
        return False

    def add(self, text: str, *, may_open: bool = True) -> bool:
        cost = self.size(text)
        if cost <= self.room():
            self.append(text, cost)
            return True
        if may_open and self.open():
            return self.add(text, may_open=False)
        return False

    def add_table(self, table: _Table, rows: list[str]) -> int:
        """Place the rows as whole tables (each with its header); how many fit."""
        placed = 0
        while placed < len(rows):
            chunk = self._chunk(table, rows, placed)
            if not chunk:
                if self.open():
                    continue
                return placed
            self.append(table.render(rows[placed : placed + chunk], placed))
            placed += chunk
        return placed

    def _chunk(self, table: _Table, rows: list[str], start: int) -> int:
        room = self.room() - self.size(table.render([], start)) - 40
        taken = 0
        for row in rows[start:]:
            cost = self.size(row) + 1
            if cost > room:
                break
            room -= cost
            taken += 1
        return taken


def _fit(plan: _Plan, *, budget: int, bodies: int, size: Callable[[str], int]) -> list[str]:
    """The plan in at most `bodies` bodies of `budget`: everything required, then details."""
    rows, merged = plan.overview.rows, False
    while True:
        filled = _Bodies(budget, bodies, size)
        filled.add(plan.top)
        shown_problems = filled.add_table(plan.problems, plan.problems.rows)
        shown_rows = filled.add_table(plan.overview, rows)
        if shown_rows == len(rows) or merged:
            break
        rows, merged = plan.compact(), True
    notes = []
    if shown_problems < len(plan.problems.rows):
        notes.append(f"{len(plan.problems.rows) - shown_problems} more validation problems")
    if merged and len(plan.overview.rows) > 1:
        notes.append("environments with identical rows are merged into one row")
    if shown_rows < len(rows):
        notes.append(f"{len(rows) - shown_rows} more overview rows")
    filled.add(plan.after)
    left_out: list[str] = []
    misses = 0  # sections that did not fit in a row: past a few, render no more of them
    for key, render in plan.details:
        if filled.room() < MIN_DETAILS or misses >= MAX_MISSES:
            left_out.append(key)
        elif filled.add(render(), may_open=False):
            misses = 0
        else:
            left_out.append(key)
            misses += 1
    if left_out:
        named = ", ".join(md.code(key) for key in left_out[:5])
        more = f" and {len(left_out) - 5} more" if len(left_out) > 5 else ""
        notes.append(f"the details of {len(left_out)} environments ({named}{more})")
    footer = ""
    if notes:
        footer = f"_Left out here to fit GitHub's size limit: {'; '.join(notes)}._\n\n"
    filled.append(footer + plan.links)
    return filled.texts
