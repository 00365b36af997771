"""The `cloud` console script: `cloud action …` runs a GitHub Action step, anything else is
the command line. The two edges never import each other; only this launcher knows both.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def split_action(argv: Sequence[str]) -> tuple[list[str], str | None] | None:
    """`(action arguments, --root)` when argv asks for `action`, else None."""
    root = None
    index = 0
    while index < len(argv):
        word = argv[index]
        if word == "--root" and index + 1 < len(argv):
            root, index = argv[index + 1], index + 2
        elif word.startswith("--root="):
            root, index = word.split("=", 1)[1], index + 1
        elif word == "action":
            return list(argv[index + 1 :]), root
        else:
            return None
    return None


def console_main() -> None:  # pragma: no cover - the installed `cloud` script
    action = split_action(sys.argv[1:])
    if action is None:
        from controller.cli.main import console_main as cli

        cli()
        return
    from controller.action.commands import main

    code = main(action[0], root=action[1])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
