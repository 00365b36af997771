"""Plans and operation results as text, Markdown and JSON documents.

Every rendering masks secret outputs as `[secret]`, and says "simulated" when the
simulated engine produced the numbers. A purely computational module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.core.blobs import unchanged_summary
from controller.core.planning import EnvironmentPlan, Removal, Rows, github_matrix

SYMBOLS = {"new": "+", "changed": "~", "pending-upstream": "…", "skipped": "=", "excluded": "-"}


def plan_document(
    plans: list[EnvironmentPlan],
    *,
    mode: str,
    base: str | None = None,
    engine: str | None = None,
    simulated: bool = False,
) -> dict[str, Any]:
    """The plan as JSON: entries and layers per environment, and the GitHub matrix."""
    matrix = github_matrix(plans)
    return {
        "mode": mode,
        "base": base,
        "engine": engine,
        "simulated": simulated,
        "changed": any(plan.changed for plan in plans),
        "environments": [
            {
                "deploymentId": plan.deployment_id,
                "environment": plan.environment,
                "layers": [{"layer": n, "stacks": names} for n, names in enumerate(plan.layers, 1)],
                "entries": [entry.to_dict() for entry in plan.entries],
                "removals": [_removal(r) for r in plan.removals],
            }
            for plan in plans
        ],
        "layerCount": len(matrix) and max(int(key.split("-")[1]) for key in matrix),
        "matrix": matrix,
    }


def _removal(removal: Removal) -> dict[str, Any]:
    document: dict[str, Any] = {"stack": removal.stack, "reason": removal.reason}
    if removal.resources:
        document["resources"] = list(removal.resources)
    return document


def removal_hint(removal: Removal) -> str:
    """The command that destroys a removal (nothing destroys it implicitly)."""
    if removal.reason == "deployment removed from the repo":
        return (
            f"`cloud destroy {removal.deployment_id} -e {removal.environment} --at-ref <a "
            "commit that still has it>`"
        )
    return f"`cloud deploy {removal.deployment_id} -e {removal.environment} --remove`"


def render_plan_text(
    plans: list[EnvironmentPlan], *, simulated: bool = False, verbose: bool = True
) -> str:
    """Each environment and its entries. Not `verbose`: skipped and excluded entries are
    counted, pending-upstream ones named in one line, and environments with nothing to do
    summed up in one line (a 500-deployment repo has 1,500 of them)."""
    if not plans:
        return "nothing to plan\n"
    label = " (simulated)" if simulated else ""
    lines: list[str] = []
    quiet = instances = 0
    shared: dict[int, tuple[object, list[str]]] = {}  # lines of rows many plans share
    for plan in plans:
        runnable = plan.runnable_count()
        if not verbose and not runnable and not plan.removals:
            quiet += 1
            instances += len(plan.entries)
            continue
        lines.append(
            f"{plan.deployment_id} / {plan.environment}: {runnable} to run, "
            f"{len(plan.entries) - runnable} skipped"
            + (f", {len(plan.removals)} to remove" if plan.removals else "")
            + label
        )
        if verbose:
            lines += [
                f"  {SYMBOLS[e.status]} L{e.layer} {e.stack:<18} {e.status:<16} "
                f"{'; '.join(e.reasons)}"
                for e in plan.entries
            ]
        else:
            rows = plan.rows()
            if id(rows) not in shared:
                shared[id(rows)] = (rows, _runnable_lines(rows))
            lines += shared[id(rows)][1]
        for removal in plan.removals:
            held = f", {len(removal.resources)} resources" if removal.resources else ""
            lines.append(f"  ✗    {removal.stack:<18} {'remove':<16} {removal.reason}{held}")
        if plan.removals:
            lines.append(f"  nothing is destroyed without {removal_hint(plan.removals[0])}")
    if quiet:
        lines.append(unchanged_summary(quiet, instances) + label)
    return "\n".join(lines) + "\n"


def _runnable_lines(rows: Rows) -> list[str]:
    """What runs, the stacks that run only if an upstream output they consume changes
    summed up in one line."""
    lines, pending = [], []
    for stack, status, reasons, _ in rows.items:
        layer = rows.layers[stack]
        if status == "pending-upstream":
            pending.append(stack)
        elif status in ("new", "changed"):
            lines.append(
                f"  {SYMBOLS[status]} L{layer} {stack:<18} {status:<16} {'; '.join(reasons)}"
            )
    if pending:
        lines.append(
            f"  {SYMBOLS['pending-upstream']} {len(pending)} pending upstream (each runs only "
            f"if an output it consumes changes): {', '.join(pending)}"
        )
    return lines


def render_plan_markdown(plans: list[EnvironmentPlan], *, simulated: bool = False) -> str:
    lines = ["## Plan" + (" (simulated)" if simulated else ""), ""]
    for plan in plans:
        lines += [
            f"### {plan.deployment_id} / {plan.environment}",
            "",
            "| | stack | layer | status | reason |",
            "|---|---|---|---|---|",
        ]
        for entry in plan.entries:
            if entry.status in ("skipped", "excluded"):
                continue
            lines.append(
                f"| {SYMBOLS[entry.status]} | `{entry.stack}` | {entry.layer} | "
                f"{entry.status} | {_cell('; '.join(entry.reasons))} |"
            )
        for removal in plan.removals:
            lines.append(f"| ✗ | `{removal.stack}` | | remove | {_cell(removal.reason)} |")
        skipped = [e for e in plan.entries if e.status in ("skipped", "excluded")]
        if skipped:
            lines += ["", f"<details><summary>{len(skipped)} skipped</summary>", ""]
            lines += [f"- `{e.stack}`: {'; '.join(e.reasons)}" for e in skipped]
            lines += ["", "</details>"]
        lines.append("")
    return "\n".join(lines)


def render_report_text(report: Mapping[str, Any]) -> str:
    """An operation's outcome per stack, then the totals."""
    label = " (simulated)" if report.get("simulated") else ""
    lines = [
        f"{report['type']} {report['deploymentId']} / {report['environment']}: "
        f"{report['status']}{label} in {report['duration']:.1f}s"
    ]
    for stack in report["stacks"]:
        counts = stack.get("counts") or {}
        changed = " ".join(
            f"{symbol}{counts.get(kind, 0)}"
            for symbol, kind in (
                ("+", "create"),
                ("~", "update"),
                ("-", "delete"),
                ("±", "replace"),
            )
            if counts.get(kind)
        )
        detail = stack.get("error") or stack.get("reason") or ""
        lines.append(
            f"  L{stack['layer']} {stack['stack']:<18} {stack['status']:<10} "
            f"{changed:<12} {detail}".rstrip()
        )
    return "\n".join(lines) + "\n"


