"""Promotion waves: the deploy workflow's environment jobs, planned within GitHub's limits.

The unit of a deploy job is a deployment environment with work. Within one run an
environment deploys only after the environments before it in its deployment's promotion
order (default: the order of the template's `environments`, e.g. dev, stage, prod) that
also have work; the workflow's wave jobs (`wave-1` … `wave-4`) are those levels, so an
environment's wave is one more than the number of environments with work before it.

GitHub's limits are planned for here, never met at run time: a matrix generates at most
256 jobs, so a wave with more environments packs them into at most 256 shards (each runs
its environments with bounded parallelism); a job runs at most 6 hours; a job's outputs
hold at most 1 MB. When a wave cannot be packed within them, `PlanLimitError` says which
limit and what to do, and the plan job fails before any deploy job starts.

Each single-environment job runs in the GitHub environment `<deploymentId>-<environment>`
(a pattern); a packed shard runs in `cloud-shard-<environment>`. Protected environments
(prod and production by default, else as the manifest or template says) need required
reviewers or a wait timer there. A purely computational module.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.core import problems as codes
from controller.core.catalog import Catalog, Deployment
from controller.core.documents import Loaded
from controller.core.models import Template
from controller.core.problems import Problem, did_you_mean

MAX_WAVES = 4  # deploy.yml has this many wave jobs
MAX_MATRIX = 256  # GitHub: "a job matrix can generate a maximum of 256 jobs per workflow run"
MAX_OUTPUT_BYTES = 1_000_000  # GitHub: a job's outputs hold at most 1 MB
MAX_PER_SHARD = 8  # environments one packed job runs, SHARD_PARALLEL at a time
SHARD_PARALLEL = 2  # each runs up to 4 stacks at once: 8 Pulumi processes on a runner
JOB_SECONDS = 6 * 3600  # GitHub-hosted runners end a job after 6 hours
PROTECTED_BY_DEFAULT = frozenset({"prod", "production"})
ENVIRONMENT_PATTERN = "{deploymentId}-{environment}"
SHARD_ENVIRONMENT_PATTERN = "cloud-shard-{environment}"
_PATTERN_FIELDS = ("deploymentId", "environment", "organization", "project")
_GITHUB_ENVIRONMENT = re.compile(r"^[A-Za-z0-9._-]{1,255}$")


class PlanLimitError(ValueError):
    """The run cannot be planned within GitHub's limits; nothing was applied."""


class PatternError(ValueError):
    """A GitHub environment name pattern that cannot name an environment."""


# --- promotion order and protection -------------------------------------------------------


def promotion_order(deployment: Deployment, catalog: Catalog) -> list[str]:
    """The deployment's environments in promotion order: the manifest's `promotion`, else
    the template's, else the template's `environments` order; the rest as declared."""
    manifest = deployment.manifest
    template = catalog.templates.get(manifest.template)
    if manifest.promotion is not None:
        first = list(manifest.promotion)
    elif template is not None and template.promotion is not None:
        first = list(template.promotion)
    else:
        first = list(template.environments) if template is not None else []
    ordered = [name for name in dict.fromkeys(first) if name in manifest.environments]
    return ordered + [name for name in manifest.environments if name not in ordered]


def enabled_order(deployment: Deployment, catalog: Catalog) -> list[str]:
    environments = deployment.manifest.environments
    return [name for name in promotion_order(deployment, catalog) if environments[name].enabled]


def is_protected(deployment: Deployment, catalog: Catalog, environment: str) -> bool:
    """Whether deploys of this environment need an approval (fail closed when unsure)."""
    settings = deployment.manifest.environments.get(environment)
    if settings is not None and settings.protected is not None:
        return settings.protected
    template = catalog.templates.get(deployment.manifest.template)
    declared = template.environments.get(environment) if template is not None else None
    if declared is not None and declared.protected is not None:
        return declared.protected
    return environment in PROTECTED_BY_DEFAULT


