"""Plans: which instances must run, which may be skipped, and why.

Static plan (PR and push time): an instance is *new* when nothing was recorded for it,
*changed* when its fingerprint differs from the recorded one (the last successful deploy,
or the base commit in a pull request), *pending-upstream* when only something upstream of
it changed, and *skipped* otherwise. Stacks that hold state but are no longer in the
deployment (removed from Git, or disabled in this environment) are listed for removal.

Dynamic skip (run time): when a pending-upstream instance's turn comes, it runs only if an
upstream output it consumes differs from what it was last deployed with. A network change
that leaves `vpcId` as it was redeploys nothing downstream.
A purely computational module.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, Literal, overload

from controller.core.differences import explain_difference
from controller.core.fingerprints import FORMAT, Fingerprint, digest
from controller.core.placeholders import find_placeholders

if TYPE_CHECKING:  # plans made from the plan index need this module without the models
    import networkx as nx

    from controller.core.catalog import Deployment
    from controller.core.environments import EnvironmentView, Instance

Status = Literal["new", "changed", "pending-upstream", "skipped", "excluded"]
RUNNABLE: tuple[Status, ...] = ("new", "changed", "pending-upstream")


@dataclass(frozen=True)
class Previous:
    """What a plan compares with: a recorded deploy, or the base commit's fingerprint.

    `values` are the short non-secret values it kept in clear (for "old → new" reasons);
    `format` is the fingerprint format it was made with (1: compared the old way).
    """

    fingerprint: str
    components: Mapping[str, Mapping[str, str]]
    deployed_at: str | None = None
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    format: int = FORMAT


@dataclass(frozen=True)
class PlanEntry:
    deployment_id: str
    environment: str
    stack: str
    status: Status
    reasons: tuple[str, ...]
    layer: int
    estimated_duration: int
    dependencies: tuple[str, ...] = ()
    fingerprint: str = ""
    last_deployed_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "deploymentId": self.deployment_id,
            "environment": self.environment,
            "stack": self.stack,
            "status": self.status,
            "reason": "; ".join(self.reasons),
            "layer": self.layer,
            "estimatedDuration": self.estimated_duration,
            "dependencies": list(self.dependencies),
            "lastDeployedAt": self.last_deployed_at,
        }


@dataclass(frozen=True)
class Removal:
    """A stack that holds state but is no longer wanted; `resources` are what its state
    holds (filled in where the backend was read)."""

    deployment_id: str
    environment: str
    stack: str
    reason: str
    resources: tuple[str, ...] = ()


Row = tuple[str, "Status", tuple[str, ...], "Comparison"]  # stack, status, reasons, compared


@dataclass(frozen=True)
class Rows:
    """An environment's plan before it is made into entries: (stack, status, reasons,
    comparison) in layer order, and each stack's layer. Every environment of one layout
    that compares alike shares one (all 1,500 environments of a template where one
    program changed)."""

    items: tuple[Row, ...]
    runnable: int
    layers: Mapping[str, int]


class PlanEntries(Sequence[PlanEntry]):
    """Entries made from rows when first read: a 500-deployment plan has 24,000 of them,
    and its text shows only the few that run (or only how many there are)."""

    def __init__(self, layout: Layout, rows: Rows) -> None:
        self.layout = layout
        self.rows = rows
        self._entries: list[PlanEntry] | None = None

    @property
    def runnable_count(self) -> int:
        return self.rows.runnable

    def _all(self) -> list[PlanEntry]:
        if self._entries is None:
            self._entries = _entries(self.layout, self.rows)
        return self._entries

    @overload
    def __getitem__(self, index: int) -> PlanEntry: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[PlanEntry]: ...
    def __getitem__(self, index: int | slice) -> PlanEntry | Sequence[PlanEntry]:
        return self._all()[index]

    def __iter__(self) -> Iterator[PlanEntry]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self.rows.items)

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented

    __hash__ = None  # type: ignore[assignment]


def _empty_graph() -> nx.DiGraph:
    import networkx as nx

    return nx.DiGraph()


@dataclass
class EnvironmentPlan:
    """One deployment environment's plan. `graph` (u -> v: u deploys first, nodes carry
    their definition) is what an executor runs; a plan made from the plan index has none
    (None): it is for reading, and a deploy resolves the deployment first."""

    deployment_id: str
    environment: str
    entries: Sequence[PlanEntry]
    layers: list[list[str]]
    removals: list[Removal] = field(default_factory=list)
    graph: nx.DiGraph | None = field(default_factory=_empty_graph, repr=False)

    def entry(self, stack: str) -> PlanEntry:
        return next(entry for entry in self.entries if entry.stack == stack)

    def runnable(self) -> list[PlanEntry]:
        if isinstance(self.entries, PlanEntries) and not self.entries.runnable_count:
            return []
        return [entry for entry in self.entries if entry.status in RUNNABLE]

    def runnable_count(self) -> int:
        if isinstance(self.entries, PlanEntries):
            return self.entries.runnable_count
        return len(self.runnable())

    def rows(self) -> Rows:
        """The plan as rows, without making the entries (shared where plans are alike)."""
        if isinstance(self.entries, PlanEntries):
            return self.entries.rows
        items = tuple(
            (e.stack, e.status, e.reasons, Comparison("same")) for e in self.entries
        )  # the comparison is not kept in an entry
        runnable = sum(e.status in RUNNABLE for e in self.entries)
        return Rows(items, runnable, {e.stack: e.layer for e in self.entries})

    @property
    def changed(self) -> bool:
        return bool(self.runnable_count() or self.removals)


@dataclass(frozen=True)
class Layout:
    """What a plan needs of a resolved deployment environment: the enabled stacks in
    layers, each one's dependencies and estimated duration, and the stacks the deployment
    declares (enabled here or not). Cached in the plan index, so an unchanged deployment
    is planned without parsing it."""

    deployment_id: str
    environment: str
    layers: list[list[str]]
    dependencies: Mapping[str, tuple[str, ...]]
    durations: Mapping[str, int]
    declared: tuple[str, ...] = ()


def layout_of(view: EnvironmentView) -> Layout:
    from controller.core.graph import build_graph, view_layers

    graph = build_graph(view)
    return Layout(
        view.deployment_id,
        view.environment,
        view_layers(view),
        {name: tuple(sorted(graph.predecessors(name))) for name in view.instances},
        {name: i.definition.estimated_duration for name, i in view.instances.items()},
        tuple(view.declared_stacks),
    )


@dataclass(frozen=True)
class Comparison:
    """How one instance compares with what it is compared with: `new` (nothing to compare
    with), `changed` (with the reasons) or `same` (with notes, if any)."""

    status: Literal["new", "changed", "same"]
    reasons: tuple[str, ...] = ()
    fingerprint: str = ""  # what a deploy of it records
    deployed_at: str | None = None


def compare(
    current: Fingerprint,
    before: Previous | None,
    *,
    stack: str,
    legacy: Fingerprint | None = None,
) -> Comparison:
    """An instance's fingerprint against its previous one (format 1 by `legacy`)."""
    if before is None:
        return Comparison("new", fingerprint=current.value)
    compared = current
    old_format = before.format != current.format
    if old_format and legacy is not None:
        compared = legacy  # compared the old way, once: its next deploy rewrites it
    if old_format and compared.format != before.format:
        why = (f"recorded with fingerprint format {before.format}; not comparable",)
        return Comparison("changed", why, current.value, before.deployed_at)
    if before.fingerprint != compared.value:
        reasons = explain_difference(
            before.components,
            compared.components,
            old_values=before.values,
            new_values=compared.values,
            stack=stack,
        )
        return Comparison("changed", tuple(reasons), current.value, before.deployed_at)
    notes = (
        (
            f"compared by its format {before.format} fingerprint; its next deploy records "
            f"format {FORMAT}",
        )
        if old_format
        else ()
    )
    return Comparison("same", notes, current.value, before.deployed_at)


