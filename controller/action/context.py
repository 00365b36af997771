"""What an action step knows: its inputs (environment variables set by action.yml, never
`${{ }}` in a script), the GitHub context, and where it writes outputs and summaries.

Outputs go to `$GITHUB_OUTPUT` in the multi-line form with a random delimiter, so no value
(a stack name, a message) can inject another output.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.core.names import name_problem
from controller.core.waves import ENVIRONMENT_PATTERN, SHARD_ENVIRONMENT_PATTERN

TRUE = {"true", "1", "yes"}


class ActionError(RuntimeError):
    """A step cannot do its job; the message is shown as an error annotation."""


def _positive(text: str, name: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ActionError(f"input {name} must be a positive whole number, got {text!r}")
    return int(text)


@dataclass(frozen=True)
class ActionInputs:
    command: str
    root: Path
    deployment: str = ""
    environment: str = ""
    stack: str = ""
    stacks: str = ""
    base_ref: str = ""
    engine: str = "pulumi"
    operation: str = "deploy"
    operation_id: str = ""
    service_url: str = ""
    service_token: str = ""
    preview: bool = False
    refresh: bool = False
    preview_limit: int = 30
    github_token: str = ""
    comment_author: str = ""
    artifact_url: str = ""
    pulumi_version: str = ""
    work_dir: Path = Path(".cloud/action")
    # deploy runs (deploy.yml): the commit to deploy and the branch it must be on
    ref: str = ""
    default_branch: str = ""
    removals_base: str = ""
    # environment jobs: what the plan's matrix entry says
    environments: str = ""
    after: str = ""
    github_environment: str = ""
    protected: bool = False
    environment_pattern: str = ENVIRONMENT_PATTERN
    shard_environment_pattern: str = SHARD_ENVIRONMENT_PATTERN
    assume_roles: bool = True
    parallel: int = 4
    env: Mapping[str, str] = field(default_factory=dict, repr=False)  # the step's variables

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ActionInputs:
        def get(name: str, default: str = "") -> str:
            return env.get(name, "").strip() or default

        runner_temp = get("RUNNER_TEMP")
        work_dir = Path(
            get("CLOUD_WORK_DIR")
            or (str(Path(runner_temp) / "cloud") if runner_temp else ".cloud/action")
        )
        return cls(
            command=get("CLOUD_COMMAND"),
            root=Path(get("CLOUD_ROOT", os.getcwd())),
            deployment=get("CLOUD_DEPLOYMENT"),
            environment=get("CLOUD_ENVIRONMENT"),
            stack=get("CLOUD_STACK"),
            stacks=get("CLOUD_STACKS"),
            base_ref=get("CLOUD_BASE_REF"),
            engine=get("CLOUD_ENGINE", "pulumi"),
            operation=get("CLOUD_OPERATION", "deploy"),
            operation_id=get("CLOUD_OPERATION_ID"),
            service_url=get("CLOUD_SERVICE_URL"),
            service_token=get("CLOUD_SERVICE_TOKEN"),
            preview=get("CLOUD_PREVIEW", "false").lower() in TRUE,
            refresh=get("CLOUD_REFRESH", "false").lower() in TRUE,
            preview_limit=_count(get("CLOUD_PREVIEW_LIMIT", "30"), "preview-limit"),
            github_token=get("GITHUB_TOKEN"),
            comment_author=get("CLOUD_COMMENT_AUTHOR"),
            artifact_url=get("CLOUD_ARTIFACT_URL"),
            pulumi_version=get("CLOUD_PULUMI_VERSION"),
            work_dir=work_dir,
            ref=get("CLOUD_REF"),
            default_branch=get("CLOUD_DEFAULT_BRANCH"),
            removals_base=get("CLOUD_REMOVALS_BASE"),
            environments=get("CLOUD_ENVIRONMENTS"),
            after=get("CLOUD_AFTER"),
            github_environment=get("CLOUD_GITHUB_ENVIRONMENT"),
            protected=get("CLOUD_PROTECTED", "false").lower() in TRUE,
            environment_pattern=get("CLOUD_ENVIRONMENT_PATTERN", ENVIRONMENT_PATTERN),
            shard_environment_pattern=get(
                "CLOUD_SHARD_ENVIRONMENT_PATTERN", SHARD_ENVIRONMENT_PATTERN
            ),
            assume_roles=get("CLOUD_ASSUME_ROLES", "true").lower() in TRUE,
            parallel=_positive(get("CLOUD_PARALLEL", "4"), "parallel"),
            env=dict(env),
        )

    def name_problems(self) -> list[str]:
        """The inputs that are not well-formed names (they become file and job names)."""
        named = {"environment": "environment_name", "stack": "stack_name"}
        found = [
            f"input {field}: {problem}, got {getattr(self, field)!r}"
            for field, kind in named.items()
            if getattr(self, field) and (problem := name_problem(kind, getattr(self, field)))
        ]
        for part in (p.strip() for p in self.environments.split(",") if p.strip()):
            deployment_id, _, environment = part.partition("/")
            for kind, value in (
                ("deployment_id", deployment_id),
                ("environment_name", environment),
            ):
                problem = name_problem(kind, value)
                if problem:
                    found.append(f"input environments: {problem}, got {part!r}")
        return found

    def file(self, name: str) -> Path:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        return self.work_dir / name

    def require(self, *names: str) -> None:
        missing = [name.replace("_", "-") for name in names if not getattr(self, name)]
        if missing:
            raise ActionError(f"{self.command} needs the input(s) {', '.join(missing)}")


def _count(text: str, name: str) -> int:
    if not text.isdigit():
        raise ActionError(f"input {name}: expected a whole number, got {text!r}")
    return int(text)


@dataclass(frozen=True)
class GitHubContext:
    repository: str = ""
    server_url: str = "https://github.com"
    api_url: str = "https://api.github.com"
    run_id: str = ""
    sha: str = ""
    event_name: str = ""
    event_path: str = ""
    output_path: str = ""
    summary_path: str = ""
    path_file: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GitHubContext:
        return cls(
            repository=env.get("GITHUB_REPOSITORY", ""),
            server_url=env.get("GITHUB_SERVER_URL", "https://github.com"),
            api_url=env.get("GITHUB_API_URL", "https://api.github.com"),
            run_id=env.get("GITHUB_RUN_ID", ""),
            sha=env.get("GITHUB_SHA", ""),
            event_name=env.get("GITHUB_EVENT_NAME", ""),
            event_path=env.get("GITHUB_EVENT_PATH", ""),
            output_path=env.get("GITHUB_OUTPUT", ""),
            summary_path=env.get("GITHUB_STEP_SUMMARY", ""),
            path_file=env.get("GITHUB_PATH", ""),
        )

    @property
    def run_url(self) -> str | None:
        if not (self.repository and self.run_id):
            return None
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"

    def event(self) -> dict[str, Any]:
        if not self.event_path or not Path(self.event_path).exists():
            return {}
        return json.loads(Path(self.event_path).read_text())

    def pull_request(self) -> dict[str, Any]:
        return self.event().get("pull_request") or {}

    def head_sha(self) -> str:
        """The pull request's head commit (`GITHUB_SHA` is the merge commit there)."""
        return str((self.pull_request().get("head") or {}).get("sha") or self.sha)

    def base_sha(self) -> str:
        return str((self.pull_request().get("base") or {}).get("sha") or "")

    def pull_request_number(self) -> int | None:
        event = self.event()
        number = (event.get("pull_request") or {}).get("number") or event.get("number")
        return int(number) if number else None

    def set_outputs(self, values: Mapping[str, Any]) -> None:
        """Write step outputs (printed instead when not under Actions)."""
        lines = []
        for name, value in values.items():
            text = value if isinstance(value, str) else json.dumps(value)
            delimiter = f"ghadelimiter_{uuid.uuid4().hex}"
            lines.append(f"{name}<<{delimiter}\n{text}\n{delimiter}\n")
        if self.output_path:
            with open(self.output_path, "a", encoding="utf-8") as stream:
                stream.write("".join(lines))
        else:
            for name, value in values.items():
                print(f"output {name}={value}")

    def add_summary(self, markdown: str) -> None:
        if self.summary_path:
            with open(self.summary_path, "a", encoding="utf-8") as stream:
                stream.write(markdown.rstrip() + "\n\n")

    def add_path(self, directory: Path) -> None:
        if self.path_file:
            with open(self.path_file, "a", encoding="utf-8") as stream:
                stream.write(f"{directory}\n")


def parse_outputs(text: str) -> dict[str, str]:
    """Step outputs as GitHub reads `$GITHUB_OUTPUT`: `name<<DELIMITER`, value lines,
    `DELIMITER` (what `set_outputs` writes)."""
    outputs: dict[str, str] = {}
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        name, _, delimiter = lines[index].partition("<<")
        end = lines.index(delimiter, index + 1)
        outputs[name] = "\n".join(lines[index + 1 : end])
        index = end + 1
    return outputs
