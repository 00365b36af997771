"""Drift reports: a refresh's findings as text, the report of `cloud drift`, and the body of
the GitHub issue kept for a drifted deployment environment.

What drifted is a list of resources (changed, with each property's recorded value and the
one found in the cloud, secrets already masked; or gone). Everything here says
"simulated" when the simulated engine found it. A purely computational module.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from controller.core.catalog import Deployment

MARKER_PREFIX = "<!-- cloud-drift:"
MATRIX_LIMIT = 256  # GitHub refuses a matrix of more configurations
TARGETS_PER_JOB = 40  # environments one drift job checks, one after the other
ISSUE_LABEL = "drift"
EXIT_DRIFT = 3  # `cloud drift` found drift (0: none, 1: a check failed, 2: usage)


def marker(deployment_id: str, environment: str) -> str:
    """The hidden line that identifies the issue of one deployment environment."""
    return f"{MARKER_PREFIX} {deployment_id}/{environment} -->"


def value_text(value: Any) -> str:
    text = value if isinstance(value, str) and value == "[secret]" else json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def resource_lines(resources: Iterable[Mapping[str, Any]], indent: str = "    ") -> list[str]:
    lines = []
    for resource in resources:
        sign = "-" if resource["kind"] == "deleted" else "~"
        what = "gone from the cloud" if resource["kind"] == "deleted" else "changed"
        lines.append(f"{indent}{sign} {resource['type']} {resource['name']}: {what}")
        for prop in resource.get("properties", []):
            lines.append(
                f"{indent}    {prop['name']}: {value_text(prop['old'])} → {value_text(prop['new'])}"
            )
    return lines


_STATUS_TEXT = {"in_sync": "in sync", "drifted": "DRIFTED", "gone": "GONE"}


def render_refresh_text(report: Mapping[str, Any], *, preview_only: bool) -> str:
    """A refresh operation's report (`OperationReport.to_dict()`) per stack."""
    stacks = report.get("stacks", [])
    checked = [s for s in stacks if s.get("drift") is not None]
    drifted = [s for s in checked if s["drift"]["driftDetected"]]
    how = ", ".join(
        part
        for part, wanted in (("simulated", report.get("simulated")), ("preview only", preview_only))
        if wanted
    )
    lines = [
        f"refresh {report['deploymentId']} / {report['environment']}"
        + (f" ({how})" if how else "")
        + f": {len(drifted)} of {len(checked)} refreshed stack(s) drifted"
    ]
    for stack in stacks:
        drift = stack.get("drift")
        if drift is None:
            state = stack["status"] if stack["status"] != "succeeded" else "refreshed"
            lines.append(f"  {stack['stack']:<20} {state}  {stack.get('reason', '')}".rstrip())
            continue
        lines.append(f"  {stack['stack']:<20} {_STATUS_TEXT.get(drift['status'], drift['status'])}")
        lines += resource_lines(drift["resources"])
    if drifted and not preview_only:
        lines.append(
            "the state now holds what the cloud has; `cloud deploy` brings the cloud "
            "back to the program"
        )
    return "\n".join(lines) + "\n"


def environment_entry(
    deployment_id: str,
    environment: str,
    report: Mapping[str, Any] | None,
    *,
    status: str | None = None,
    reason: str = "",
) -> dict[str, Any]:
    """One deployment environment of `cloud drift`'s report."""
    if report is None:
        return {
            "deploymentId": deployment_id,
            "environment": environment,
            "status": status or "skipped",
            "reason": reason,
            "stacks": [],
        }
    stacks = []
    failed = False
    for stack in report.get("stacks", []):
        drift = stack.get("drift")
        if drift is None:
            failed = failed or stack["status"] == "failed"
            stacks.append(
                {
                    "stack": stack["stack"],
                    "status": stack["status"],
                    "reason": stack.get("error") or stack.get("reason", ""),
                }
            )
        else:
            stacks.append(
                {
                    "stack": stack["stack"],
                    "status": drift["status"],
                    "resources": drift["resources"],
                }
            )
    drifted = [s["stack"] for s in stacks if s["status"] in ("drifted", "gone")]
    return {
        "deploymentId": deployment_id,
        "environment": environment,
        "status": "failed" if failed else ("drifted" if drifted else "in_sync"),
        "operationId": report.get("operationId"),
        "checkedAt": report.get("startedAt"),
        "driftedStacks": drifted,
        "stacks": stacks,
    }


def drift_report(entries: list[dict[str, Any]], *, simulated: bool, at: str) -> dict[str, Any]:
    counts = {
        status: sum(entry["status"] == status for entry in entries)
        for status in ("drifted", "in_sync", "failed", "skipped")
    }
    return {
        "checkedAt": at,
        "simulated": simulated,
        "driftDetected": counts["drifted"] > 0,
        "summary": {"environments": len(entries), **_camel(counts)},
        "environments": entries,
    }


def _camel(counts: Mapping[str, int]) -> dict[str, int]:
    return {("inSync" if key == "in_sync" else key): value for key, value in counts.items()}