def plan_environment(
    view: EnvironmentView,
    fingerprints: Mapping[str, Fingerprint],
    previous: Mapping[str, Previous | None],
    *,
    deployed: Iterable[str] = (),
    selected: Iterable[str] | None = None,
    force: bool = False,
    baseline: str = "last deploy",
    legacy: Mapping[str, Fingerprint] | None = None,
    drifted: Mapping[str, str] | None = None,
) -> EnvironmentPlan:
    """The static plan of one deployment environment.

    `previous` maps each stack to what it is compared with; `deployed` names the stacks
    that hold state (to find removals); `selected` limits the plan to some stacks (others
    are *excluded*); `force` marks every selected stack changed. `legacy` holds the
    format 1 fingerprints of the stacks whose previous fingerprint is format 1. `drifted`
    (stack → what a refresh found) marks those changed too: their cloud is not what they
    declare, whatever Git says.
    """
    from controller.core.graph import build_graph

    legacy = legacy or {}
    comparisons = {
        name: compare(fingerprints[name], previous.get(name), stack=name, legacy=legacy.get(name))
        for name in view.instances
    }
    for name, what in (drifted or {}).items():
        same = comparisons.get(name)
        if same is not None and same.status == "same":
            comparisons[name] = Comparison(
                "changed",
                (f"drift found by the refresh: {what}",),
                same.fingerprint,
                same.deployed_at,
            )
    return plan_layout(
        layout_of(view),
        comparisons,
        deployed=deployed,
        selected=selected,
        force=force,
        baseline=baseline,
        graph=build_graph(view),
    )


