"""The stack catalog and the templates: register, update, unregister, create, delete.

A stack type is `stacks/<name>/stack.yaml` and a template `stacks/templates/<name>.yaml`,
so each edit is a write of one file, validated with every deployment that could be
affected before it is committed. Removing a stack type or a template that something
still uses is a conflict naming the users, never a validation failure; a stack type that
is still deployed somewhere is refused too unless forced (its state would be orphaned).
The results are the API's reply data, so `POST /stacks` and `cloud register-stack` answer
alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import yaml

from controller.adapters.catalog_sources import WriteOutcome
from controller.adapters.inventory import Inventory
from controller.adapters.local_git import Author
from controller.core.catalog import Catalog, Deployment, stack_file, template_file
from controller.core.catalog_views import BUILT_IN_TEMPLATES, template_kind
from controller.core.documents import validate_data
from controller.core.graph import layer_index, layers, template_graph
from controller.core.models import StackDefinition, Strict, Template
from controller.edits.catalog_state import CatalogState, RepoState, WriteResult
from controller.edits.changes import change_data, definition_changes, template_changes
from controller.edits.errors import DocumentInvalid, EditError, not_found


@dataclass(frozen=True)
class Edit:
    """What an edit did: the file, the write (None when nothing changed), change lines."""

    name: str
    path: str
    result: WriteResult | None
    document: Any = None
    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> WriteOutcome | None:
        return self.result.outcome if self.result is not None else None

    @property
    def proposed(self) -> bool:
        """Only proposed (a pull request), not in the repo yet: the API answers 202."""
        return self.outcome is not None and self.outcome.mode == "pull-request"

    @property
    def files(self) -> list[str]:
        return [self.path] if self.result is not None else []


def render_document(model: Strict, *, kind: str) -> str:
    header = f"# {kind} {getattr(model, 'name', '')}: written through the cloud API.\n"
    return header + yaml.safe_dump(
        model.to_file_dict(), sort_keys=False, default_flow_style=False, width=100
    )


def merged(current: Strict, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The current file data with the fields an update sent, by their file names (a None
    value removes the field)."""
    data = current.to_file_dict()
    for name, value in fields.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def parse_document(data: dict[str, Any], model: type[Strict], *, file: str) -> Any:
    parsed, problems = validate_data(data, model, file=file)
    if parsed is None:
        raise DocumentInvalid(problems)
    return parsed


def catalog_layer(catalog: Catalog, name: str) -> int | None:
    """The layer a stack type has among all stack types (None in a cycle)."""
    graph = template_graph(catalog, sorted(catalog.stacks), {})
    if not nx.is_directed_acyclic_graph(graph):
        return None
    return layer_index(layers(graph)).get(name)


def users_of_stack(catalog: Catalog, state: CatalogState, name: str) -> dict[str, list[str]]:
    used = {
        "templates": sorted(t for t, tmpl in catalog.templates.items() if name in tmpl.stacks),
        "stacks": sorted(s for s, d in catalog.stacks.items() if name in d.dependencies),
        "deployments": sorted(
            d.deployment_id
            for d in state.snapshot.deployments.values()
            if name in d.manifest.stacks
        ),
    }
    return {kind: names for kind, names in used.items() if names}


def deployed_instances(
    inventory: Inventory, deployments: Iterable[Deployment], stack: str
) -> list[str]:
    """`<deploymentId>/<environment>` where `stack` holds state (InventoryUnavailableError
    when the backend cannot be asked)."""
    found = []
    for deployment in deployments:
        active = inventory.active_stacks(
            deployment.deployment_id, list(deployment.manifest.environments)
        )
        found += [
            f"{deployment.deployment_id}/{env}" for env, names in active.items() if stack in names
        ]
    return sorted(found)


def _unchanged(kind: str, name: str, read: Callable[[CatalogState], Any], before: Any) -> Any:
    def check(state: CatalogState) -> None:
        if read(state) != before:
            raise EditError("conflict", f"{kind} {name!r} changed meanwhile; read it and retry")

    return check


# --- stacks ---------------------------------------------------------------------------------


def register_stack(
    repo: RepoState, definition: StackDefinition, *, author: Author, layer: int | None = None
) -> Edit:
    result = _create(repo, "stack", definition, verb="Register", author=author)
    path = stack_file(definition.name)
    warnings = [f"add the Pulumi program beside {path} (the API registers the definition only)"]
    computed = catalog_layer(result.future.catalog, definition.name)
    if layer is not None and layer != computed:
        warnings.append(f"layer is computed from the dependencies: {computed}, not {layer}")
    return Edit(definition.name, path, result, definition, warnings=warnings)


def update_stack(
    repo: RepoState,
    name: str,
    fields: Mapping[str, Any],
    *,
    author: Author,
    layer_sent: bool = False,
) -> Edit:
    edit = _update(repo, "stack", name, fields, author=author)
    if layer_sent:
        edit.warnings.append("layer is computed from the dependencies; the value sent was ignored")
    return edit


_KINDS: dict[str, tuple[type[Strict], Callable[[str], str], str]] = {
    "stack": (StackDefinition, stack_file, "Stack"),
    "template": (Template, template_file, "Template"),
}


def _current(state: CatalogState, kind: str, name: str) -> Any:
    catalog = state.snapshot.catalog
    return (catalog.stacks if kind == "stack" else catalog.templates).get(name)


def _create(repo: RepoState, kind: str, model: Any, *, verb: str, author: Author) -> WriteResult:
    """Write a new stack definition or template; `exists` if it (or its file) is there."""
    _, file_of, title = _KINDS[kind]
    path = file_of(model.name)

    def absent(current: CatalogState) -> None:
        if _current(current, kind, model.name) is not None or path in current.files.files:
            raise EditError("exists", f"{kind} {model.name!r} already exists")

    return repo.write(
        {path: render_document(model, kind=title)},
        message=f"{verb} {kind} {model.name}",
        author=author,
        deployments=[],
        check=absent,
    )


