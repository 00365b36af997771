"""The plan index: what planning needs of each catalog file and manifest, without the models.

Parsing and validating 500 manifests costs seconds; a pull request usually changes one
file. So the result of reading a manifest (its deployment id, its validation problems,
the layout of each enabled environment) is kept per manifest content, together with the
blob ids of every catalog file it was resolved against (`depends`): while those are the
same, so is the result, and a plan reuses it without parsing. Likewise what a stack
definition gives a fingerprint (`DefinitionFacts`) and the catalog's own problems, per
catalog content. Everything here is plain data that round-trips through JSON (adapters
keep it under `.cloud/cache/`); the builders from models sit at the bottom.
A purely computational module.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from controller.core.blobs import (
    INDEX_VERSION,
    NAMES,
    catalog_key,
    catalog_paths,
    depends_fit,
    names_digest,
)
from controller.core.fingerprints import Part, definition_part
from controller.core.paths import stack_file
from controller.core.planning import Layout, layout_of
from controller.core.problems import Problem

if TYPE_CHECKING:
    from controller.core.catalog import Catalog, Deployment, RepoSnapshot

__all__ = [  # the keys are re-exported from blobs
    "INDEX_VERSION",
    "NAMES",
    "CatalogIndex",
    "DefinitionFacts",
    "DeploymentIndex",
    "Shared",
    "catalog_key",
    "catalog_paths",
    "names_digest",
]


@dataclass(frozen=True)
class DefinitionFacts:
    """What fingerprints and program checks need of a stack definition."""

    stack: str
    part: Part
    reads: tuple[str, ...] = ()
    reads_lines: tuple[int | None, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "values": dict(self.part.values),
            "digest": self.part.digest,
            "shown": dict(self.part.shown),
            "reads": list(self.reads),
            "readsLines": list(self.reads_lines),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DefinitionFacts:
        part = Part(dict(data["values"]), data["digest"], dict(data.get("shown", {})))
        return cls(data["stack"], part, tuple(data["reads"]), tuple(data["readsLines"]))


@dataclass(frozen=True)
class CatalogIndex:
    """A catalog's content, reduced: its problems and each stack's definition facts."""

    key: str
    problems: tuple[Problem, ...]
    definitions: Mapping[str, DefinitionFacts]

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "problems": [p.to_dict() for p in self.problems],
            "definitions": {name: d.to_dict() for name, d in self.definitions.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CatalogIndex:
        return cls(
            data["key"],
            tuple(Problem(**p) for p in data["problems"]),
            {name: DefinitionFacts.from_dict(d) for name, d in data["definitions"].items()},
        )


@dataclass(frozen=True)
class DeploymentIndex:
    """One manifest as planning needs it; valid while `depends` matches the repo."""

    file: str
    blob: str
    depends: Mapping[str, str]
    deployment_id: str | None
    problems: tuple[Problem, ...]
    environments: Mapping[str, bool] = field(default_factory=dict)  # name -> enabled
    layouts: Mapping[str, Layout] = field(default_factory=dict)  # enabled ones only

    @property
    def directory(self) -> str:
        return self.file.rsplit("/", 1)[0]

    def fits(self, ids: Mapping[str, str], names: str) -> bool:
        """Whether it still describes this repo (same manifest, same catalog files)."""
        return ids.get(self.file) == self.blob and depends_fit(self.depends, ids, names)

    def same_as(self, other: DeploymentIndex) -> bool:
        """Whether two commits resolve this deployment identically."""
        return self.blob == other.blob and dict(self.depends) == dict(other.depends)

    def to_dict(self, shared: Shared) -> dict[str, Any]:
        layouts = {
            environment: shared.put(
                [
                    layout.layers,
                    {name: list(deps) for name, deps in layout.dependencies.items()},
                    dict(layout.durations),
                    list(layout.declared),
                ]
            )
            for environment, layout in self.layouts.items()
        }
        return {
            "file": self.file,
            "blob": self.blob,
            "depends": shared.put(dict(self.depends)),
            "id": self.deployment_id,
            "problems": [p.to_dict() for p in self.problems],
            "environments": dict(self.environments),
            "layouts": layouts,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], shared: Shared) -> DeploymentIndex:
        """From `to_dict`'s form; what `shared` holds is decoded once for all entries."""
        layouts = {}
        for environment, number in data["layouts"].items():
            layers, upstream, durations, declared = shared.get(number, _decode_layout)
            layouts[environment] = Layout(
                data["id"], environment, layers, upstream, durations, declared
            )
        return cls(
            data["file"],
            data["blob"],
            shared.get(data["depends"], dict),
            data["id"],
            tuple(Problem(**p) for p in data["problems"]),
            data["environments"],
            layouts,
        )


