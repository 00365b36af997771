"""The single-value rules of validation: config values against a stack's definition, and
whether a placeholder can be resolved. Used by the catalog checks (templates) and the
deployment checks alike. A purely computational module.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from controller.core import problems as codes
from controller.core.catalog import Catalog
from controller.core.configs import ConfigLayer, check_value
from controller.core.documents import Loaded
from controller.core.models import StackDefinition
from controller.core.placeholders import Placeholder, find_malformed, whole_placeholder
from controller.core.problems import Problem, did_you_mean
from controller.core.secret_config import is_literal


def problem_at(
    source: Loaded | None,
    code: str,
    message: str,
    *path: str | int,
    environment: str | None = None,
    details: dict[str, object] | None = None,
) -> Problem:
    """A problem located at `path` inside `source` (file and line)."""
    details = dict(details or {})
    if environment:
        details["environment"] = environment
    return Problem(
        code,
        message,
        file=source.file if source else None,
        line=source.line_of(*path) if source else None,
        details=details,
    )


def placeholder_problem(
    placeholder: Placeholder,
    consumer: str,
    key: str,
    definition: StackDefinition,
    catalog: Catalog,
    *,
    available: Collection[str],
    where: str,
    value: object,
    declared: Collection[str] = (),
    static: bool = True,
) -> tuple[str, str] | None:
    """Why a placeholder cannot be resolved here, or None when it can.

    With `static=False` the checks that depend only on the catalog (stack and output exist,
    types agree) are assumed done elsewhere, and only availability here is checked.
    """
    if static:
        wrong = _static_placeholder_problem(placeholder, consumer, key, definition, catalog, value)
        if wrong is not None:
            return wrong
    elif placeholder.stack not in catalog.stacks or placeholder.stack == consumer:
        return None  # reported once, by the template's own check
    if placeholder.stack not in available:
        state = "is disabled" if placeholder.stack in declared else "is not deployed"
        return (
            codes.UNRESOLVABLE_PLACEHOLDER,
            f"{placeholder.text} in config {key!r} of {consumer!r}: stack "
            f"{placeholder.stack!r} {state} in {where}",
        )
    return None


def _static_placeholder_problem(
    placeholder: Placeholder,
    consumer: str,
    key: str,
    definition: StackDefinition,
    catalog: Catalog,
    value: object,
) -> tuple[str, str] | None:
    text = placeholder.text
    upstream = catalog.stacks.get(placeholder.stack)
    if upstream is None:
        return (
            codes.UNRESOLVABLE_PLACEHOLDER,
            f"{text} in config {key!r} of {consumer!r}: no stack named "
            f"{placeholder.stack!r}" + did_you_mean(placeholder.stack, catalog.stacks),
        )
    if placeholder.stack == consumer:
        return (
            codes.UNRESOLVABLE_PLACEHOLDER,
            f"{text} in config {key!r} of {consumer!r}: a stack cannot read its own output",
        )
    if placeholder.output not in upstream.outputs:
        return (
            codes.UNRESOLVABLE_PLACEHOLDER,
            f"{text} in config {key!r} of {consumer!r}: stack {placeholder.stack!r} "
            f"declares no output {placeholder.output!r}"
            + did_you_mean(placeholder.output, upstream.outputs)
            + f"; it declares: {', '.join(sorted(upstream.outputs)) or 'none'}",
        )
    spec = definition.configuration.get(key)
    output_type = upstream.outputs[placeholder.output].type
    if spec is not None and whole_placeholder(value) is not None and output_type != spec.type:
        return (
            codes.INVALID_FORMAT,
            f"{text} gives {output_type} but config {key!r} of {consumer!r} is {spec.type}",
        )
    return None


def check_layer(
    definition: StackDefinition, layer: ConfigLayer, source: Loaded | None
) -> list[Problem]:
    """Problems in one mapping of config values for a stack (unknown keys, bad values)."""
    found: list[Problem] = []
    for key, value in layer.values.items():
        spec = definition.configuration.get(key)
        if spec is None:
            known = definition.configuration
            found.append(
                problem_at(
                    source,
                    codes.UNKNOWN_CONFIG_KEY,
                    f"stack {definition.name!r} has no config key {key!r}"
                    + did_you_mean(key, known)
                    + f"; it accepts: {', '.join(sorted(known)) or 'no configuration'}",
                    *layer.path,
                    key,
                )
            )
            continue
        for code, message in check_value(key, spec, value):
            found.append(
                problem_at(source, code, f"stack {definition.name!r}: {message}", *layer.path, key)
            )
        if spec.secret and is_literal(value):
            found.append(
                replace(
                    problem_at(
                        source,
                        codes.SECRET_IN_CLEAR,
                        f"stack {definition.name!r}: config {key!r} is secret but holds its "
                        "value, so it is in Git in clear; write '{{SECRET:<name>}}' and provide "
                        "the value at run time as CLOUD_SECRET_<name> (a GitHub environment "
                        "secret) or as the Pulumi stack's config secret",
                        *layer.path,
                        key,
                    ),
                    severity="warning",
                )
            )
        for path, text in find_malformed(value):
            found.append(
                problem_at(
                    source,
                    codes.UNRESOLVABLE_PLACEHOLDER,
                    f"malformed placeholder {text!r} in config {key!r}: write "
                    "{{RUNTIME:<stack>:<output>}}",
                    *layer.path,
                    key,
                    *path,
                )
            )
    return found
