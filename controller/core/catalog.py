"""A repo snapshot: the stack catalog, the templates and the deployments, as models.

The repo adapters (a local checkout, GitHub's contents API) only read files; this module
turns `{path: text}` into models, keeping each file's source for line lookups. It knows
where things live: `stacks/<name>/stack.yaml`, `stacks/templates/<name>.yaml`,
`deployments/<deploymentId>-<organization>-<project>/manifest.yaml`.
A purely computational module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from controller.core import problems as codes
from controller.core.documents import Loaded, load_document
from controller.core.models import Manifest, StackDefinition, Template
from controller.core.paths import (
    DEPLOYMENTS_DIR,
    MANIFEST_FILE,
    STACK_FILE,
    STACKS_DIR,
    TEMPLATES_DIR,
    classify,
    is_catalog_path,
    manifest_file,
    stack_file,
    template_file,
)
from controller.core.problems import Problem

__all__ = [  # the paths are re-exported: callers knew them from here
    "DEPLOYMENTS_DIR",
    "MANIFEST_FILE",
    "STACKS_DIR",
    "STACK_FILE",
    "TEMPLATES_DIR",
    "Catalog",
    "Deployment",
    "RepoSnapshot",
    "classify",
    "is_catalog_path",
    "load_snapshot",
    "manifest_file",
    "stack_file",
    "template_file",
    "with_files",
]


@dataclass(frozen=True)
class Catalog:
    """Stack definitions and templates by name (the folder or file name)."""

    stacks: dict[str, StackDefinition] = field(default_factory=dict)
    templates: dict[str, Template] = field(default_factory=dict)
    sources: dict[str, Loaded] = field(default_factory=dict)
    # Memo of what every deployment derives alike from the catalog (defaults, placeholders
    # in template values): pure functions of these models, computed once per snapshot.
    memo: dict[object, object] = field(default_factory=dict, compare=False, repr=False)

    def stack_source(self, name: str) -> Loaded | None:
        return self.sources.get(stack_file(name))

    def template_source(self, name: str) -> Loaded | None:
        return self.sources.get(template_file(name))


@dataclass(frozen=True)
class Deployment:
    """One deployment directory and its manifest."""

    directory: str
    manifest: Manifest
    loaded: Loaded
    # Memo of resolved environment views (see environments.environment_view): validation,
    # planning and execution all need them, and they are pure functions of this object.
    views: dict[str, tuple[object, object]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def file(self) -> str:
        return self.loaded.file

    @property
    def deployment_id(self) -> str:
        return self.manifest.deployment_id

    def line_of(self, *path: str | int) -> int | None:
        return self.loaded.line_of(*path)


@dataclass(frozen=True)
class RepoSnapshot:
    catalog: Catalog
    deployments: dict[str, Deployment]
    problems: list[Problem]

    def find_deployment(self, reference: str) -> Deployment | None:
        """A deployment by id, directory name or directory path."""
        name = PurePosixPath(reference.rstrip("/")).name
        if reference in self.deployments:
            return self.deployments[reference]
        for deployment in self.deployments.values():
            if PurePosixPath(deployment.directory).name == name:
                return deployment
            if name == deployment.deployment_id:
                return deployment
        return None


def load_snapshot(files: Mapping[str, str]) -> RepoSnapshot:
    """Build the snapshot from `{repo-relative path: text}`; other paths are ignored."""
    stacks: dict[str, StackDefinition] = {}
    templates: dict[str, Template] = {}
    sources: dict[str, Loaded] = {}
    deployments: dict[str, Deployment] = {}
    found: list[Problem] = []
    for path in sorted(files):
        kind_name = classify(path)
        if kind_name is None:
            continue
        kind, name = kind_name
        loaded = load_document(files[path], file=path, kind=kind)
        found.extend(loaded.problems)
        if loaded.model is None:
            continue
        if kind == "stack":
            sources[path] = loaded
            stacks[name] = loaded.model
        elif kind == "template":
            sources[path] = loaded
            templates[name] = loaded.model
        else:
            found.extend(
                _add_deployment(
                    deployments,
                    Deployment(
                        directory=str(PurePosixPath(path).parent),
                        manifest=loaded.model,
                        loaded=loaded,
                    ),
                )
            )
    return RepoSnapshot(Catalog(stacks, templates, sources), deployments, found)


def _add_deployment(deployments: dict[str, Deployment], deployment: Deployment) -> list[Problem]:
    existing = deployments.get(deployment.deployment_id)
    if existing is None:
        deployments[deployment.deployment_id] = deployment
        return []
    return [
        Problem(
            codes.DUPLICATE_DEPLOYMENT_ID,
            f"deploymentId {deployment.deployment_id} is already used by {existing.file}",
            file=deployment.file,
            line=deployment.line_of("deploymentId"),
        )
    ]


def with_files(files: Mapping[str, str], changes: Mapping[str, str | None]) -> dict[str, str]:
    """A copy of `files` with some written (text) or deleted (None): what a write would do."""
    updated = dict(files)
    for path, text in changes.items():
        if text is None:
            updated.pop(path, None)
        else:
            updated[path] = text
    return updated
