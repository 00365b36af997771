"""GitHub Actions as the place operations run: dispatch, find the run, read jobs and
results, cancel. The service's GitHub dispatcher is built on this.

Dispatch asks GitHub for the run's id (`return_run_details`); where GitHub answers without
it, the run is found by its run-name, which carries `[<operation id>]`. Environment jobs are
recognised by name (`deploy <deploymentId> / <environment>`) and each uploads its result
as an artifact `result-<deploymentId>-<environment>` holding one JSON file per
environment (a packed shard's artifact holds several). Every call goes through the retry
policy of `github_api`.

The reconciler asks about the same quiet runs again and again, so the run and its jobs
are read with conditional requests (`If-None-Match` with the ETag of the last answer): a
304 costs nothing against the rate limit, and the last answer is used again.
"""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import requests
from github import Github
from github.WorkflowRun import WorkflowRun

from controller.adapters.github_api import GitHubApiError, RetryingCaller
from controller.core.webhooks import (
    JobUpdate,
    RunUpdate,
    job_state,
    operation_id_of,
    parse_job_name,
    run_state,
)

MAX_RESULT_BYTES = 1_000_000
JOBS_PER_PAGE = 100
CACHED_ANSWERS = 512  # ETags and bodies kept for conditional reads (the oldest go first)


@dataclass(frozen=True)
class DispatchedRun:
    run_id: int
    html_url: str | None = None


