"""The settings the operator documents name are settings the service reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from controller.service.settings import PREFIX, Settings

ROOT = Path(__file__).resolve().parent.parent
NAME = re.compile(r"`([A-Z][A-Z0-9_]{2,})(?:=[^`]*)?`")


def table_names(document: str) -> set[str]:
    """The upper-case names in the first column of the document's tables."""
    names: set[str] = set()
    for line in (ROOT / document).read_text().splitlines():
        if line.startswith("| `"):
            names |= set(NAME.findall(line.split("|")[1]))
    return names


@pytest.mark.parametrize("document", ["docs/deploying.md", "docs/service.md"])
def test_every_documented_setting_is_one_the_service_reads(document: str) -> None:
    read = {f"{PREFIX}{field}".upper() for field in Settings.model_fields}
    names = {name for name in table_names(document) if "_" in name}
    assert names, f"{document} documents no settings"
    unknown = sorted(name for name in names if name.startswith(PREFIX) and name not in read)
    foreign = sorted(name for name in names if not name.startswith(PREFIX))
    assert unknown == [] and foreign == []
