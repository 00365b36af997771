"""Checks that change nothing, shared by `POST /templates/{name}/validate` and
`cloud validate-template`: a template's problems sorted into the seeds' three checks.

A check that finds problems is still an answer (`valid: false`, every problem with its
code and, where it has one, its file and line), as in the seeds' "Validation Failed"
example. A purely computational module apart from reading the current snapshot.
"""

from __future__ import annotations

from typing import Any

from controller.core import problems as codes
from controller.core.catalog import template_file
from controller.core.problems import Problem
from controller.edits.catalog_state import CatalogState
from controller.edits.errors import not_found

_TEMPLATE_CHECKS = {
    "stack-definitions": (
        {codes.UNKNOWN_STACK, codes.MISSING_DEPENDENCY},
        "All referenced stacks exist",
    ),
    "dependencies": (
        {codes.CIRCULAR_DEPENDENCY, codes.TOO_MANY_LAYERS},
        "No circular dependencies",
    ),
}


def problem_data(problem: Problem) -> dict[str, Any]:
    """A problem as the API reports it (`Issue`)."""
    return {
        "code": problem.code,
        "message": problem.message,
        "file": problem.file,
        "line": problem.line,
        "severity": problem.severity,
        "details": dict(problem.details),
    }


def check_data(name: str, failing: list[Problem], passed: str) -> dict[str, Any]:
    if failing:
        return {
            "name": name,
            "status": "failed",
            "message": failing[0].message,
            "details": {"problems": len(failing)},
        }
    return {"name": name, "status": "passed", "message": passed, "details": {}}


def template_checks(problems: list[Problem]) -> list[dict[str, Any]]:
    result = []
    claimed: set[int] = set()
    for name, (kinds, passed) in _TEMPLATE_CHECKS.items():
        failing = [p for p in problems if p.code in kinds]
        claimed |= {id(p) for p in failing}
        result.append(check_data(name, failing, passed))
    rest = [p for p in problems if id(p) not in claimed]
    result.append(check_data("configuration", rest, "All configuration values valid"))
    return result


def validate_template(state: CatalogState, name: str) -> dict[str, Any]:
    """The template's validation, as `TemplateValidation` data."""
    if name not in state.snapshot.catalog.templates:
        raise not_found("template", name)
    file = template_file(name)
    problems = [p for p in state.problems([]) if p.file == file]
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity != "error"]
    return {
        "templateName": name,
        "valid": not errors,
        "checks": template_checks(errors),
        "warnings": [problem_data(p) for p in warnings],
        "errors": [problem_data(p) for p in errors],
    }
