"""The command table as a whole: every command the source documents name exists and explains
itself, options are never matched by a prefix, and every command speaks JSON."""

from __future__ import annotations

import argparse
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.cli.main import COMMANDS, build_parser, main

# "equivalent to `cloud …`" in seeds/000 and seeds/001: the sixteen commands they name
DOCUMENTED = (
    "init",
    "deploy",
    "destroy",
    "validate",
    "register-stack",
    "unregister-stack",
    "deploy-stack",
    "destroy-stack",
    "enable-environment",
    "disable-environment",
    "list-templates",
    "show-template",
    "create-template",
    "update-template",
    "validate-template",
    "logs",
)
# commands with no result to print as JSON: a server, and the GitHub Action's steps
NO_JSON = {"serve", "action"}


def parsers(parser: argparse.ArgumentParser, path: str = "cloud") -> Iterator[tuple[str, object]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from parsers(sub, f"{path} {name}")


@pytest.mark.parametrize("name", DOCUMENTED)
def test_each_documented_command_exists_and_explains_itself(name, capsys):
    assert name in COMMANDS
    with pytest.raises(SystemExit) as exit_:
        main([name, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: cloud {name}")
    assert COMMANDS[name].help in out


def test_no_parser_matches_an_option_by_its_prefix():
    found = dict(parsers(build_parser()))
    assert len(found) > len(COMMANDS)  # nested ones too (users add, sim edit…)
    loose = [path for path, parser in found.items() if parser.allow_abbrev]  # type: ignore[attr-defined]
    assert loose == []


def test_users_add_with_an_unknown_password_option_is_a_usage_error_not_a_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
):
    for variable in list(os.environ):
        if variable.startswith("CLOUD_"):
            monkeypatch.delenv(variable)
    monkeypatch.setenv("CLOUD_DATA_DIR", str(tmp_path / ".cloud"))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(SystemExit) as exit_:
        main(
            [
                "--root",
                str(tmp_path),
                "users",
                "add",
                "alice",
                "--role",
                "Viewer",
                "--password",
                "a long enough password",
            ]
        )
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --password" in err
    assert "at least 10 characters" not in err
    assert not (tmp_path / ".cloud" / "cloud.db").exists()


@pytest.mark.parametrize("name", sorted(set(COMMANDS) - NO_JSON))
def test_every_command_takes_format_json(name):
    found = dict(parsers(build_parser()))
    leaves = [
        parser
        for path, parser in found.items()
        if path.split()[1:2] == [name]
        and not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)  # type: ignore[attr-defined]
    ]
    assert leaves
    for parser in leaves:
        formats = [a for a in parser._actions if a.dest == "format"]  # type: ignore[attr-defined]
        assert formats and "json" in formats[0].choices, f"cloud {name}: no --format json"
