"""The toolchain pins of the stack programs, as the set of packages they resolve to.

A pin file (`stacks/requirements.lock` as pip-compile writes it, or a plain
`stacks/requirements.txt`) is read as pip reads it: comments, blank lines, line
continuations and per-requirement options (`--hash=sha256:…`) carry no meaning, names are
compared normalized (PEP 503: `Pulumi_AWS` is `pulumi-aws`). What is left, `{name:
version}` (or the specifier when the file pins a range), is what a fingerprint holds: a
comment or a reordering is not a change, a version is. A purely computational module.
"""

from __future__ import annotations

import re

_COMMENT = re.compile(r"(^|\s)#.*$")
_OPTION = re.compile(r"\s+--?[A-Za-z]")


class PinError(ValueError):
    """A line that is not a requirement pip would accept."""


def normalize_name(name: str) -> str:
    """PEP 503: lowercase, runs of `-`, `_` and `.` become one `-`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_lines(text: str) -> list[tuple[int, str]]:
    """(line number, requirement) for each requirement, as pip splits the file: comments
    dropped, continuations joined, options of the file (`--index-url`, `-r`) and of each
    requirement (`--hash`) left out."""
    found: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = _COMMENT.sub("", raw)
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical, pending = (pending + line).strip(), ""
        if not logical or logical.startswith("-"):
            continue  # blank, or an option of the file itself
        option = _OPTION.search(logical)
        requirement = logical[: option.start()] if option else logical
        if requirement.strip():
            found.append((start, requirement.strip()))
    if pending.strip() and not pending.strip().startswith("-"):
        found.append((start, pending.strip()))
    return found


def parse_pins(text: str) -> dict[str, str]:
    """`{normalized name: version}` of a pin file; a range stays a specifier (`<8,>=6.50`).

    `PinError` names the line of a requirement that does not parse.
    """
    from packaging.requirements import InvalidRequirement, Requirement

    pins: dict[str, str] = {}
    for number, line in requirement_lines(text):
        try:
            requirement = Requirement(line)
        except InvalidRequirement as error:
            raise PinError(f"line {number}: {error}") from None
        name = normalize_name(requirement.name)
        specifiers = sorted(str(s) for s in requirement.specifier)
        if len(specifiers) == 1 and specifiers[0].startswith(("==", "===")):
            version = specifiers[0].lstrip("=")
        else:
            version = ",".join(specifiers) or (f"@ {requirement.url}" if requirement.url else "*")
        if requirement.extras:
            version = f"[{','.join(sorted(requirement.extras))}] {version}"
        if requirement.marker is not None:
            version = f"{version}; {requirement.marker}"
        pins[name] = f"{pins[name]} | {version}" if name in pins else version
    return dict(sorted(pins.items()))
