"""The action's plan-comment steps: `summary`, `comment` and the fork-safe `relay`.

What a step reads is what the earlier steps of the job left in the work folder: the plan
(`plan.json`, written only when the plan step finished), the validation problems, and a
`failed-<step>.json` for each step that failed (with its error). From these alone a
comment or summary says what happened: a plan, a failure (which step, the error, the
run) or that no plan was made, never an empty plan that reads as "nothing changes".

`summary` writes the job summary once (the plan step writes none) and `plan.md`, the full
plan, beside `plan.json` for the run's artifact. `comment` posts to the pull request of
the running job. `relay` runs in a `workflow_run` workflow of the base repository, with
its own trusted code and a token that may comment: it finds the plan run's pull request
by head repository, branch and commit, marks the old comment outdated when a plan starts
(`requested`), and when the run completes downloads its artifact and renders the comment
from the plan data with this code (the fork's Markdown is never posted as it is: the run
that made it ran untrusted code).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from controller.action.context import ActionInputs, GitHubContext
from controller.adapters.github_api import GitHubApiError, GitHubNotFoundError, make_github
from controller.adapters.github_comments import (
    PullRequestComments,
    comment_author,
    download_artifact,
    find_pull_request,
)
from controller.adapters.local_repo import LocalRepo, write_atomic
from controller.core.catalog import RepoSnapshot, load_snapshot
from controller.core.comments import RenderContext, render_comment, render_full, render_summary
from controller.core.secret_config import is_literal, secret_keys_of

PLAN_FILE = "plan.json"
VALIDATION_FILE = "validation.json"
FULL_PLAN_FILE = "plan.md"
ARTIFACT = "cloud-plan"
ARTIFACT_FILES = (PLAN_FILE, VALIDATION_FILE, "failed-*")
PLAN_STEPS = ("validate", "plan")


class CommentError(RuntimeError):
    """The comment could not be posted; the message says why."""


def failure_file(work_dir: Path, command: str) -> Path:
    return work_dir / f"failed-{command}.json"


def record_failure(work_dir: Path, command: str, error: str) -> None:
    """Leave the step's failure for the comment and summary steps (and the relay)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(failure_file(work_dir, command), json.dumps({"step": command, "error": error}))


# --- what the job's steps left --------------------------------------------------------------