def promotion_problems(deployment: Deployment, catalog: Catalog) -> list[Problem]:
    manifest = deployment.manifest
    found = _order_problems(
        manifest.promotion, manifest.environments, deployment.loaded, "manifest"
    )
    enabled = enabled_order(deployment, catalog)
    if len(enabled) > MAX_WAVES:
        found.append(
            _at(
                deployment.loaded,
                codes.TOO_MANY_WAVES,
                f"{len(enabled)} enabled environments ({', '.join(enabled)}) need "
                f"{len(enabled)} promotion waves; the deploy workflow has {MAX_WAVES} wave "
                "jobs: disable an environment or add wave jobs to deploy.yml (and MAX_WAVES)",
                "promotion" if manifest.promotion is not None else "environments",
            )
        )
    return found


def template_promotion_problems(template: Template, source: Loaded | None) -> list[Problem]:
    found = _order_problems(template.promotion, template.environments, source, "template")
    if len(template.environments) > MAX_WAVES:
        found.append(
            _at(
                source,
                codes.TOO_MANY_WAVES,
                f"{len(template.environments)} environments need as many promotion waves; "
                f"the deploy workflow has {MAX_WAVES} wave jobs",
                "environments",
            )
        )
    return found


def _order_problems(
    order: Sequence[str] | None,
    declared: Mapping[str, Any],
    source: Loaded | None,
    what: str,
) -> list[Problem]:
    found: list[Problem] = []
    seen: set[str] = set()
    for index, name in enumerate(order or ()):
        if name not in declared:
            found.append(
                _at(
                    source,
                    codes.INVALID_ENVIRONMENT,
                    f"promotion: {name!r} is not an environment of this {what}"
                    + did_you_mean(name, declared),
                    "promotion",
                    index,
                )
            )
        elif name in seen:
            found.append(
                _at(
                    source,
                    codes.INVALID_ENVIRONMENT,
                    f"promotion: {name!r} is listed twice",
                    "promotion",
                    index,
                )
            )
        seen.add(name)
    return found


def _at(source: Loaded | None, code: str, message: str, *path: str | int) -> Problem:
    return Problem(
        code,
        message,
        file=source.file if source else None,
        line=source.line_of(*path) if source else None,
    )


# --- GitHub environments ------------------------------------------------------------------


def check_pattern(pattern: str) -> None:
    """`PatternError` unless `pattern` only uses the known `{fields}`."""
    fields = set(re.findall(r"\{([^{}]*)\}", pattern))
    unknown = sorted(fields - set(_PATTERN_FIELDS))
    if unknown:
        raise PatternError(
            f"environment pattern {pattern!r} uses {', '.join(unknown)}; it may use "
            + ", ".join("{" + name + "}" for name in _PATTERN_FIELDS)
        )


def github_environment(pattern: str, deployment: Deployment, environment: str) -> str:
    """The GitHub environment a deploy job of this deployment environment runs in."""
    manifest = deployment.manifest
    return environment_name(
        pattern,
        deploymentId=manifest.deployment_id,
        environment=environment,
        organization=manifest.organization,
        project=manifest.project,
    )


def environment_name(pattern: str, **fields: str) -> str:
    check_pattern(pattern)
    name = pattern.format(**{key: fields.get(key, "") for key in _PATTERN_FIELDS})
    if not _GITHUB_ENVIRONMENT.match(name):
        raise PatternError(f"environment pattern {pattern!r} gives {name!r}, not a valid name")
    return name


def concurrency_group(deployment_id: str, environment: str) -> str:
    """The one concurrency group of a deployment environment, in every workflow."""
    return f"cloud-{deployment_id}-{environment}"


# --- packing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnvironmentWork:
    """A deployment environment with something to run in this run."""

    deployment_id: str
    environment: str
    wave: int
    protected: bool
    github_environment: str
    estimated_seconds: int = 0
    after: str | None = None  # the key of the environment before it (with work), if any
    stacks: tuple[str, ...] = ()  # for removals: the stacks to destroy

    @property
    def key(self) -> str:
        return f"{self.deployment_id}/{self.environment}"


