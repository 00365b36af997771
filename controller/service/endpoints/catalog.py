"""The stack catalog and the templates: list, show, register, update, remove.

A stack type is `stacks/<name>/stack.yaml` and a template `stacks/templates/<name>.yaml`,
so each change is a write of one file, validated with every deployment that could be
affected before it is committed. Removing a stack type or a template that something
still uses is a conflict (409) naming the users, rather than a validation failure.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel

from controller.core.catalog import Catalog, stack_file, template_file
from controller.core.models import StackDefinition, Strict, Template
from controller.service.catalog_state import CatalogState
from controller.service.endpoints.deployments import write, written_status
from controller.service.endpoints.payloads import (
    StackCreateRequest,
    StackListQuery,
    StackUpdateRequest,
    TemplateUpdateRequest,
)
from controller.service.endpoints.replies import (
    StackDetail,
    StackList,
    StackRegistered,
    StackUnregistered,
    StackUpdated,
    TemplateCreated,
    TemplateDeleted,
    TemplateDetail,
    TemplateList,
    TemplateUpdated,
)
from controller.service.endpoints.views import (
    BUILT_IN_TEMPLATES,
    catalog_layers,
    change_of,
    definition_changes,
    stack_detail,
    stack_summaries,
    template_changes,
    template_detail,
    template_kind,
    template_summaries,
)
from controller.service.http.access import API, STACK, TEMPLATE
from controller.service.http.errors import (
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_CONFLICT,
    ApiError,
    not_found,
    problems_error,
)
from controller.service.http.routing import Call, Endpoint, Reply, validate_document


def render_document(model: Strict, *, kind: str) -> str:
    header = f"# {kind} {getattr(model, 'name', '')}: written through the cloud API.\n"
    return header + yaml.safe_dump(
        model.to_file_dict(), sort_keys=False, default_flow_style=False, width=100
    )


def merged(current: Strict, update: BaseModel) -> dict[str, Any]:
    """The current file data with the fields an update sent (null removes a field)."""
    data = current.to_file_dict()
    for name in update.model_fields_set - {"layer"}:
        alias = type(update).model_fields[name].alias or name
        value = getattr(update, name)
        if value is None:
            data.pop(alias, None)
        else:
            data[alias] = _plain(value)
    return data


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def parse_document(data: dict[str, Any], model: type[Strict], *, file: str) -> Any:
    parsed, problems = validate_document(data, model, file=file)
    if parsed is None:
        raise problems_error(problems, status=400)
    return parsed


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


# --- stacks ---------------------------------------------------------------------------------


async def list_stacks(call: Call) -> Reply:
    query: StackListQuery = call.query
    state = await call.services.repo.fresh()
    catalog = state.snapshot.catalog
    if query.template is not None and query.template not in catalog.templates:
        raise not_found("template", query.template)
    rows = state.remember(
        ("stacks", query.template), lambda: stack_summaries(catalog, template=query.template)
    )
    rows = [
        row
        for row in rows
        if (query.category is None or row.category == query.category)
        and (query.layer is None or row.layer == query.layer)
    ]
    return Reply(StackList(stacks=rows, total=len(rows)))


async def get_stack(call: Call) -> Reply:
    state = await call.services.repo.fresh()
    name = call.params["stack_name"]
    if name not in state.snapshot.catalog.stacks:
        raise not_found("stack", name)
    detail: StackDetail = stack_detail(state.snapshot.catalog, name)
    return Reply(detail)


async def register_stack(call: Call) -> Reply:
    body: StackCreateRequest = call.body
    definition = StackDefinition.model_validate(
        body.model_dump(by_alias=True, exclude={"layer"}, exclude_unset=True)
    )
    path = stack_file(definition.name)

    def absent(current: CatalogState) -> None:
        if definition.name in current.snapshot.catalog.stacks or path in current.files.files:
            raise ApiError(
                409, RESOURCE_ALREADY_EXISTS, f"stack {definition.name!r} is already registered"
            )

    absent(await call.services.repo.fresh())
    result = await write(
        call,
        {path: render_document(definition, kind="Stack")},
        message=f"Register stack {definition.name}",
        deployments=[],
        check=absent,
    )
    warnings = [f"add the Pulumi program beside {path} (the API registers the definition only)"]
    layer = catalog_layers(result.future.catalog).get(definition.name)
    if body.layer is not None and body.layer != layer:
        warnings.append(f"layer is computed from the dependencies: {layer}, not {body.layer}")
    return Reply(
        StackRegistered(
            name=definition.name,
            display_name=definition.display_name,
            registered_at=call.services.now(),
            registered_by=call.user.username,
            path=path,
            warnings=warnings,
            change=change_of(result.outcome),
        ),
        status=written_status(result, 201),
    )


async def update_stack(call: Call) -> Reply:
    body: StackUpdateRequest = call.body
    state = await call.services.repo.fresh()
    name = call.params["stack_name"]
    current = state.snapshot.catalog.stacks.get(name)
    if current is None:
        raise not_found("stack", name)
    path = stack_file(name)
    updated = parse_document(merged(current, body), StackDefinition, file=path)
    changes = definition_changes(current, updated)
    warnings = []
    if body.layer is not None:
        warnings.append("layer is computed from the dependencies; the value sent was ignored")
    change, status = None, 200
    if changes:
        result = await write(
            call,
            {path: render_document(updated, kind="Stack")},
            message=f"Update stack {name}\n\n" + "\n".join(changes),
            deployments=None,
        )
        change, status = change_of(result.outcome), written_status(result, 200)
    return Reply(
        StackUpdated(
            name=name,
            updated_at=call.services.now(),
            updated_by=call.user.username,
            changes=changes,
            warnings=warnings,
            change=change,
        ),
        status=status,
    )


async def unregister_stack(call: Call) -> Reply:
    state = await call.services.repo.fresh()
    name = call.params["stack_name"]
    catalog = state.snapshot.catalog
    if name not in catalog.stacks:
        raise not_found("stack", name)

    def unused(current: CatalogState) -> None:
        users = users_of_stack(current.snapshot.catalog, current, name)
        if users:
            raise ApiError(
                409,
                RESOURCE_CONFLICT,
                f"stack {name!r} is still used: "
                + "; ".join(f"{kind}: {', '.join(names)}" for kind, names in users.items()),
                details={"usedBy": users},
                suggestion="Remove it from those templates, stacks and deployments first",
            )

    unused(state)
    result = await write(
        call,
        {stack_file(name): None},
        message=f"Unregister stack {name}",
        deployments=None,
        check=unused,
    )
    return Reply(
        StackUnregistered(
            name=name,
            unregistered_at=call.services.now(),
            unregistered_by=call.user.username,
            change=change_of(result.outcome),
        ),
        status=written_status(result, 200),
        message="Stack unregistered successfully",
    )


# --- templates ------------------------------------------------------------------------------


async def list_templates(call: Call) -> Reply:
    state = await call.services.repo.fresh()
    rows = state.remember("templates", lambda: template_summaries(state.snapshot.catalog))
    return Reply(TemplateList(templates=rows, total=len(rows)))


async def get_template(call: Call) -> Reply:
    state = await call.services.repo.fresh()
    name = call.params["template_name"]
    if name not in state.snapshot.catalog.templates:
        raise not_found("template", name)
    detail: TemplateDetail = template_detail(state.snapshot.catalog, name)
    return Reply(detail)


async def create_template(call: Call) -> Reply:
    template: Template = call.body
    path = template_file(template.name)

    def absent(current: CatalogState) -> None:
        if template.name in current.snapshot.catalog.templates or path in current.files.files:
            raise ApiError(
                409, RESOURCE_ALREADY_EXISTS, f"template {template.name!r} already exists"
            )

    absent(await call.services.repo.fresh())
    result = await write(
        call,
        {path: render_document(template, kind="Template")},
        message=f"Create template {template.name}",
        deployments=[],
        check=absent,
    )
    return Reply(
        TemplateCreated(
            name=template.name,
            display_name=template.display_name,
            type=template_kind(template.name),  # type: ignore[arg-type]
            version=template.version,
            created_at=call.services.now(),
            created_by=call.user.username,
            path=path,
            change=change_of(result.outcome),
        ),
        status=written_status(result, 201),
    )


async def update_template(call: Call) -> Reply:
    body: TemplateUpdateRequest = call.body
    state = await call.services.repo.fresh()
    name = call.params["template_name"]
    current = state.snapshot.catalog.templates.get(name)
    if current is None:
        raise not_found("template", name)
    path = template_file(name)
    updated = parse_document(merged(current, body), Template, file=path)
    changes = template_changes(current, updated, state.snapshot.catalog)
    change, status = None, 200
    if changes:
        result = await write(
            call,
            {path: render_document(updated, kind="Template")},
            message=f"Update template {name}\n\n" + "\n".join(changes),
            deployments=None,
        )
        change, status = change_of(result.outcome), written_status(result, 200)
    return Reply(
        TemplateUpdated(
            name=name,
            version=updated.version,
            updated_at=call.services.now(),
            updated_by=call.user.username,
            changes=changes,
            change=change,
        ),
        status=status,
    )


async def delete_template(call: Call) -> Reply:
    state = await call.services.repo.fresh()
    name = call.params["template_name"]
    if name not in state.snapshot.catalog.templates:
        raise not_found("template", name)
    if name in BUILT_IN_TEMPLATES:
        raise ApiError(
            409, RESOURCE_CONFLICT, f"template {name!r} is built in; it cannot be deleted"
        )

    def unused(current: CatalogState) -> None:
        users = sorted(
            d.deployment_id
            for d in current.snapshot.deployments.values()
            if d.manifest.template == name
        )
        if users:
            raise ApiError(
                409,
                RESOURCE_CONFLICT,
                f"template {name!r} is used by deployment(s) {', '.join(users)}",
                details={"usedBy": {"deployments": users}},
            )

    unused(state)
    result = await write(
        call,
        {template_file(name): None},
        message=f"Delete template {name}",
        deployments=None,
        check=unused,
    )
    return Reply(
        TemplateDeleted(
            name=name,
            deleted_at=call.services.now(),
            deleted_by=call.user.username,
            change=change_of(result.outcome),
        ),
        status=written_status(result, 200),
        message="Template deleted successfully",
    )


_WRITE_ERRORS = (409, 422, 502)

ENDPOINTS = [
    Endpoint("GET", f"{API}/stacks", list_stacks, "List the stack catalog", "Stacks",
             reply=StackList, query=StackListQuery, errors=(404,)),
    Endpoint("POST", f"{API}/stacks", register_stack, "Register a stack type", "Stacks",
             reply=StackRegistered, status=201, body=StackCreateRequest, errors=_WRITE_ERRORS),
    Endpoint("GET", STACK, get_stack, "Show a stack type (with its dependents)", "Stacks",
             reply=StackDetail, errors=(404,)),
    Endpoint("PUT", STACK, update_stack, "Update a stack definition", "Stacks",
             reply=StackUpdated, body=StackUpdateRequest, errors=(404, *_WRITE_ERRORS)),
    Endpoint("DELETE", STACK, unregister_stack, "Unregister a stack type", "Stacks",
             reply=StackUnregistered, errors=(404, *_WRITE_ERRORS)),
    Endpoint("GET", f"{API}/templates", list_templates, "List templates", "Templates",
             reply=TemplateList),
    Endpoint("POST", f"{API}/templates", create_template, "Create a template", "Templates",
             reply=TemplateCreated, status=201, body=Template, errors=_WRITE_ERRORS),
    Endpoint("GET", TEMPLATE, get_template, "Show a template (stacks, layers, defaults)",
             "Templates", reply=TemplateDetail, errors=(404,)),
    Endpoint("PUT", TEMPLATE, update_template, "Update a template", "Templates",
             reply=TemplateUpdated, body=TemplateUpdateRequest, errors=(404, *_WRITE_ERRORS)),
    Endpoint("DELETE", TEMPLATE, delete_template, "Delete a custom template", "Templates",
             reply=TemplateDeleted, errors=(404, *_WRITE_ERRORS)),
]  # fmt: skip