def plan_layout(
    layout: Layout,
    comparisons: Mapping[str, Comparison] | Comparison,
    *,
    deployed: Iterable[str] = (),
    selected: Iterable[str] | None = None,
    force: bool = False,
    baseline: str = "last deploy",
    graph: nx.DiGraph | None = None,
    memo: dict[Any, Any] | None = None,
) -> EnvironmentPlan:
    """The plan of a layout, given how each stack compares (one `Comparison` for all).

    With a `memo` (one per plan of many environments), environments whose layout and
    comparisons are the same objects (callers reuse them) share their rows: planning
    1,500 environments of one template costs about as much as planning one.
    """
    chosen = frozenset(selected) if selected is not None else None
    removals = [
        Removal(
            layout.deployment_id,
            layout.environment,
            stack,
            f"disabled in environment {layout.environment}"
            if stack in layout.declared
            else "no longer in the deployment",
        )
        for stack in sorted(set(deployed) - set(layout.dependencies))
    ]
    key = None
    if memo is not None:
        key = (id(layout.layers), id(layout.dependencies), id(comparisons), chosen, force, baseline)
    rows = memo[key][0] if memo is not None and key in memo else None
    if rows is None:
        rows = _rows(layout, comparisons, chosen, force, baseline)
        if memo is not None:  # holding the keyed objects keeps their ids unique
            memo[key] = (rows, layout.layers, layout.dependencies, comparisons)
    return EnvironmentPlan(
        layout.deployment_id,
        layout.environment,
        PlanEntries(layout, rows),
        layout.layers,
        removals,
        graph,
    )


def _rows(
    layout: Layout,
    comparisons: Mapping[str, Comparison] | Comparison,
    chosen: frozenset[str] | None,
    force: bool,
    baseline: str,
) -> Rows:
    moving: set[str] = set()  # the runnable ones so far (layers come in order)
    rows: list[Row] = []
    for name in (name for layer in layout.layers for name in layer):
        comparison = comparisons if isinstance(comparisons, Comparison) else comparisons[name]
        status: Status
        if chosen is not None and name not in chosen:
            status = "excluded"
        elif comparison.status == "new":
            status = "new"
        elif force or comparison.status == "changed":
            status = "changed"
        elif not moving.isdisjoint(layout.dependencies[name]):
            status = "pending-upstream"
        else:
            status = "skipped"
        why = _reasons(status, name, comparison, layout, moving, baseline, force)
        if status in RUNNABLE:
            moving.add(name)
        rows.append((name, status, why, comparison))
    layers = {name: number for number, names in enumerate(layout.layers, 1) for name in names}
    return Rows(tuple(rows), len(moving), layers)


def _entries(layout: Layout, rows: Rows) -> list[PlanEntry]:
    index = rows.layers
    return [
        PlanEntry(
            layout.deployment_id,
            layout.environment,
            name,
            status,
            reasons,
            index[name],
            layout.durations[name],
            layout.dependencies[name],
            comparison.fingerprint,
            comparison.deployed_at,
        )
        for name, status, reasons, comparison in rows.items
    ]


def _reasons(
    status: Status,
    name: str,
    comparison: Comparison,
    layout: Layout,
    moving: set[str],
    baseline: str,
    force: bool,
) -> tuple[str, ...]:
    if status == "excluded":
        return ("not selected",)
    if status == "new":
        return (f"no {baseline} recorded",)
    if status == "changed":
        return ("forced",) if force else comparison.reasons
    if status == "pending-upstream":
        upstream = ", ".join(up for up in layout.dependencies[name] if up in moving)
        return (f"upstream {upstream} will run; redeploys only if an output it consumes changes",)
    when = f" (deployed {comparison.deployed_at})" if comparison.deployed_at else ""
    return (f"unchanged since {baseline}{when}", *comparison.reasons)


def critical_seconds(entries: Iterable[PlanEntry]) -> int:
    """The longest chain of estimated durations through these entries (in layer order),
    along the dependencies among them: what no schedule of them can beat."""
    finish: dict[str, int] = {}
    for entry in entries:
        start = max((finish[up] for up in entry.dependencies if up in finish), default=0)
        finish[entry.stack] = start + entry.estimated_duration
    return max(finish.values(), default=0)