@dataclass(frozen=True)
class Shard:
    """One matrix entry: the environments one job runs."""

    wave: int
    index: int
    members: tuple[EnvironmentWork, ...]
    github_environment: str
    packed: bool

    @property
    def artifact(self) -> str:
        if not self.packed:
            member = self.members[0]
            return f"result-{member.deployment_id}-{member.environment}"
        return f"result-wave{self.wave}-shard{self.index:03d}"

    @property
    def name(self) -> str:
        if not self.packed:
            return f"{self.members[0].deployment_id} / {self.members[0].environment}"
        ids = ", ".join(member.deployment_id for member in self.members)
        return f"{self.members[0].environment} x{len(self.members)}: {ids}"

    @property
    def concurrency(self) -> str:
        if not self.packed:
            return concurrency_group(self.members[0].deployment_id, self.members[0].environment)
        return f"cloud-wave{self.wave}-shard{self.index:03d}"

    @property
    def protected(self) -> bool:
        return any(member.protected for member in self.members)

    def entry(self, artifact_of: Mapping[str, str]) -> dict[str, Any]:
        """The matrix include: what the job needs, and no more (outputs are limited)."""
        after = [member.after for member in self.members if member.after]
        artifacts = sorted({artifact_of[key] for key in after if key in artifact_of})
        return {
            "name": self.name,
            "environments": ",".join(member.key for member in self.members),
            "after": ",".join(f"{m.key}={m.after}" for m in self.members if m.after),
            "artifacts": _pattern(artifacts),
            "artifact": self.artifact,
            "githubEnvironment": self.github_environment,
            "protected": self.protected,
            "concurrency": self.concurrency,
            **(
                {"stacks": ",".join(f"{m.key}={'+'.join(m.stacks)}" for m in self.members)}
                if any(member.stacks for member in self.members)
                else {}
            ),
        }


@dataclass
class WavePlan:
    waves: dict[int, list[Shard]] = field(default_factory=dict)

    def artifact_of(self) -> dict[str, str]:
        return {
            member.key: shard.artifact
            for shards in self.waves.values()
            for shard in shards
            for member in shard.members
        }

    def jobs(self) -> int:
        return sum(len(shards) for shards in self.waves.values())


def assign_waves(
    ordered: Mapping[str, Sequence[str]], with_work: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], tuple[int, str | None]]:
    """(deployment, environment) -> (wave, the environment before it with work, as a key).

    `ordered` gives each deployment's enabled environments in promotion order."""
    working = set(with_work)
    assigned: dict[tuple[str, str], tuple[int, str | None]] = {}
    for deployment_id, environments in ordered.items():
        previous: str | None = None
        wave = 0
        for environment in environments:
            if (deployment_id, environment) not in working:
                continue
            wave += 1
            assigned[(deployment_id, environment)] = (wave, previous)
            previous = f"{deployment_id}/{environment}"
    missing = working - set(assigned)
    if missing:
        raise PlanLimitError(
            "not in any promotion order (disabled?): "
            + ", ".join(f"{d}/{e}" for d, e in sorted(missing))
        )
    return assigned


