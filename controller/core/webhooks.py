"""GitHub webhooks: is a delivery really from GitHub, and what does it say about our runs.

A delivery is trusted only if `X-Hub-Signature-256` is the HMAC-SHA256 of the raw body with
the shared secret (compared in constant time; the old SHA-1 header is not accepted). A
`workflow_run` event is ours when its run name carries `[op-…]` (deploy.yml and
destroy.yml put the operation id there); a `workflow_job` event is an environment job of
that run when its name ends in `deploy <deploymentId> / <environment>` or `destroy …`
(deploy.yml's wave jobs, prefixed by the calling job's name when destroy.yml calls it).
The job runs the environment's every stack: its stacks' events come from the runner's
callbacks and from the job's result artifact.
A purely computational module.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any, Literal

SIGNATURE_PREFIX = "sha256="
_OPERATION = re.compile(r"\[(op-[0-9a-f]{6,32})\]")
_JOB = re.compile(r"(?:^|/\s*)(deploy|destroy)\s+(D[0-9A-Z]{6})\s+/\s+([a-z][a-z0-9-]{0,19})\s*$")

RunState = Literal["queued", "in_progress", "success", "failed", "cancelled"]
StackState = Literal["queued", "running", "succeeded", "failed", "skipped", "cancelled"]


def verify_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """True only for `sha256=<hex HMAC of body>` with this secret."""
    if not secret.strip() or not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[len(SIGNATURE_PREFIX) :].strip().lower())


def sign(secret: bytes, body: bytes) -> str:
    """The header value GitHub would send for `body` (used by tests and the reconciler)."""
    return SIGNATURE_PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def operation_id_of(run_name: str | None) -> str | None:
    match = _OPERATION.search(run_name or "")
    return match.group(1) if match else None


@dataclass(frozen=True)
class RunUpdate:
    operation_id: str
    run_id: int
    state: RunState
    html_url: str | None = None
    conclusion: str | None = None


@dataclass(frozen=True)
class JobUpdate:
    """An environment job's state: one deployment environment, all its stacks."""

    run_id: int
    job_id: int
    operation: Literal["deploy", "destroy"]
    deployment_id: str
    environment: str
    state: StackState
    conclusion: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    html_url: str | None = None


def run_state(status: str | None, conclusion: str | None) -> RunState:
    """A workflow run's (status, conclusion) as an operation state."""
    if status != "completed":
        return (
            "queued" if status in ("queued", "requested", "waiting", "pending") else "in_progress"
        )
    if conclusion == "success":
        return "success"
    if conclusion in ("cancelled", "skipped", "stale"):
        return "cancelled"
    return "failed"  # failure, timed_out, startup_failure, action_required, neutral…


def job_state(status: str | None, conclusion: str | None) -> StackState:
    if status != "completed":
        return "queued" if status in ("queued", "waiting", "pending", "requested") else "running"
    return {"success": "succeeded", "skipped": "skipped", "cancelled": "cancelled"}.get(
        conclusion or "", "failed"
    )


def parse_job_name(name: str | None) -> tuple[str, str, str] | None:
    """(operation, deployment id, environment) from an environment job's name, or None for
    other jobs (the plan, removals, packed shards)."""
    match = _JOB.search(name or "")
    return (match.group(1), match.group(2), match.group(3)) if match else None


def map_workflow_run(payload: dict[str, Any]) -> RunUpdate | None:
    run = payload.get("workflow_run") or {}
    operation = operation_id_of(run.get("display_title") or run.get("name"))
    if operation is None or "id" not in run:
        return None
    return RunUpdate(
        operation,
        int(run["id"]),
        run_state(run.get("status"), run.get("conclusion")),
        run.get("html_url"),
        run.get("conclusion"),
    )


def map_workflow_job(payload: dict[str, Any]) -> JobUpdate | None:
    job = payload.get("workflow_job") or {}
    parsed = parse_job_name(job.get("name"))
    if parsed is None or "id" not in job or "run_id" not in job:
        return None
    operation, deployment_id, environment = parsed
    return JobUpdate(
        run_id=int(job["run_id"]),
        job_id=int(job["id"]),
        operation=operation,  # type: ignore[arg-type]
        deployment_id=deployment_id,
        environment=environment,
        state=job_state(job.get("status"), job.get("conclusion")),
        conclusion=job.get("conclusion"),
        started_at=job.get("started_at"),
        completed_at=job.get("completed_at"),
        html_url=job.get("html_url"),
    )
