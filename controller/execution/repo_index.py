"""One commit, or the working tree, indexed for planning: parsed only where it must be.

The files are known by blob id (hashing the working tree, or `git ls-tree`); the plan
index (`.cloud/cache/`) gives each manifest's deployment id, problems and layouts while
its content and the catalog files it used are unchanged, and each stack definition's
facts per catalog content. Only what the cache lacks is read and parsed, and a
deployment's models (for a plan that must resolve it again) are built on demand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING

from controller.adapters.local_repo import Tree
from controller.adapters.plan_cache import PlanCache
from controller.adapters.stack_sources import FactsCache, build_stack_files
from controller.core import problems as codes
from controller.core.fingerprints import Part, make_part, program_part, toolchain_part
from controller.core.paths import is_manifest
from controller.core.plan_index import (
    CatalogIndex,
    DeploymentIndex,
    catalog_key,
    catalog_paths,
    index_catalog,
    index_deployment,
    index_unreadable,
    names_digest,
)
from controller.core.problems import Problem
from controller.core.program_validation import check_programs
from controller.core.stack_files import StackFiles

if TYPE_CHECKING:
    from controller.core.catalog import Catalog, Deployment, RepoSnapshot


class RepoIndex:
    def __init__(
        self,
        tree: Tree,
        *,
        cache: PlanCache,
        facts: FactsCache,
        known: StackFiles | None = None,
    ) -> None:
        self.tree = tree
        self.cache = cache
        self.ids = tree.ids
        self.stack_files = build_stack_files(
            {p: b for p, b in tree.ids.items() if p.startswith("stacks/")},
            tree.read,
            facts,
            known=known.facts if known is not None else None,
        )
        self.names = names_digest(tree.ids)
        self._manifests: dict[str, tuple[Deployment | None, list[Problem]]] = {}
        self.catalog = self._catalog_index()
        self.deployments = self._deployment_indexes()

    # --- the index ------------------------------------------------------------------------

    def _catalog_index(self) -> CatalogIndex:
        key = catalog_key(self.ids)
        index = self.cache.catalog(key)
        if index is None:
            index = index_catalog(self.catalog_snapshot, key)
            self.cache.put_catalog(index)
        return index

    def _deployment_indexes(self) -> dict[str, DeploymentIndex]:
        manifests = sorted(p for p in self.ids if is_manifest(p))
        found: dict[str, DeploymentIndex] = {}
        for file in manifests:
            entry = self.cache.deployment(file, self.ids, self.names)
            if entry is None:
                entry = self._index(file)
                self.cache.put_deployment(entry)
            found[file] = entry
        return found

    def _index(self, file: str) -> DeploymentIndex:
        from controller.core.catalog import RepoSnapshot

        deployment, problems = self.manifest(file)
        if deployment is None:
            return index_unreadable(file, self.ids[file], problems, self.names)
        snapshot = RepoSnapshot(
            self.catalog_snapshot.catalog, {deployment.deployment_id: deployment}, problems
        )
        return index_deployment(snapshot, deployment, self.ids)

    def by_id(self) -> dict[str, DeploymentIndex]:
        """The deployments by id (the first by path where two claim one)."""
        found: dict[str, DeploymentIndex] = {}
        for entry in self.deployments.values():
            if entry.deployment_id is not None:
                found.setdefault(entry.deployment_id, entry)
        return found

    def problems(self, chosen: Iterable[DeploymentIndex]) -> list[Problem]:
        """The catalog's problems (its programs' too) and those of the chosen deployments."""
        found = [
            *self.catalog.problems,
            *check_programs(self.catalog.definitions, self.stack_files),
        ]
        first: dict[str, str] = {}
        duplicates: dict[str, Problem] = {}
        for entry in self.deployments.values():
            if entry.deployment_id is None:
                continue
            if entry.deployment_id in first:
                duplicates[entry.file] = Problem(
                    codes.DUPLICATE_DEPLOYMENT_ID,
                    f"deploymentId {entry.deployment_id} is already used by "
                    f"{first[entry.deployment_id]}",
                    file=entry.file,
                )
            first.setdefault(entry.deployment_id, entry.file)
        for entry in chosen:
            found += entry.problems
            if entry.file in duplicates:
                found.append(duplicates[entry.file])
        return found

    # --- stack parts ----------------------------------------------------------------------

    @cached_property
    def _toolchain(self) -> Part:
        return toolchain_part(self.stack_files)

    def stack_parts(self, stack: str) -> dict[str, Part]:
        """The parts every instance of `stack` shares here (as `fingerprints.stack_parts`
        computes them from the model)."""
        key = ("indexed-parts", stack)
        if key not in self.stack_files.memo:
            definition = self.catalog.definitions.get(stack)
            self.stack_files.memo[key] = {
                "definition": definition.part if definition else make_part({}),
                "program": program_part(stack, self.stack_files),
                "toolchain": self._toolchain,
            }
        return self.stack_files.memo[key]

    # --- models, on demand ----------------------------------------------------------------

    def _texts(self, paths: Iterable[str]) -> dict[str, str]:
        wanted = {path: self.ids[path] for path in paths}
        return {
            path: data.decode("utf-8", errors="replace")
            for path, data in self.tree.read(wanted).items()
        }

    @cached_property
    def catalog_snapshot(self) -> RepoSnapshot:
        """The catalog's files parsed (stack definitions and templates)."""
        from controller.core.catalog import load_snapshot

        return load_snapshot(self._texts(catalog_paths(self.ids)))

    @property
    def catalog_models(self) -> Catalog:
        return self.catalog_snapshot.catalog

    def manifest(self, file: str) -> tuple[Deployment | None, list[Problem]]:
        """A manifest parsed alone (None when it does not load), with its load problems."""
        if file not in self._manifests:
            from controller.core.catalog import load_snapshot

            snapshot = load_snapshot(self._texts([file]))
            deployment = next(iter(snapshot.deployments.values()), None)
            self._manifests[file] = (deployment, list(snapshot.problems))
        return self._manifests[file]


def changed_stacks(head: RepoIndex, base: RepoIndex, stacks: Iterable[str]) -> dict[str, bool]:
    """Which stacks' shared parts differ between two commits."""
    return {
        stack: any(
            head.stack_parts(stack)[part].digest != base.stack_parts(stack)[part].digest
            for part in ("definition", "program", "toolchain")
        )
        for stack in stacks
    }


def stack_components(index: RepoIndex, stack: str) -> tuple[Mapping, Mapping]:
    """A stack's shared parts as fingerprint components and values."""
    parts = index.stack_parts(stack)
    return (
        {name: part.values for name, part in parts.items()},
        {name: part.shown for name, part in parts.items() if part.shown},
    )