def _decode_layout(value: list[Any]) -> tuple[Any, ...]:
    layers, dependencies, durations, declared = value
    upstream = {name: tuple(deps) for name, deps in dependencies.items()}
    return layers, upstream, durations, tuple(declared)


class Shared:
    """Values many index entries repeat (the layout of a template's environment, the
    catalog files a template's deployments read), stored once and decoded once."""

    def __init__(self, items: list[Any] | None = None) -> None:
        self.items = list(items or [])
        self._numbers: dict[str, int] = {}
        self._decoded: dict[int, Any] = {}

    def put(self, value: Any) -> int:
        key = json.dumps(value, sort_keys=True)
        if key not in self._numbers:
            self._numbers[key] = len(self.items)
            self.items.append(value)
        return self._numbers[key]

    def get(self, number: int, decode: Any) -> Any:
        if number not in self._decoded:
            self._decoded[number] = decode(self.items[number])
        return self._decoded[number]


# --- building from the models -------------------------------------------------------------


def definition_facts(catalog: Catalog, stack: str) -> DefinitionFacts:
    definition = catalog.stacks[stack]
    source = catalog.stack_source(stack)
    lines = tuple(
        source.line_of("reads", index) if source else None for index in range(len(definition.reads))
    )
    return DefinitionFacts(stack, definition_part(definition), tuple(definition.reads), lines)


def index_catalog(snapshot: RepoSnapshot, key: str) -> CatalogIndex:
    """The index of a snapshot's catalog (its files' load problems and its own checks)."""
    from controller.core.catalog_validation import validate_catalog

    loaded = [p for p in snapshot.problems if p.file and p.file.startswith("stacks/")]
    return CatalogIndex(
        key,
        tuple(loaded + validate_catalog(snapshot.catalog)),
        {name: definition_facts(snapshot.catalog, name) for name in snapshot.catalog.stacks},
    )


def index_deployment(
    snapshot: RepoSnapshot,
    deployment: Deployment,
    ids: Mapping[str, str],
) -> DeploymentIndex:
    """The index of one deployment of a snapshot; `ids` are the repo's blob ids."""
    from controller.core.environments import environment_view
    from controller.core.validation import validate_deployment

    catalog = snapshot.catalog
    problems = [p for p in snapshot.problems if p.file == deployment.file]
    problems += validate_deployment(deployment, catalog)
    environments = {name: env.enabled for name, env in deployment.manifest.environments.items()}
    layouts: dict[str, Layout] = {}
    if any(p.severity == "error" for p in problems):
        read = catalog_paths(ids)  # an invalid one may become valid by any catalog change
    else:
        stacks: set[str] = set()
        for name, enabled in environments.items():
            view = environment_view(deployment, catalog, name)
            stacks |= set(view.declared_stacks) | {edge.upstream for edge in view.edges}
            if enabled:
                layouts[name] = layout_of(view)
        read = [f"stacks/templates/{deployment.manifest.template}.yaml"]
        read += [stack_file(stack) for stack in stacks]
    depends = {path: ids.get(path, "") for path in read}
    depends[NAMES] = names_digest(ids)
    return DeploymentIndex(
        deployment.file,
        ids.get(deployment.file, ""),
        dict(sorted(depends.items())),
        deployment.deployment_id,
        tuple(problems),
        environments,
        layouts,
    )


def index_unreadable(
    file: str, blob: str, problems: Iterable[Problem], names: str
) -> DeploymentIndex:
    """The index of a manifest that does not load (only its problems)."""
    return DeploymentIndex(file, blob, {NAMES: names}, None, tuple(problems))
