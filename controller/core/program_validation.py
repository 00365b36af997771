"""Checks of the stack programs against their definitions, from the programs' source.

A fingerprint counts a deployment setting only where the stack definition declares it in
`reads`, so a declaration that drifted from the code would let a change slip through
unseen. The drift is caught here, by reading the program: a `cloud:*` key the program
reads but the definition does not declare, a read the check cannot follow, an unknown
setting, a program that does not parse, a pin file pip could not read. A declared key
the program never reads only reruns the stack more often than needed: a warning.
A purely computational module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from controller.core import problems as codes
from controller.core.paths import stack_file
from controller.core.problems import Problem, did_you_mean
from controller.core.programs import DEPLOYMENT_SETTINGS, IDENTITY_SETTINGS, SettingRead
from controller.core.stack_files import StackFiles

if TYPE_CHECKING:
    from controller.core.catalog import Catalog
    from controller.core.plan_index import DefinitionFacts


def validate_programs(catalog: Catalog, files: StackFiles) -> list[Problem]:
    from controller.core.plan_index import definition_facts

    return check_programs({name: definition_facts(catalog, name) for name in catalog.stacks}, files)


def check_programs(definitions: Mapping[str, DefinitionFacts], files: StackFiles) -> list[Problem]:
    """The checks, from what the definitions declare (with the lines of their reads)."""
    found: list[Problem] = []
    for name, definition in sorted(definitions.items()):
        declared = set(definition.reads)
        read: set[str] = set()
        for path, item in files.folder(name).items():
            if item.kind != "python":
                continue
            if item.problem:
                found.append(
                    Problem(codes.PROGRAM_SYNTAX, f"{path} does not parse: {item.problem}", path)
                )
            for setting in item.reads:
                found += _read_problems(name, path, setting, declared)
                read.add(setting.key or "")
        has_program = any(item.kind == "python" for item in files.folder(name).values())
        for key, line in zip(definition.reads, definition.reads_lines, strict=False):
            if has_program and key not in read and key not in IDENTITY_SETTINGS:
                found.append(
                    Problem(
                        codes.UNDECLARED_SETTING,
                        f"reads declares {key}, which the program never reads (a change of it "
                        "reruns this stack for nothing)",
                        stack_file(name),
                        line,
                        "warning",
                    )
                )
    path = files.toolchain_file
    if path and files.facts[path].problem:
        found.append(Problem(codes.INVALID_PINS, f"{path}: {files.facts[path].problem}", path))
    return found


def _read_problems(name: str, path: str, setting: SettingRead, declared: set[str]) -> list[Problem]:
    if setting.key is None:
        message = (
            f"cannot tell which cloud:* setting this reads ({setting.why}); read each "
            'setting with a literal key, e.g. cloud.get("domain")'
        )
    elif setting.key not in DEPLOYMENT_SETTINGS:
        message = (
            f"cloud:{setting.key} is not a deployment setting (the controller sets "
            f"{', '.join(DEPLOYMENT_SETTINGS)})" + did_you_mean(setting.key, DEPLOYMENT_SETTINGS)
        )
    elif setting.key not in declared and setting.key not in IDENTITY_SETTINGS:
        message = (
            f"reads cloud:{setting.key}, which stacks/{name}/stack.yaml does not declare: add "
            f"{setting.key} to its reads (a change of it would otherwise not rerun this stack)"
        )
    else:
        return []
    return [Problem(codes.UNDECLARED_SETTING, message, path, setting.line)]