@dataclass
class GitHubActions:
    github: Github
    repository: str
    ref: str = "main"
    caller: RetryingCaller = field(default_factory=RetryingCaller)
    download: Callable[[str], bytes] | None = None  # fetches a pre-signed artifact URL
    _answers: OrderedDict[str, tuple[str, Any]] = field(
        default_factory=OrderedDict, init=False, repr=False
    )
    _answers_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def _repo(self) -> Any:
        return self.github.get_repo(self.repository)

    def dispatch(
        self, workflow: str, inputs: dict[str, str], *, operation_id: str
    ) -> DispatchedRun | None:
        """Start `workflow` with `inputs`; the run if GitHub named it (else find it later)."""
        target = self._repo().get_workflow(workflow)
        result = self.caller.call(
            f"dispatching {workflow} for {operation_id}",
            lambda: target.create_dispatch(self.ref, inputs, throw=True, return_run_details=True),
        )
        if isinstance(result, WorkflowRun):
            return DispatchedRun(result.id, result.html_url)
        return None

    def find_run(
        self, workflow: str, operation_id: str, *, since: datetime
    ) -> DispatchedRun | None:
        """The dispatched run whose run-name carries the operation id (the fallback)."""
        created = (since - timedelta(minutes=1)).strftime(">=%Y-%m-%dT%H:%M:%SZ")
        target = self._repo().get_workflow(workflow)
        runs = self.caller.call(
            f"listing {workflow} runs",
            lambda: list(target.get_runs(event="workflow_dispatch", created=created)),
        )
        for run in runs:
            if operation_id_of(run.display_title) == operation_id:
                return DispatchedRun(run.id, run.html_url)
        return None

    def run_status(self, run_id: int) -> tuple[RunUpdate | None, list[JobUpdate]]:
        """The run's state and its environment jobs' states, read from the API."""
        base = f"/repos/{self.repository}/actions/runs/{run_id}"
        run = self.get_json(f"reading run {run_id}", base)
        operation = operation_id_of(run.get("display_title") or "")
        update = (
            RunUpdate(
                operation,
                int(run["id"]),
                run_state(run["status"], run.get("conclusion")),
                run.get("html_url"),
                run.get("conclusion"),
            )
            if operation
            else None
        )
        jobs: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = self.get_json(
                f"listing jobs of run {run_id}",
                f"{base}/jobs",
                {"filter": "latest", "per_page": JOBS_PER_PAGE, "page": page},
            )
            listed = answer.get("jobs") or []
            jobs += listed
            if len(listed) < JOBS_PER_PAGE or len(jobs) >= int(answer.get("total_count", 0)):
                break
            page += 1
        stack_jobs = []
        for job in jobs:
            parsed = parse_job_name(job.get("name") or "")
            if parsed is None:
                continue
            kind, deployment_id, environment = parsed
            stack_jobs.append(
                JobUpdate(
                    run_id=int(run["id"]),
                    job_id=int(job["id"]),
                    operation=kind,  # type: ignore[arg-type]
                    deployment_id=deployment_id,
                    environment=environment,
                    state=job_state(job["status"], job.get("conclusion")),
                    conclusion=job.get("conclusion"),
                    started_at=job.get("started_at"),
                    completed_at=job.get("completed_at"),
                    html_url=job.get("html_url"),
                )
            )
        return update, stack_jobs

    def get_json(self, what: str, path: str, parameters: dict[str, Any] | None = None) -> Any:
        """GET `path` of the REST API, conditionally when it was read before: on 304 the
        last answer is returned again. Errors go through the retry policy."""
        key = f"{path}?{urlencode(sorted((parameters or {}).items()))}"
        with self._answers_lock:
            cached = self._answers.get(key)
        requester = self.github.requester

        def fetch() -> tuple[str | None, Any]:
            headers = {"If-None-Match": cached[0]} if cached else {}
            status, answer_headers, body = requester.requestJson(
                "GET", path, parameters=parameters, headers=headers
            )
            if status == 304 and cached is not None:
                return cached
            data = json.loads(body) if body else None
            if status >= 400:
                raise requester.createException(status, answer_headers, data)
            return {k.lower(): v for k, v in answer_headers.items()}.get("etag"), data

        etag, data = self.caller.call(what, fetch)
        if etag:
            with self._answers_lock:
                self._answers[key] = (etag, data)
                self._answers.move_to_end(key)
                while len(self._answers) > CACHED_ANSWERS:
                    self._answers.popitem(last=False)
        return data

    def results(self, run_id: int, *, only: str | None = None) -> dict[str, dict[str, Any]]:
        """Each environment's result (status, every stack's outcome: counts, duration,
        masked outputs) by `deploymentId/environment`; `only`: just that artifact."""
        run = self.caller.call(
            f"reading run {run_id}", lambda: self._repo().get_workflow_run(run_id)
        )
        artifacts = self.caller.call(
            f"listing artifacts of run {run_id}", lambda: list(run.get_artifacts())
        )
        found: dict[str, dict[str, Any]] = {}
        for artifact in artifacts:
            if not artifact.name.startswith("result-") or artifact.expired:
                continue
            if only is not None and artifact.name != only:
                continue
            for result in self._read_results(artifact.archive_download_url):
                if "deploymentId" in result and "environment" in result:
                    found[f"{result['deploymentId']}/{result['environment']}"] = result
        return found

    def environment_result(
        self, run_id: int, deployment_id: str, environment: str
    ) -> dict[str, Any] | None:
        """The result an environment job of the run uploaded, or None (not uploaded)."""
        key = f"{deployment_id}/{environment}"
        return self.results(run_id, only=f"result-{deployment_id}-{environment}").get(key)

    def cancel(self, run_id: int) -> None:
        run = self.caller.call(
            f"reading run {run_id}", lambda: self._repo().get_workflow_run(run_id)
        )
        self.caller.call(f"cancelling run {run_id}", run.cancel)

    def _read_results(self, url: str) -> list[dict[str, Any]]:
        """The JSON files inside a result artifact's zip (GitHub answers 302 to storage)."""
        status, headers, _ = self.caller.call(
            "locating an artifact", lambda: self.github.requester.requestJson("GET", url)
        )
        location = {k.lower(): v for k, v in headers.items()}.get("location")
        if status != 302 or not location:
            raise GitHubApiError(
                f"artifact download answered {status} without a location", status=status
            )
        data = (self.download or _download)(location)
        results = []
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for name in archive.namelist():
                if not name.endswith(".json") or archive.getinfo(name).file_size > MAX_RESULT_BYTES:
                    continue
                result = json.loads(archive.read(name))
                if isinstance(result, dict):
                    results.append(result)
        return results


def _download(url: str) -> bytes:
    """Fetch a pre-signed URL (no GitHub token: it must not leave GitHub's API host)."""
    response = requests.get(url, timeout=60)
    response.raise_for_status()
    if len(response.content) > 10 * MAX_RESULT_BYTES:
        raise GitHubApiError("result artifact is larger than expected")
    return response.content