def exit_code(report: Mapping[str, Any]) -> int:
    """1 when a check failed or could not run (the report is incomplete, never read as 'no
    drift'), else 3 when drift was found, else 0."""
    summary = report["summary"]
    if summary["failed"] or summary["skipped"]:
        return 1
    return EXIT_DRIFT if summary["drifted"] else 0


def render_drift_text(report: Mapping[str, Any]) -> str:
    """`cloud drift`'s summary table, then what drifted."""
    rows = [("DEPLOYMENT", "ENVIRONMENT", "STATUS", "STACKS", "DRIFTED")]
    for entry in report["environments"]:
        rows.append(
            (
                entry["deploymentId"],
                entry["environment"],
                entry["status"].replace("_", " "),
                str(len(entry["stacks"])),
                ", ".join(entry.get("driftedStacks", [])) or entry.get("reason", "") or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    for entry in report["environments"]:
        for stack in entry["stacks"]:
            if stack["status"] in ("drifted", "gone"):
                lines.append(
                    f"{entry['deploymentId']} / {entry['environment']} / {stack['stack']}:"
                )
                lines += resource_lines(stack["resources"], indent="  ")
            elif stack["status"] == "failed":
                lines.append(
                    f"{entry['deploymentId']} / {entry['environment']} / "
                    f"{stack['stack']}: check failed: {stack.get('reason', '')}"
                )
    summary = report["summary"]
    simulated = " (simulated)" if report.get("simulated") else ""
    lines.append(
        f"drift{simulated}: {summary['drifted']} of {summary['environments']} environment(s) "
        f"drifted, {summary['inSync']} in sync, {summary['failed']} failed, "
        f"{summary['skipped']} skipped"
    )
    return "\n".join(lines) + "\n"


# --- the drift workflow's jobs -------------------------------------------------------------


def drift_targets(
    deployments: Iterable[Deployment],
    *,
    environment: str | None = None,
    per_job: int = TARGETS_PER_JOB,
    limit: int = MATRIX_LIMIT,
) -> list[dict[str, str]]:
    """The drift workflow's matrix: the enabled deployment environments, at most `per_job`
    to a job (each environment assumes its own read-only plan role in its job). ValueError,
    before anything runs, when more than `limit` jobs would be needed."""
    targets = [
        f"{deployment.deployment_id}/{name}"
        for deployment in sorted(deployments, key=lambda d: d.deployment_id)
        for name, env in deployment.manifest.environments.items()
        if env.enabled and (not environment or name == environment)
    ]
    jobs = [
        {"name": f"{n // per_job + 1}", "targets": " ".join(targets[n : n + per_job])}
        for n in range(0, len(targets), per_job)
    ]
    if len(jobs) > limit:
        raise ValueError(
            f"checking drift needs {len(jobs)} jobs, more than GitHub's {limit} per matrix: "
            "run the workflow for one deployment or environment at a time"
        )
    return jobs


# --- the GitHub issue -----------------------------------------------------------------------


def issue_title(deployment_id: str, environment: str) -> str:
    return f"Drift: {deployment_id} / {environment}"


def issue_body(
    entry: Mapping[str, Any], *, since: str, run_url: str | None, simulated: bool
) -> str:
    """The body of a drifted environment's issue: marker first, what drifted, since when."""
    deployment_id, environment = entry["deploymentId"], entry["environment"]
    lines = [
        marker(deployment_id, environment),
        f"## Drift in {deployment_id} / {environment}"
        + (" (simulated engine)" if simulated else ""),
        "",
        f"The cloud no longer matches what was deployed, since **{since}** (first seen); "
        f"last checked **{entry.get('checkedAt') or '?'}**"
        + (f" by [this run]({run_url})." if run_url else "."),
        "",
        "| stack | status | resource | property | recorded | in the cloud |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for stack in entry["stacks"]:
        if stack["status"] not in ("drifted", "gone"):
            continue
        for resource in stack["resources"]:
            name = _cell(f"{resource['type']} {resource['name']}")
            if resource["kind"] == "deleted" or not resource.get("properties"):
                lines.append(f"| {stack['stack']} | {stack['status']} | {name} | | gone | |")
                continue
            for prop in resource["properties"]:
                lines.append(
                    f"| {stack['stack']} | {stack['status']} | {name} | {_cell(prop['name'])} | "
                    f"{_cell(value_text(prop['old']))} | {_cell(value_text(prop['new']))} |"
                )
    lines += [
        "",
        "To bring the cloud back to the program, run the deploy workflow for this environment "
        "with a refresh (the drift workflow's `remediate` option does it, behind the "
        "environment's protection), or locally "
        f"`cloud deploy {deployment_id} -e {environment} --refresh`.",
        "",
        "_Kept up to date by the drift workflow; it closes this issue when the drift is gone._",
    ]
    return "\n".join(lines) + "\n"


def since_of(body: str | None) -> str | None:
    """The first-seen time an issue body carries (so an update keeps it)."""
    if not body:
        return None
    start = body.find("since **")
    if start < 0:
        return None
    end = body.find("**", start + 8)
    return body[start + 8 : end] if end > start else None


def _cell(text: str) -> str:
    """A Markdown table cell: pipes escaped, no line breaks, no HTML."""
    return (
        text.replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("\n", " ")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
    )