def render_outputs_text(outputs: Mapping[str, Mapping[str, Any]]) -> str:
    lines = []
    for stack, values in outputs.items():
        lines.append(f"{stack}:")
        lines += [f"  {name}: {_short(value)}" for name, value in values.items()]
    return "\n".join(lines) + ("\n" if lines else "no outputs\n")


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_jobs_markdown(
    jobs: Mapping[str, Any], *, protection: str = "", credentials: str = ""
) -> str:
    """The deploy run's jobs, wave by wave, for the plan job's summary."""
    waves = jobs.get("waves") or {}
    lines = [
        "### Deploy jobs",
        "",
        f"{jobs.get('deployJobs', 0)} environment job(s) for {jobs.get('environments', 0)} "
        f"deployment environment(s) with work in {len(waves)} promotion wave(s); "
        f"{jobs.get('removalJobs', 0)} removal job(s).",
        "",
    ]
    if waves or jobs.get("removals"):
        lines += [
            "| wave | job | environments | GitHub environment | waits for |",
            "|---|---|---|---|---|",
        ]
    for wave, entries in waves.items():
        for entry in entries:
            lines.append(_job_row(wave, entry))
    for entry in jobs.get("removals") or []:
        lines.append(_job_row("removal", entry))
    lines.append("")
    for note in (protection and f"Protection: {protection}.", credentials and f"{credentials}."):
        if note:
            lines.append(f"- {_cell(note)}")
    return "\n".join(lines) + "\n"


def _job_row(wave: str, entry: Mapping[str, Any]) -> str:
    shield = " (protected)" if entry.get("protected") else ""
    after = ", ".join(sorted({p.split("=")[1] for p in entry.get("after", "").split(",") if p}))
    return (
        f"| {wave} | {_cell(entry['name'])} | {_cell(entry['environments'])} | "
        f"`{entry['githubEnvironment']}`{shield} | {_cell(after) or '-'} |"
    )


def render_report_markdown(result: Mapping[str, Any]) -> str:
    """One environment's outcome as a layer table (the environment job's summary)."""
    label = " (simulated)" if result.get("simulated") else ""
    lines = [
        f"### {result.get('operation', 'deploy')} {result['deploymentId']} / "
        f"{result['environment']}: {result['status']}{label}",
        "",
    ]
    if result.get("reason"):
        lines += [_cell(str(result["reason"])), ""]
    stacks = result.get("stacks") or []
    if stacks:
        lines += [
            "| layer | stack | status | + | ~ | - | ± | reason |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for stack in stacks:
            counts = stack.get("counts") or {}
            lines.append(
                f"| {stack.get('layer', '')} | `{stack['stack']}` | {stack['status']} | "
                + " | ".join(
                    str(counts.get(kind, 0)) for kind in ("create", "update", "delete", "replace")
                )
                + f" | {_cell(stack.get('error') or stack.get('reason') or '')} |"
            )
    return "\n".join(lines) + "\n"
