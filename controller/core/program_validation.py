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

from controller.core import problems as codes
from controller.core.catalog import Catalog
from controller.core.models import DEPLOYMENT_SETTINGS, IDENTITY_SETTINGS
from controller.core.problems import Problem, did_you_mean
from controller.core.stack_files import StackFiles
from controller.core.validation_rules import problem_at


def validate_programs(catalog: Catalog, files: StackFiles) -> list[Problem]:
    found: list[Problem] = []
    for name, definition in sorted(catalog.stacks.items()):
        source = catalog.stack_source(name)
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
                if setting.key is None:
                    found.append(
                        Problem(
                            codes.UNDECLARED_SETTING,
                            f"cannot tell which cloud:* setting this reads ({setting.why}); "
                            "read each setting with a literal key, e.g. "
                            'cloud.get("domain")',
                            path,
                            setting.line,
                        )
                    )
                elif setting.key not in DEPLOYMENT_SETTINGS:
                    found.append(
                        Problem(
                            codes.UNDECLARED_SETTING,
                            f"cloud:{setting.key} is not a deployment setting (the controller "
                            f"sets {', '.join(DEPLOYMENT_SETTINGS)})"
                            + did_you_mean(setting.key, DEPLOYMENT_SETTINGS),
                            path,
                            setting.line,
                        )
                    )
                elif setting.key not in declared and setting.key not in IDENTITY_SETTINGS:
                    found.append(
                        Problem(
                            codes.UNDECLARED_SETTING,
                            f"reads cloud:{setting.key}, which stacks/{name}/stack.yaml does "
                            f"not declare: add {setting.key} to its reads (a change of it "
                            "would otherwise not rerun this stack)",
                            path,
                            setting.line,
                        )
                    )
                read.add(setting.key or "")
        has_program = any(item.kind == "python" for item in files.folder(name).values())
        for index, key in enumerate(definition.reads):
            if has_program and key not in read and key not in IDENTITY_SETTINGS:
                problem = problem_at(
                    source,
                    codes.UNDECLARED_SETTING,
                    f"reads declares {key}, which the program never reads (a change of it "
                    "reruns this stack for nothing)",
                    "reads",
                    index,
                )
                found.append(
                    Problem(problem.code, problem.message, problem.file, problem.line, "warning")
                )
    path = files.toolchain_file
    if path and files.facts[path].problem:
        found.append(Problem(codes.INVALID_PINS, f"{path}: {files.facts[path].problem}", path))
    return found
