"""GitHub environments through PyGithub: do they exist, and what protects them.

One read per environment (`GET /repos/{repo}/environments/{name}`), or one listing of
them all (100 a page) for the plan job, which checks every environment of a run before
anything is applied. Needs a token with `actions: read`. Errors go through the retry
policy of `github_api`; a missing environment is an answer, not an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from github import Github

from controller.adapters.github_api import GitHubNotFoundError, RetryingCaller
from controller.core.protection import Protection


@dataclass
class GitHubEnvironments:
    github: Github
    repository: str
    caller: RetryingCaller = field(default_factory=RetryingCaller)

    def read(self, name: str) -> Protection:
        repo = self.github.get_repo(self.repository)
        try:
            environment = self.caller.call(
                f"reading GitHub environment {name}",
                lambda: _loaded(repo.get_environment(name)),
            )
        except GitHubNotFoundError:
            return Protection(name, exists=False)
        return protection_of(environment)

    def read_all(self) -> dict[str, Protection]:
        repo = self.github.get_repo(self.repository)
        environments = self.caller.call(
            f"listing the GitHub environments of {self.repository}",
            lambda: list(repo.get_environments()),
        )
        return {env.name: protection_of(env) for env in environments}


def _loaded(environment: Any) -> Any:
    environment.protection_rules  # noqa: B018 - a lazy object: read it inside the retry
    return environment


def protection_of(environment: Any) -> Protection:
    reviewers = wait = 0
    branch = False
    for rule in environment.protection_rules or []:
        if rule.type == "required_reviewers":
            reviewers += len(rule.reviewers or [])
        elif rule.type == "wait_timer":
            wait = max(wait, int(rule.wait_timer or 0))
        elif rule.type == "branch_policy":
            branch = True
    return Protection(environment.name, True, reviewers, wait, branch)
