from __future__ import annotations

import textwrap

from controller.core import problems as codes
from controller.core.catalog import load_snapshot
from controller.core.stack_files import StackFiles
from controller.core.validation import validate_snapshot

DEFINITION = """\
name: dns
displayName: DNS
category: network
reads: [tags, domain]
"""
PROGRAM = """\
import pulumi
cloud = pulumi.Config("cloud")
deployment_id = cloud.get("deploymentId")
tags = cloud.get_object("tags", {})
domain = cloud.get("domain")
"""


def problems(definition=DEFINITION, program=PROGRAM, **more):
    files = {"stacks/dns/stack.yaml": definition, "stacks/dns/__main__.py": program, **more}
    files = {path: textwrap.dedent(text) for path, text in files.items()}
    snapshot = load_snapshot(files)
    return validate_snapshot(snapshot, files=StackFiles.from_texts(files))


def test_a_program_that_reads_what_it_declares_is_valid():
    assert problems() == []


def test_an_undeclared_read_is_an_error_at_the_line_of_the_program():
    [problem] = problems(definition=DEFINITION.replace("reads: [tags, domain]", "reads: [tags]"))
    assert (problem.code, problem.file, problem.line, problem.severity) == (
        codes.UNDECLARED_SETTING,
        "stacks/dns/__main__.py",
        5,
        "error",
    )
    assert "reads cloud:domain, which stacks/dns/stack.yaml does not declare" in problem.message


def test_an_unknown_setting_and_an_unfollowable_read_are_errors():
    program = PROGRAM + 'zone = cloud.get("zone")\nkey = "x"\nother = cloud.get(key)\n'
    found = {(p.line, p.message.split(" (")[0]) for p in problems(program=program)}
    assert found == {
        (6, "cloud:zone is not a deployment setting"),
        (8, "cannot tell which cloud:* setting this reads"),
    }


def test_a_declared_setting_the_program_never_reads_is_a_warning():
    [problem] = problems(program=PROGRAM.replace('domain = cloud.get("domain")\n', ""))
    assert problem.severity == "warning"
    assert (problem.file, problem.line) == ("stacks/dns/stack.yaml", 4)


def test_a_program_that_does_not_parse_and_a_broken_pin_file_are_errors():
    found = problems(program="def broken(:\n", **{"stacks/requirements.txt": "pulumi==3.1\n@@@\n"})
    assert {p.code for p in found} >= {codes.PROGRAM_SYNTAX, codes.INVALID_PINS}
