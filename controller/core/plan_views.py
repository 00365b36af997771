"""A plan document as a reviewer reads it: what will run, what may run, what to look at first.

The plan document (`reports.plan_document` plus `previews`) lists instances by status. A
reviewer needs other groupings: per deployment environment, the stacks that *will* run
(new or changed) apart from those that *may* run (pending upstream: decided at deploy time
by the outputs they consume), resource counts only where a preview produced them (from
the real state, or simulated from the resource graphs at base and head), and environments
ordered by what can hurt: removals and replaces first, then failed previews, then updates,
then creates. A purely computational module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

WILL_RUN = ("new", "changed")
MAY_RUN = ("pending-upstream",)
KINDS = ("create", "update", "delete", "replace")
SYMBOLS = {"create": "+", "update": "~", "delete": "-", "replace": "±"}
GRAPH = "graph"  # a preview simulated from the resource graphs at base and head
STATE = "state"  # a preview against the stack's real state

# severities, most important first
DESTROY, FAILED, UPDATE, CREATE, IDLE = range(5)
ICONS = {DESTROY: "🔴", FAILED: "⚠️", UPDATE: "🟡", CREATE: "🟢", IDLE: "⚪"}
_LATE = {"prod": 0, "production": 0, "prd": 0, "live": 0}
_MIDDLE = {"stage": 1, "staging": 1, "uat": 1, "preprod": 1, "qa": 1}
_EARLY = {"dev": 3, "development": 3, "test": 3, "sandbox": 3}


@dataclass
class StackRow:
    """One stack that will run, with its preview if there is one."""

    stack: str
    layer: int
    status: str  # new | changed
    reason: str
    preview: Mapping[str, Any] | None = None

    @property
    def action(self) -> str:
        return "create" if self.status == "new" else "update"

    @property
    def previewed(self) -> bool:
        return bool(self.preview) and self.preview.get("status") == "previewed"

    @property
    def failed(self) -> bool:
        return bool(self.preview) and self.preview.get("status") == "failed"

    @property
    def counts(self) -> dict[str, int] | None:
        if not self.previewed:
            return None
        counts = self.preview.get("counts") or {}  # type: ignore[union-attr]
        return {kind: int(counts.get(kind) or 0) for kind in KINDS}

    @property
    def severity(self) -> int:
        if self.failed:
            return FAILED
        counts = self.counts
        if counts is None:
            return CREATE if self.status == "new" else UPDATE
        if counts["delete"] or counts["replace"]:
            return DESTROY
        if counts["update"]:
            return UPDATE
        return CREATE if counts["create"] else IDLE


@dataclass
class EnvironmentView:
    deployment: str
    environment: str
    will_run: list[StackRow]
    may_run: list[Mapping[str, Any]]
    resting: list[Mapping[str, Any]]
    removals: list[Mapping[str, Any]]
    layers: list[Mapping[str, Any]]
    entries: list[Mapping[str, Any]]

    @property
    def key(self) -> str:
        return f"{self.deployment}/{self.environment}"

    @property
    def has_work(self) -> bool:
        return bool(self.will_run or self.removals)

    @property
    def severity(self) -> int:
        if self.removals:
            return DESTROY
        return min((row.severity for row in self.will_run), default=IDLE)

    @property
    def icon(self) -> str:
        return ICONS[self.severity]

    @property
    def previewed(self) -> list[StackRow]:
        return [row for row in self.will_run if row.previewed]

    @property
    def failed(self) -> list[StackRow]:
        return [row for row in self.will_run if row.failed]

    @property
    def counts(self) -> dict[str, int]:
        """Resource changes summed over the previews that produced counts."""
        total = dict.fromkeys(KINDS, 0)
        for row in self.previewed:
            for kind, number in (row.counts or {}).items():
                total[kind] += number
        return total

    def sort_key(self) -> tuple[int, int, str, str]:
        rank = environment_rank(self.environment)
        return (self.severity, rank, self.deployment, self.environment)


@dataclass
class PlanView:
    environments: list[EnvironmentView]  # with work, most important first
    idle: list[EnvironmentView]  # nothing to run
    notes: list[str] = field(default_factory=list)

    @property
    def will_run(self) -> int:
        return sum(len(env.will_run) for env in self.environments)

    @property
    def may_run(self) -> int:
        return sum(len(env.may_run) for env in self.environments)

    @property
    def to_destroy(self) -> int:
        return sum(len(env.removals) for env in self.environments)

    @property
    def failed_previews(self) -> int:
        return sum(len(env.failed) for env in self.environments)

    @property
    def graph_previews(self) -> bool:
        return any(
            (row.preview or {}).get("source") == GRAPH
            for env in self.environments
            for row in env.previewed
        )


def environment_rank(name: str) -> int:
    """Later environments in the usual promotion order are read first (prod, then stage)."""
    lowered = name.lower()
    return _LATE.get(lowered, _MIDDLE.get(lowered, _EARLY.get(lowered, 2)))


def view_plan(document: Mapping[str, Any]) -> PlanView:
    previews = document.get("previews") or {}
    environments: list[EnvironmentView] = []
    idle: list[EnvironmentView] = []
    for env in document.get("environments") or []:
        key = f"{env['deploymentId']}/{env['environment']}"
        by_stack = {
            record["stack"]: record for record in (previews.get(key) or {}).get("stacks", [])
        }
        entries = list(env.get("entries") or [])
        view = EnvironmentView(
            deployment=str(env["deploymentId"]),
            environment=str(env["environment"]),
            will_run=[
                StackRow(
                    str(e["stack"]),
                    int(e.get("layer") or 0),
                    str(e["status"]),
                    reason_of(e),
                    by_stack.get(e["stack"]),
                )
                for e in entries
                if e.get("status") in WILL_RUN
            ],
            may_run=[e for e in entries if e.get("status") in MAY_RUN],
            resting=[e for e in entries if e.get("status") not in (*WILL_RUN, *MAY_RUN)],
            removals=list(env.get("removals") or []),
            layers=list(env.get("layers") or []),
            entries=entries,
        )
        (environments if view.has_work else idle).append(view)
    environments.sort(key=EnvironmentView.sort_key)
    idle.sort(key=lambda v: (environment_rank(v.environment), v.deployment, v.environment))
    return PlanView(environments, idle)


def reason_of(entry: Mapping[str, Any]) -> str:
    """The entry's reason as text, whether the document carries one string or a list."""
    reasons = entry.get("reasons")
    if isinstance(reasons, list) and reasons:
        return "; ".join(str(reason) for reason in reasons)
    return str(entry.get("reason") or "")


def group_by_reason(entries: Iterable[Mapping[str, Any]]) -> list[tuple[str, list[str]]]:
    """`[(reason, [stack, …]), …]` in first-seen order: each reason said once."""
    groups: dict[str, list[str]] = {}
    for entry in entries:
        groups.setdefault(reason_of(entry), []).append(str(entry["stack"]))
    return list(groups.items())


def format_counts(counts: Mapping[str, int]) -> str:
    """`+2 ~9 -1 ±1`, the non-zero kinds only; "no change" when there are none."""
    parts = [f"{SYMBOLS[kind]}{counts[kind]}" for kind in KINDS if counts.get(kind)]
    return " ".join(parts) if parts else "no change"