class Bundle:
    """The plan, the problems and the failures, from files (local, or an artifact's)."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.document = _json(files.get(PLAN_FILE), dict)
        self.problems = [
            p for p in _json(files.get(VALIDATION_FILE), list) or [] if isinstance(p, dict)
        ]
        self.failures = [
            record
            for step in PLAN_STEPS
            if isinstance(record := _json(files.get(f"failed-{step}.json"), dict), dict)
        ]

    def comment(self, context: RenderContext, secrets: list[str]) -> list[str]:
        """The comment bodies; a plan that does not have the shape of one (the relay reads
        what an untrusted run wrote) becomes a failure that says so."""
        try:
            return render_comment(
                self.document,
                problems=self.problems,
                failures=self.failures,
                secrets=secrets,
                context=context,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            unreadable = {"step": "comment", "error": f"the plan could not be read ({error!r})"}
            return render_comment(None, failures=[unreadable], secrets=secrets, context=context)

    @classmethod
    def from_folder(cls, folder: Path) -> Bundle:
        names = [PLAN_FILE, VALIDATION_FILE, *(f"failed-{step}.json" for step in PLAN_STEPS)]
        return cls(
            {name: (folder / name).read_bytes() for name in names if (folder / name).exists()}
        )


def _json(data: bytes | None, kind: type) -> Any:
    if data is None:
        return None
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, kind) else None


def _context(github: GitHubContext, **overrides: Any) -> RenderContext:
    values = {
        "repository": github.repository,
        "server_url": github.server_url,
        "run_url": github.run_url,
        "run_id": github.run_id or None,
        "head": github.head_sha() or None,
        "base": github.base_sha() or None,
    }
    return RenderContext(**(values | overrides))


# --- steps ----------------------------------------------------------------------------------


def summary(inputs: ActionInputs, github: GitHubContext) -> int:
    """The job summary (once per job, within GitHub's 1 MiB) and `plan.md` (all of it)."""
    bundle = Bundle.from_folder(inputs.work_dir)
    context = _context(github)
    secrets = _secrets(inputs)
    arguments = {"problems": bundle.problems, "failures": bundle.failures, "secrets": secrets}
    github.add_summary(render_summary(bundle.document, context=context, **arguments))
    write_atomic(
        inputs.file(FULL_PLAN_FILE), render_full(bundle.document, context=context, **arguments)
    )
    return 0


def comment(inputs: ActionInputs, github: GitHubContext) -> int:
    """Post the plan comment on the pull request of this job (same-repository use)."""
    number = github.pull_request_number()
    if number is None:
        raise CommentError("comment needs a pull_request event (no pull request number)")
    if not inputs.github_token:
        raise CommentError("comment needs github-token (with pull-requests: write)")
    bundle = Bundle.from_folder(inputs.work_dir)
    context = _context(github, artifact_url=inputs.artifact_url or None)
    bodies = bundle.comment(context, _secrets(inputs))
    return _publish(inputs, github, number, bodies, run_id=github.run_id)


def relay(inputs: ActionInputs, github: GitHubContext) -> int:
    """From a `workflow_run` of the plan workflow: mark outdated, or post its comment."""
    if not inputs.github_token:
        raise CommentError("relay needs github-token (pull-requests: write, actions: read)")
    event = github.event()
    run = event.get("workflow_run") or {}
    if run.get("event") != "pull_request":
        print(f"relay: the run was triggered by {run.get('event')!r}, not a pull request")
        return 0
    head_repository = str((run.get("head_repository") or {}).get("full_name") or "")
    sha = str(run.get("head_sha") or "")
    branch = str(run.get("head_branch") or "")
    run_id = run.get("id")
    if not (head_repository and sha and branch and isinstance(run_id, int)):
        raise CommentError("relay: the workflow_run event lacks its head repository, commit or id")
    client = make_github(inputs.github_token, base_url=github.api_url)
    try:
        pull = find_pull_request(
            client, github.repository, head_repository=head_repository, branch=branch, sha=sha
        )
    except GitHubApiError as error:
        raise CommentError(f"relay: could not find the pull request: {error}") from None
    if pull is None:
        print(f"relay: no open pull request has {head_repository}:{branch} as its head")
        return 0
    run_url = str(run.get("html_url") or "") or None
    if event.get("action") in ("requested", "in_progress"):
        comments = _comments(inputs, github, client)
        edited = comments.mark_outdated(pull.number, head=sha, run_url=run_url)
        print(f"relay: marked {edited} plan comment(s) of #{pull.number} outdated")
        return 0
    if pull.sha != sha:
        print(f"relay: #{pull.number} moved on to {pull.sha[:7]}; this plan of {sha[:7]} is stale")
        return 0
    if run.get("conclusion") in ("cancelled", "skipped"):
        print(f"relay: the plan run was {run.get('conclusion')}; nothing to post")
        return 0
    try:
        found = download_artifact(
            client,
            github.repository,
            token=inputs.github_token,
            run_id=run_id,
            name=ARTIFACT,
            files=ARTIFACT_FILES,
        )
    except GitHubApiError as error:
        found, problem = None, str(error)
    else:
        problem = "the run uploaded no plan artifact"
    files, artifact_id = found if found else ({}, None)
    bundle = Bundle(files)
    if bundle.document is None and not bundle.failures:
        ended = f"{problem} (the run's conclusion: {run.get('conclusion')})"
        bundle.failures = [{"step": "plan workflow", "error": ended}]
    fork = head_repository.lower() != github.repository.lower()
    context = RenderContext(
        repository=github.repository,
        server_url=github.server_url,
        run_url=run_url,
        run_id=str(run_id),
        head=sha,
        relayed=fork,
        artifact_url=f"{run_url}/artifacts/{artifact_id}" if run_url and artifact_id else None,
    )
    bodies = bundle.comment(context, _secrets(inputs))
    return _publish(inputs, github, pull.number, bodies, run_id=str(run_id), client=client)


# --- helpers --------------------------------------------------------------------------------


def _comments(inputs: ActionInputs, github: GitHubContext, client: Any) -> PullRequestComments:
    try:
        author = comment_author(client, inputs.comment_author)
    except GitHubApiError as error:
        raise CommentError(f"could not tell whose comments are ours: {error}") from None
    return PullRequestComments(client, github.repository, author)


def _publish(
    inputs: ActionInputs,
    github: GitHubContext,
    number: int,
    bodies: list[str],
    *,
    run_id: str,
    client: Any = None,
) -> int:
    client = client or make_github(inputs.github_token, base_url=github.api_url)
    comments = _comments(inputs, github, client)
    try:
        urls = comments.publish(number, bodies, run_id=int(run_id) if run_id.isdigit() else None)
    except GitHubNotFoundError:
        print(f"::warning title=cloud::pull request #{number} is gone (404): no comment was posted")
        return 0
    except GitHubApiError as error:
        raise CommentError(f"could not post the plan comment: {error}") from None
    if urls is None:
        print(f"a later run's plan is already on #{number}: left as it is")
        return 0
    github.set_outputs({"comment-url": urls[0]})
    print(f"plan comment: {urls[0]}" + (f" (+{len(urls) - 1} continued)" if len(urls) > 1 else ""))
    return 0


def _secrets(inputs: ActionInputs) -> list[str]:
    try:
        return secret_values(load_snapshot(LocalRepo(inputs.root).catalog_files()))
    except (OSError, ValueError):  # an unreadable checkout must not hide a failure
        return []


def secret_values(snapshot: RepoSnapshot) -> list[str]:
    """Values written for secret config keys (stack defaults, templates, manifests), to
    redact from anything rendered. Read where they are written: no config is resolved;
    a `{{SECRET:…}}` reference is no value."""
    secret = {
        name: secret_keys_of(definition.configuration)
        for name, definition in snapshot.catalog.stacks.items()
    }
    found: list[Any] = []
    for name, keys in secret.items():
        definition = snapshot.catalog.stacks[name]
        found += [definition.configuration[key].default for key in keys]
        for template in snapshot.catalog.templates.values():
            found += [template.default_config.get(name, {}).get(key) for key in keys]
    for deployment in snapshot.deployments.values():
        for name, settings in deployment.manifest.stacks.items():
            keys = secret.get(name, frozenset())
            layers = [settings.config, *(o.config for o in settings.environments.values())]
            found += [layer.get(key) for layer in layers for key in keys]
    return sorted({value for value in found if isinstance(value, str) and is_literal(value)})
