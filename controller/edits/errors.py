"""Why an edit was refused, said once for both edges: the API maps it to an HTTP status
(`service.http.errors.TRANSLATIONS`), the CLI to an exit code."""

from __future__ import annotations

from typing import Any, Literal

from controller.core.problems import ProblemError

EditErrorKind = Literal["not_found", "exists", "conflict"]


class EditError(Exception):
    """An edit that cannot be made as asked: what is missing, or what stands in the way."""

    def __init__(
        self,
        kind: EditErrorKind,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        suggestion: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.details = details or {}
        self.suggestion = suggestion


def not_found(kind: str, name: str) -> EditError:
    return EditError("not_found", f"{kind} {name!r} not found", details={kind: name})


class DocumentInvalid(ProblemError):
    """The document an edit would write does not validate on its own (a malformed field):
    nothing was written."""
