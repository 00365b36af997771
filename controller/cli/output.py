"""How the CLI shows things: problems as text, JSON or GitHub annotations; tables.

GitHub turns `::error file=…,line=…::message` lines on a job's output into annotations on
the pull request's files, so with `GITHUB_ACTIONS=true` every problem is also printed that
way (values escaped as the workflow-command format requires).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from controller.core.problems import Problem


def in_github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def print_json(data: Any, stream: TextIO | None = None) -> None:
    """Indented for a person at a terminal; compact (and fast: the C encoder) otherwise."""
    stream = stream or sys.stdout
    indent = 2 if stream.isatty() else None
    stream.write(json.dumps(data, indent=indent) + "\n")


def print_problems(problems: Iterable[Problem], stream: TextIO | None = None) -> None:
    stream = stream or sys.stderr
    for problem in problems:
        stream.write(problem.text() + "\n")


def annotation(problem: Problem) -> str:
    """One GitHub workflow command for a problem."""
    return problem.annotation()


def print_annotations(problems: Iterable[Problem], stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    for problem in problems:
        stream.write(problem.annotation() + "\n")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain aligned text table."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines) + "\n"
