"""Problems found in user input, each with a code, a message, a file and a line.

Validation never stops at the first problem: it collects them all, so a user fixes a
manifest in one round. Codes follow the API seeds (`VALIDATION_…`) so the CLI, the action's
annotations and the service's 422 bodies speak the same language.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning"]

YAML_SYNTAX = "VALIDATION_YAML_SYNTAX"
YAML_TOO_COMPLEX = "VALIDATION_YAML_TOO_COMPLEX"
DUPLICATE_KEY = "VALIDATION_DUPLICATE_KEY"
REQUIRED_FIELD = "VALIDATION_REQUIRED_FIELD"
UNKNOWN_FIELD = "VALIDATION_UNKNOWN_FIELD"
INVALID_FORMAT = "VALIDATION_INVALID_FORMAT"
UNKNOWN_STACK = "VALIDATION_UNKNOWN_STACK"
UNKNOWN_TEMPLATE = "VALIDATION_UNKNOWN_TEMPLATE"
MISSING_DEPENDENCY = "VALIDATION_MISSING_DEPENDENCY"
CIRCULAR_DEPENDENCY = "VALIDATION_CIRCULAR_DEPENDENCY"
UNRESOLVABLE_PLACEHOLDER = "VALIDATION_UNRESOLVABLE_PLACEHOLDER"
UNKNOWN_CONFIG_KEY = "VALIDATION_UNKNOWN_CONFIG_KEY"
OUT_OF_RANGE = "VALIDATION_OUT_OF_RANGE"
INVALID_ACCOUNT_ID = "VALIDATION_INVALID_ACCOUNT_ID"
INVALID_DEPLOYMENT_ID = "VALIDATION_INVALID_DEPLOYMENT_ID"
DIRECTORY_MISMATCH = "VALIDATION_DIRECTORY_MISMATCH"
DUPLICATE_DEPLOYMENT_ID = "VALIDATION_DUPLICATE_DEPLOYMENT_ID"
INVALID_ENVIRONMENT = "VALIDATION_INVALID_ENVIRONMENT"
TOO_MANY_LAYERS = "VALIDATION_TOO_MANY_LAYERS"
TOO_MANY_WAVES = "VALIDATION_TOO_MANY_WAVES"
INVALID_ROLE = "VALIDATION_INVALID_ROLE"
INVALID_TEMPLATE = "VALIDATION_INVALID_TEMPLATE"
UNKNOWN_FILE = "VALIDATION_UNKNOWN_FILE"
UNDECLARED_SETTING = "VALIDATION_UNDECLARED_SETTING"
PROGRAM_SYNTAX = "VALIDATION_PROGRAM_SYNTAX"
INVALID_PINS = "VALIDATION_INVALID_PINS"
SECRET_IN_CLEAR = "VALIDATION_SECRET_IN_CLEAR"  # a warning: a secret key holds its value


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the input, located as precisely as the input allows."""

    code: str
    message: str
    file: str | None = None
    line: int | None = None
    severity: Severity = "error"
    details: dict[str, Any] = field(default_factory=dict, compare=False)

    def location(self) -> str:
        """`file:line` (or just the file, or "-") for human output."""
        if self.file is None:
            return "-"
        return f"{self.file}:{self.line}" if self.line else self.file

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value not in (None, {})}

    def text(self) -> str:
        """One line for a person: `file:line: severity: CODE: message`."""
        return f"{self.location()}: {self.severity}: {self.code}: {self.message}"

    def annotation(self) -> str:
        """A GitHub workflow command: an annotation on the file and line in a pull request
        (values escaped as the workflow-command format requires)."""
        properties = [("title", self.code)]
        if self.file:
            properties.insert(0, ("file", self.file))
            if self.line:
                properties.insert(1, ("line", str(self.line)))
        rendered = ",".join(f"{key}={_escape_property(value)}" for key, value in properties)
        command = "warning" if self.severity == "warning" else "error"
        return f"::{command} {rendered}::{_escape_data(self.message)}"


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


class ProblemError(Exception):
    """Raised where one problem makes going on pointless (unparseable file, bad argument)."""

    def __init__(self, problems: list[Problem] | Problem) -> None:
        self.problems = problems if isinstance(problems, list) else [problems]
        super().__init__("; ".join(f"{p.location()}: {p.message}" for p in self.problems))


def has_errors(problems: list[Problem]) -> bool:
    return any(problem.severity == "error" for problem in problems)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when none is close."""
    import difflib

    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