def pack(
    work: Iterable[EnvironmentWork],
    *,
    what: str = "deploy",
    max_waves: int = MAX_WAVES,
    max_shards: int = MAX_MATRIX,
    max_per_shard: int = MAX_PER_SHARD,
    parallel: int = SHARD_PARALLEL,
    job_seconds: int = JOB_SECONDS,
    shard_pattern: str = SHARD_ENVIRONMENT_PATTERN,
) -> WavePlan:
    """Each wave's shards: one environment per job while a wave fits in one matrix, else
    environments of the same name packed, as few per job as the limits allow."""
    check_pattern(shard_pattern)
    by_wave: dict[int, list[EnvironmentWork]] = {}
    for item in work:
        by_wave.setdefault(item.wave, []).append(item)
    deepest = max(by_wave, default=0)
    if deepest > max_waves:
        raise PlanLimitError(
            f"{what}: a deployment has {deepest} environments with work in this run; "
            f"the workflow has {max_waves} wave jobs. Deploy fewer environments at once "
            "(e.g. merge the change for dev and stage first), or add wave jobs"
        )
    plan = WavePlan()
    for wave in sorted(by_wave):
        items = sorted(by_wave[wave], key=lambda w: (w.environment, w.protected, w.key))
        if len(items) <= max_shards:
            groups = [[item] for item in items]
            packed = False
        else:
            groups = _packed(items, wave, what, max_shards, max_per_shard)
            packed = True
        shards = []
        for index, members in enumerate(groups, 1):
            environment = (
                environment_name(shard_pattern, environment=members[0].environment)
                if packed
                else members[0].github_environment
            )
            shards.append(Shard(wave, index, tuple(members), environment, packed))
            _check_duration(shards[-1], what, parallel, job_seconds)
        plan.waves[wave] = shards
    return plan


def _packed(
    items: list[EnvironmentWork], wave: int, what: str, max_shards: int, max_per_shard: int
) -> list[list[EnvironmentWork]]:
    groups: dict[tuple[str, bool], list[EnvironmentWork]] = {}
    for item in items:
        groups.setdefault((item.environment, item.protected), []).append(item)
    for size in range(2, max_per_shard + 1):
        if sum(math.ceil(len(g) / size) for g in groups.values()) <= max_shards:
            break
    else:
        raise PlanLimitError(
            f"{what} wave {wave}: {len(items)} environments have work; one wave runs at most "
            f"{max_shards} jobs of at most {max_per_shard} environments "
            f"({max_shards * max_per_shard}). Split the change into smaller pull requests "
            "(fewer deployments at once)"
        )
    packed: list[list[EnvironmentWork]] = []
    for members in groups.values():
        count = math.ceil(len(members) / size)
        packed += [members[index::count] for index in range(count)]
    return packed


def _check_duration(shard: Shard, what: str, parallel: int, job_seconds: int) -> None:
    rounds = math.ceil(len(shard.members) / max(1, parallel))
    longest = max(member.estimated_seconds for member in shard.members)
    estimate = rounds * longest
    if estimate > job_seconds:
        raise PlanLimitError(
            f"{what} {shard.name}: estimated {estimate // 60} min, over the "
            f"{job_seconds // 3600} h a GitHub-hosted job may run; deploy fewer stacks or "
            "environments at once"
        )


def _pattern(names: Sequence[str]) -> str:
    """An actions/download-artifact `pattern` matching exactly these artifact names."""
    if not names:
        return ""
    return names[0] if len(names) == 1 else "{" + ",".join(names) + "}"


def gate_refusal(
    key: str, before: str | None, results: Mapping[str, Mapping[str, Any]]
) -> str | None:
    """Why `key` must not run yet: the environment before it in the promotion order (with
    work in this run) did not succeed in this run. None when it may run."""
    if not before:
        return None
    result = results.get(before)
    if result is None:
        return (
            f"not run: {before} comes first in the promotion order and did not finish in "
            "this run (its job failed, was cancelled or never ran)"
        )
    if result.get("status") != "success":
        return (
            f"not run: {before} comes first in the promotion order and ended "
            f"{result.get('status')} in this run"
        )
    return None


def parse_environments(text: str) -> list[tuple[str, str]]:
    """`D1/dev,D2/dev` -> [(D1, dev), (D2, dev)]."""
    pairs = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        deployment_id, _, environment = part.partition("/")
        if not deployment_id or not environment:
            raise ValueError(f"{part!r} is not <deploymentId>/<environment>")
        pairs.append((deployment_id, environment))
    return pairs


def parse_mapping(text: str) -> dict[str, str]:
    """`D1/stage=D1/dev,…` -> {"D1/stage": "D1/dev"}."""
    mapping = {}
    for part in (p.strip() for p in text.split(",")):
        if part:
            key, _, value = part.partition("=")
            mapping[key] = value
    return mapping