def unwanted_instances(
    deployments: Iterable[Deployment],
    held: Mapping[str, Mapping[str, Iterable[str]]],
    *,
    environment: str | None = None,
    known: Mapping[str, Deployment] | None = None,
) -> list[EnvironmentPlan]:
    """Removal plans for what a backend holds (`held`: deploymentId → environment → stacks)
    in environments the deployments no longer enable, and, given every deployment the repo
    has (`known`), in deployments it no longer has. Stacks of enabled environments are the
    environment plans' business (`plan_environment`'s `deployed`)."""
    plans: list[EnvironmentPlan] = []

    def add(deployment_id: str, env: str, stacks: Iterable[str], reason: str) -> None:
        names = sorted(set(stacks))
        if names and environment in (None, env):
            removals = [Removal(deployment_id, env, name, reason) for name in names]
            plans.append(EnvironmentPlan(deployment_id, env, [], [], removals))

    for deployment in deployments:
        environments = deployment.manifest.environments
        for env, stacks in sorted(held.get(deployment.deployment_id, {}).items()):
            if env not in environments:
                reason = f"environment {env} is no longer in the manifest"
                add(deployment.deployment_id, env, stacks, reason)
            elif not environments[env].enabled:
                add(deployment.deployment_id, env, stacks, f"environment {env} is disabled")
    if known is not None:
        for deployment_id, environments_held in sorted(held.items()):
            if deployment_id not in known:
                for env, stacks in sorted(environments_held.items()):
                    add(deployment_id, env, stacks, "deployment removed from the repo")
    return plans


def select_stacks(names: Iterable[str], patterns: Iterable[str] | None) -> set[str] | None:
    """The stacks matching any glob (`compute-*`), or None when no filter was given."""
    patterns = [pattern.strip() for pattern in patterns or () if pattern.strip()]
    if not patterns:
        return None
    return {name for name in names if any(fnmatchcase(name, p) for p in patterns)}


# --- run time -----------------------------------------------------------------------------


def consumed_outputs(instance: Instance) -> list[tuple[str, str]]:
    """The (stack, output) pairs an instance reads through placeholders, sorted."""
    pairs = {
        (placeholder.stack, placeholder.output)
        for resolved in instance.config.values()
        for placeholder in find_placeholders(resolved.value)
    }
    return sorted(pairs)


def consumed_digests(
    instance: Instance, outputs: Mapping[str, Mapping[str, Any]]
) -> dict[str, str]:
    """`{"stack.output": digest}` of the upstream outputs this instance consumes now."""
    return {
        f"{stack}.{output}": digest(outputs.get(stack, {}).get(output))
        for stack, output in consumed_outputs(instance)
    }


def dynamic_decision(
    recorded: Mapping[str, str] | None, now: Mapping[str, str]
) -> tuple[bool, str]:
    """Whether a pending-upstream instance must run, and why (or why not)."""
    if recorded is None:
        return True, "never deployed"
    changed = sorted(key for key, value in now.items() if recorded.get(key) != value)
    if changed:
        return True, f"upstream output {', '.join(changed)} changed"
    if not now:
        return False, "consumes no upstream output"
    names = sorted(now)
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return False, f"upstream outputs it consumes are unchanged ({shown})"


def github_matrix(plans: Iterable[EnvironmentPlan]) -> dict[str, list[dict[str, Any]]]:
    """`{"layer-N": [include, …]}` for the deploy workflow's matrix jobs (runnable only)."""
    matrix: dict[str, list[dict[str, Any]]] = {}
    for plan in plans:
        for entry in plan.runnable():
            matrix.setdefault(f"layer-{entry.layer}", []).append(
                {
                    "deployment": entry.deployment_id,
                    "environment": entry.environment,
                    "stack": entry.stack,
                    "status": entry.status,
                }
            )
    return dict(sorted(matrix.items(), key=lambda item: int(item[0].split("-")[1])))


def unmet_inputs(
    consumes: Mapping[str, Iterable[tuple[str, str]]],
    *,
    selected: Iterable[str],
    available: Mapping[str, Iterable[str]],
) -> list[tuple[str, str, str]]:
    """`(stack, upstream, output)` for each output a selected stack consumes from an
    upstream the selection leaves out and whose recorded outputs lack it (never deployed
    here): such a deploy could only fail at run time. Sorted. A purely computational
    function."""
    chosen = set(selected)
    have = {stack: set(outputs) for stack, outputs in available.items()}
    return sorted(
        (stack, upstream, output)
        for stack in chosen
        for upstream, output in consumes.get(stack, ())
        if upstream not in chosen and output not in have.get(upstream, set())
    )