def _update(
    repo: RepoState, kind: str, name: str, fields: Mapping[str, Any], *, author: Author
) -> Edit:
    """Change some fields of a stack definition or a template (nothing written when the
    result is the same); refused if it changed meanwhile."""
    model, file_of, title = _KINDS[kind]
    state = repo.current()
    current = _current(state, kind, name)
    if current is None:
        raise not_found(kind, name)
    path = file_of(name)
    updated = parse_document(merged(current, fields), model, file=path)
    if kind == "stack":
        changes = definition_changes(current, updated)
    else:
        changes = template_changes(current, updated, state.snapshot.catalog)
    result = None
    if changes:
        result = repo.write(
            {path: render_document(updated, kind=title)},
            message=f"Update {kind} {name}\n\n" + "\n".join(changes),
            author=author,
            deployments=None,
            check=_unchanged(kind, name, lambda s: _current(s, kind, name), current),
        )
    return Edit(name, path, result, updated, changes)


def unregister_stack(
    repo: RepoState,
    name: str,
    *,
    author: Author,
    force: bool = False,
    inventory: Inventory | None = None,
) -> Edit:
    """Remove a stack type. Refused while a template, a stack or a manifest uses it (that
    would break them), and while it is deployed somewhere unless `force`."""
    state = repo.current()
    if name not in state.snapshot.catalog.stacks:
        raise not_found("stack", name)

    def unused(current: CatalogState) -> None:
        users = users_of_stack(current.snapshot.catalog, current, name)
        if users:
            raise EditError(
                "conflict",
                f"stack {name!r} is still used: "
                + "; ".join(f"{kind}: {', '.join(names)}" for kind, names in users.items()),
                details={"usedBy": users},
                suggestion="Remove it from those templates, stacks and deployments first",
            )

    unused(state)
    if not force and inventory is not None:
        where = deployed_instances(inventory, state.snapshot.deployments.values(), name)
        if where:
            raise EditError(
                "conflict",
                f"stack {name!r} is still deployed in {', '.join(where)}",
                details={"deployedIn": where},
                suggestion="Destroy it there first, or unregister with force to leave its "
                "state behind",
            )
    path = stack_file(name)
    result = repo.write(
        {path: None},
        message=f"Unregister stack {name}" + (" (forced)" if force else ""),
        author=author,
        deployments=None,
        check=unused,
    )
    return Edit(name, path, result)


def stack_registered(edit: Edit, *, at: str, by: str) -> dict[str, Any]:
    return {
        "name": edit.name,
        "displayName": edit.document.display_name,
        "registeredAt": at,
        "registeredBy": by,
        "status": "active",
        "path": edit.path,
        "warnings": edit.warnings,
        "change": change_data(edit.outcome),
    }


def stack_updated(edit: Edit, *, at: str, by: str) -> dict[str, Any]:
    return {
        "name": edit.name,
        "updatedAt": at,
        "updatedBy": by,
        "changes": edit.changes,
        "warnings": edit.warnings,
        "change": change_data(edit.outcome),
    }


def stack_unregistered(edit: Edit, *, at: str, by: str) -> dict[str, Any]:
    return {
        "name": edit.name,
        "unregisteredAt": at,
        "unregisteredBy": by,
        "change": change_data(edit.outcome),
    }


# --- templates ------------------------------------------------------------------------------


def create_template(repo: RepoState, template: Template, *, author: Author) -> Edit:
    result = _create(repo, "template", template, verb="Create", author=author)
    return Edit(template.name, template_file(template.name), result, template)


def update_template(
    repo: RepoState, name: str, fields: Mapping[str, Any], *, author: Author
) -> Edit:
    return _update(repo, "template", name, fields, author=author)


def delete_template(repo: RepoState, name: str, *, author: Author) -> Edit:
    if name not in repo.current().snapshot.catalog.templates:
        raise not_found("template", name)
    if name in BUILT_IN_TEMPLATES:
        raise EditError("conflict", f"template {name!r} is built in; it cannot be deleted")

    def unused(current: CatalogState) -> None:
        users = sorted(
            d.deployment_id
            for d in current.snapshot.deployments.values()
            if d.manifest.template == name
        )
        if users:
            raise EditError(
                "conflict",
                f"template {name!r} is used by deployment(s) {', '.join(users)}",
                details={"usedBy": {"deployments": users}},
            )

    path = template_file(name)
    result = repo.write(
        {path: None},
        message=f"Delete template {name}",
        author=author,
        deployments=None,
        check=unused,
    )
    return Edit(name, path, result)


def template_created(edit: Edit, *, at: str, by: str) -> dict[str, Any]:
    return {
        "name": edit.name,
        "displayName": edit.document.display_name,
        "type": template_kind(edit.name),
        "version": edit.document.version,
        "createdAt": at,
        "createdBy": by,
        "status": "active",
        "path": edit.path,
        "change": change_data(edit.outcome),
    }


def template_updated(edit: Edit, *, at: str, by: str) -> dict[str, Any]:
    return {
        "name": edit.name,
        "version": edit.document.version,
        "updatedAt": at,
        "updatedBy": by,
        "changes": edit.changes,
        "change": change_data(edit.outcome),
    }


def template_deleted(edit: Edit, *, at: str, by: str) -> dict[str, Any]:
    return {
        "name": edit.name,
        "deletedAt": at,
        "deletedBy": by,
        "change": change_data(edit.outcome),
    }
