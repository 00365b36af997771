"""The stack catalog and the templates: list, show, register, update, remove.

A stack type is `stacks/<name>/stack.yaml` and a template `stacks/templates/<name>.yaml`,
so each change is a write of one file; the rules are `controller.edits.catalog`'s (the CLI
makes the same edits), and these endpoints translate requests into them and their results
into replies. Removing a stack type or a template that something still uses is a conflict
(409) naming the users, rather than a validation failure.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from controller.core.models import StackDefinition, Template
from controller.edits import catalog as edits
from controller.edits.catalog import Edit
from controller.edits.catalog_state import WriteRefused
from controller.service.endpoints.deployments import audit_edit
from controller.service.endpoints.payloads import (
    StackCreateRequest,
    StackListQuery,
    StackUnregisterQuery,
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
    stack_detail,
    stack_summaries,
    template_detail,
    template_summaries,
)
from controller.service.http.access import API, STACK, TEMPLATE
from controller.service.http.errors import (
    VALIDATION_INVALID_FORMAT,
    VALIDATION_INVALID_TEMPLATE,
    ApiError,
    not_found,
    problems_error,
)
from controller.service.http.routing import Call, Endpoint, Reply


def sent_fields(update: BaseModel, *, ignore: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The fields an update request sent, by their names in the file (null: remove)."""
    fields: dict[str, Any] = {}
    for name in update.model_fields_set - ignore:
        alias = type(update).model_fields[name].alias or name
        fields[alias] = _plain(getattr(update, name))
    return fields


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


async def _edit(call: Call, work: Any, *args: Any, **options: Any) -> Edit:
    """Run an edit off the event loop as the caller, and audit what it wrote."""
    edit: Edit = await run_in_threadpool(
        lambda: work(call.services.repo, *args, author=call.user.author, **options)
    )
    audit_edit(call, edit.files, edit.outcome)
    return edit


async def _template_edit(call: Call, work: Any, *args: Any, **options: Any) -> Edit:
    """A template's edit: refused as a whole with seeds/001's `VALIDATION_INVALID_TEMPLATE`
    (the precise problems in the details)."""
    try:
        return await _edit(call, work, *args, **options)
    except WriteRefused as refused:
        raise problems_error(
            refused.problems, status=422, code=VALIDATION_INVALID_TEMPLATE
        ) from None


def _reply(call: Call, model: Any, data: Any, edit: Edit, status: int, **extra: Any) -> Reply:
    written = 202 if edit.proposed else status
    return Reply(
        model.model_validate(data(edit, at=call.services.now(), by=call.user.identity)),
        status=written,
        **extra,
    )


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
        body.model_dump(by_alias=True, exclude={"layer", "stack_definition"}, exclude_unset=True)
    )
    edit = await _edit(call, edits.register_stack, definition, layer=body.layer)
    return _reply(call, StackRegistered, edits.stack_registered, edit, 201)


async def update_stack(call: Call) -> Reply:
    body: StackUpdateRequest = call.body
    fields = sent_fields(body, ignore=frozenset({"layer"}))
    edit = await _edit(
        call,
        edits.update_stack,
        call.params["stack_name"],
        fields,
        layer_sent=body.layer is not None,
    )
    return _reply(call, StackUpdated, edits.stack_updated, edit, 200)


async def unregister_stack(call: Call) -> Reply:
    query: StackUnregisterQuery = call.query
    name = call.params["stack_name"]
    if query.deployment_id is not None or query.environment is not None:
        deployment = query.deployment_id or "{deploymentId}"
        raise ApiError(
            400,
            VALIDATION_INVALID_FORMAT,
            "DELETE /api/v1/stacks/{name} unregisters the stack type from the catalog; to "
            f"destroy {name} in one deployment environment use POST /api/v1/deployments/"
            f'{deployment}/stacks/{name}/destroy with {{"environment": '
            f'"{query.environment or "…"}"}}',
            details={"field": "deployment_id" if query.deployment_id else "environment"},
            suggestion=f"POST /api/v1/deployments/{deployment}/stacks/{name}/destroy",
        )
    edit = await _edit(
        call,
        edits.unregister_stack,
        name,
        force=query.force,
        inventory=call.services.inventory,
    )
    return _reply(
        call,
        StackUnregistered,
        edits.stack_unregistered,
        edit,
        200,
        message="Stack unregistered successfully",
    )


# --- templates ------------------------------------------------------------------------------


async def list_templates(call: Call) -> Reply:
    state = await call.services.repo.fresh()
    rows = state.remember(
        "templates", lambda: template_summaries(state.snapshot.catalog, state.files.times)
    )
    return Reply(TemplateList(templates=rows, total=len(rows)))


async def get_template(call: Call) -> Reply:
    state = await call.services.repo.fresh()
    name = call.params["template_name"]
    if name not in state.snapshot.catalog.templates:
        raise not_found("template", name)
    detail: TemplateDetail = template_detail(state.snapshot.catalog, name, state.files.times)
    return Reply(detail)


async def create_template(call: Call) -> Reply:
    template: Template = call.body
    edit = await _template_edit(call, edits.create_template, template)
    return _reply(call, TemplateCreated, edits.template_created, edit, 201)


async def update_template(call: Call) -> Reply:
    body: TemplateUpdateRequest = call.body
    edit = await _template_edit(
        call, edits.update_template, call.params["template_name"], sent_fields(body)
    )
    return _reply(call, TemplateUpdated, edits.template_updated, edit, 200)


async def delete_template(call: Call) -> Reply:
    edit = await _edit(call, edits.delete_template, call.params["template_name"])
    return _reply(
        call,
        TemplateDeleted,
        edits.template_deleted,
        edit,
        200,
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
    Endpoint("DELETE", STACK, unregister_stack,
             "Unregister a stack type (refused while deployed somewhere, unless force=true)",
             "Stacks", reply=StackUnregistered, query=StackUnregisterQuery,
             errors=(400, 404, *_WRITE_ERRORS, 503)),
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
