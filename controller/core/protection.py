"""Whether a GitHub environment protects the deploys that run in it (fail closed).

A deploy job runs in a GitHub environment; for an environment marked protected in the
manifest or template (prod by default) that environment must exist and hold required
reviewers or a wait timer, or nothing is applied. GitHub creates a missing environment,
unprotected, the moment a job names it, so "it exists" alone proves nothing: only its
rules do. Removals always need an approval. A purely computational module.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Protection:
    """What GitHub says about one environment's deployment protection rules."""

    name: str
    exists: bool
    reviewers: int = 0
    wait_timer: int = 0  # minutes
    branch_policy: bool = False

    @property
    def gates_deploys(self) -> bool:
        return self.reviewers > 0 or self.wait_timer > 0


def protection_refusal(protection: Protection | None, *, required: bool) -> str | None:
    """Why a job must not apply in this environment, or None when it may."""
    if not required:
        return None
    if protection is None:
        return "its protection could not be checked (no GitHub token); refusing to apply"
    if not protection.exists:
        return (
            f"GitHub environment {protection.name!r} does not exist; create it with required "
            "reviewers or a wait timer (and deployment branches limited to the default "
            "branch) before deploying there"
        )
    if not protection.gates_deploys:
        return (
            f"GitHub environment {protection.name!r} has no required reviewers and no wait "
            "timer, so nothing stops an unreviewed deploy; add a protection rule (Settings "
            "> Environments) and run again"
        )
    return None
