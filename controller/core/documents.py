"""From file text to a validated model, with every schema error placed on its line.

pydantic reports an error as a path into the data (`stacks.network.confg`); the YAML reader
knows the line of every path. Joining the two gives the user `manifest.yaml:14: unknown key
'confg' (did you mean 'config'?)` instead of a traceback. A purely computational module.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from controller.core import problems as codes
from controller.core.models import DOCUMENT_MODELS, Strict
from controller.core.problems import Problem, ProblemError, did_you_mean
from controller.core.yamlsource import Path, YamlDocument, parse_yaml

ModelT = TypeVar("ModelT", bound=Strict)

_ERROR_CODES = {
    "missing": codes.REQUIRED_FIELD,
    "extra_forbidden": codes.UNKNOWN_FIELD,
    "account_id": codes.INVALID_ACCOUNT_ID,
    "deployment_id": codes.INVALID_DEPLOYMENT_ID,
    "environment_name": codes.INVALID_ENVIRONMENT,
}


@dataclass(frozen=True)
class Loaded(Generic[ModelT]):
    """A file's model (None when invalid), its source for line lookups, and its problems."""

    file: str
    model: ModelT | None
    source: YamlDocument | None
    problems: list[Problem]

    def line_of(self, *path: str | int) -> int | None:
        return self.source.line_of(path) if self.source else None


def load_document(text: str, *, file: str, kind: str) -> Loaded[Any]:
    """Parse and validate one file of `kind` ("stack", "template" or "manifest")."""
    model_type = DOCUMENT_MODELS[kind]
    try:
        source = parse_yaml(text, file=file)
    except ProblemError as error:
        return Loaded(file, None, None, error.problems)
    if not isinstance(source.data, dict):
        problem = Problem(
            codes.INVALID_FORMAT,
            f"a {kind} file must be a YAML mapping, got {type(source.data).__name__}",
            file=file,
            line=1,
        )
        return Loaded(file, None, source, [problem])
    model, found = validate_data(source.data, model_type, source=source)
    return Loaded(file, model, source, found)


def validate_data(
    data: Any,
    model_type: type[ModelT],
    *,
    source: YamlDocument | None = None,
    file: str | None = None,
) -> tuple[ModelT | None, list[Problem]]:
    """Validate plain data against a model; problems carry lines when `source` is given."""
    try:
        return model_type.model_validate(data), []
    except ValidationError as error:
        file = source.file if source else file
        return None, [_to_problem(item, model_type, source, file, data) for item in error.errors()]


def _to_problem(
    error: Any,
    model_type: type[BaseModel],
    source: YamlDocument | None,
    file: str | None,
    data: Any,
) -> Problem:
    loc = data_path(error["loc"], data)
    where = ".".join(str(part) for part in loc) or "(top level)"
    kind = error["type"]
    code = _ERROR_CODES.get(kind, codes.INVALID_FORMAT)
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model_type, loc[:-1])
        hint = did_you_mean(str(loc[-1]), allowed)
        message = f"unknown key {loc[-1]!r} at {where}{hint}"
        if allowed:
            message += f"; allowed: {', '.join(sorted(allowed))}"
    elif kind == "missing":
        message = f"required key {loc[-1]!r} is missing" + (
            f" at {'.'.join(map(str, loc[:-1]))}" if len(loc) > 1 else ""
        )
    elif kind == "literal_error" and loc == ("version",):
        message = f'version must be "3.1", got {error.get("input")!r}'
    else:
        message = f"{where}: {error['msg']}"
    line = source.line_of(loc) if source else None
    return Problem(code, message, file=file, line=line, details={"field": where})


def data_path(loc: tuple[Any, ...], data: Any) -> Path:
    """The error's location as a path into the data.

    pydantic also puts the union member it tried ("str", "function-before[...]") into
    locations; such a part is dropped, unless the data really has a key of that name
    there (a user may well write a key called `str`).
    """
    path: list[str | int] = []
    current = data
    for part in loc:
        if (isinstance(current, dict) and part in current) or (
            isinstance(current, list) and isinstance(part, int) and part < len(current)
        ):
            path.append(part)
            current = current[part]
        elif isinstance(part, str) and ("[" in part or part in {"str", "int", "float", "bool"}):
            continue
        else:
            path.append(part)
            current = None
    return tuple(path)


def _allowed_keys(model_type: type[BaseModel], loc: Path) -> set[str]:
    """The keys a model accepts at `loc`, walking field annotations down the path."""
    current: Any = model_type
    for part in loc:
        current = _step(current, part)
        if current is None:
            return set()
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return {field.alias or name for name, field in current.model_fields.items()}
    return set()


def _step(annotation: Any, part: str | int) -> Any:
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, field in annotation.model_fields.items():
            if part in (name, field.alias):
                return field.annotation
        return None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is dict and len(args) == 2:
        return args[1]
    if origin is list and args:
        return args[0]
    return None


def _unwrap(annotation: Any) -> Any:
    """Strip Optional/Annotated so the model class underneath shows."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation
