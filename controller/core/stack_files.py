"""The files of the stack catalog at one commit, each reduced to what it means.

Fingerprints compare meanings, not bytes: a Python source by its syntax tree, a pin file
by the packages it resolves to, a stack definition by its parsed fields (in
`fingerprints`, from the model), any other file of a stack folder by its content. The
facts of a file depend only on its path's kind and its bytes, so adapters cache them by
git blob id and hand the core a `StackFiles`; the core never reads a file.
A purely computational module.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal

from controller.core.blobs import blob_id
from controller.core.pins import PinError, parse_pins
from controller.core.programs import ProgramFacts, SettingRead, read_program

# The pin files of the programs' environment, most precise first: the first one present
# is the toolchain (issue 10 replaces requirements.txt with a hashed lock file).
TOOLCHAIN_FILES = ("stacks/requirements.lock", "stacks/requirements.txt")
FACTS_VERSION = 2  # bump when what a file's facts hold changes (invalidates caches)
__all__ = [
    "TOOLCHAIN_FILES",
    "FileFacts",
    "StackFiles",
    "blob_id",
    "file_facts",
    "kind_of",
]

Kind = Literal["python", "pins", "definition", "file"]


def kind_of(path: str) -> Kind:
    if path in TOOLCHAIN_FILES:
        return "pins"
    if path.endswith(".py"):
        return "python"
    parts = PurePosixPath(path).parts
    if len(parts) == 3 and parts[0] == "stacks" and parts[2] == "stack.yaml":
        return "definition"
    return "file"


@dataclass(frozen=True)
class FileFacts:
    """What one file means. `meaning` is a digest (a version string set for pins)."""

    blob: str
    kind: Kind
    meaning: str
    pins: Mapping[str, str] = field(default_factory=dict)
    reads: tuple[SettingRead, ...] = ()
    problem: str | None = None
    legacy_blob: str | None = None  # definitions: the blob without `reads` (see below)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"blob": self.blob, "kind": self.kind, "meaning": self.meaning}
        if self.legacy_blob:
            data["legacyBlob"] = self.legacy_blob
        if self.pins:
            data["pins"] = dict(self.pins)
        if self.reads:
            data["reads"] = [[r.key, r.line, r.why] for r in self.reads]
        if self.problem:
            data["problem"] = self.problem
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FileFacts:
        return cls(
            data["blob"],
            data["kind"],
            data["meaning"],
            dict(data.get("pins", {})),
            tuple(SettingRead(key, line, why) for key, line, why in data.get("reads", ())),
            data.get("problem"),
            data.get("legacyBlob"),
        )


def file_facts(path: str, data: bytes, *, blob: str | None = None) -> FileFacts:
    """The facts of one file under `stacks/` from its bytes."""
    blob = blob or blob_id(data)
    kind = kind_of(path)
    if kind == "python":
        program: ProgramFacts = read_program(data.decode("utf-8", errors="replace"))
        return FileFacts(
            blob, kind, program.meaning, reads=program.reads, problem=program.syntax_error
        )
    if kind == "pins":
        try:
            pins = parse_pins(data.decode("utf-8", errors="replace"))
        except PinError as error:
            return FileFacts(blob, kind, "blob:" + blob, problem=str(error))
        text = "\n".join(f"{name}=={version}" for name, version in pins.items())
        return FileFacts(blob, kind, hashlib.sha256(text.encode()).hexdigest()[:20], pins)
    if kind == "definition":  # its meaning is read from the model (see fingerprints)
        legacy = blob_id(without_reads(data))
        return FileFacts(blob, kind, "blob:" + blob, legacy_blob=legacy if legacy != blob else None)
    return FileFacts(blob, kind, "blob:" + blob)


_READS = re.compile(rb"^reads:[^\n]*\n(?:[ \t]+[^\n]*\n)*", re.MULTILINE)


def without_reads(data: bytes) -> bytes:
    """A stack definition as it was before it declared `reads` (the one edit format 2
    asks of every definition): format 1 records hold that file's blob id, and the
    declaration alone must not make them look changed."""
    return _READS.sub(b"", data, count=1)


class StackFiles(Mapping[str, str]):
    """Every file under `stacks/` at one commit: `{path: blob id}` as a mapping, with
    each file's facts. Stack parts derived from it are memoized here."""

    def __init__(self, facts: Mapping[str, FileFacts]) -> None:
        self.facts = dict(sorted(facts.items()))
        self.memo: dict[object, Any] = {}
        folders: dict[str, dict[str, FileFacts]] = {}
        for path, item in self.facts.items():
            parts = path.split("/", 2)
            if len(parts) == 3 and parts[0] == "stacks":
                folders.setdefault(parts[1], {})[path] = item
        self.folders = folders

    @classmethod
    def of(cls, files: Mapping[str, str]) -> StackFiles:
        """`files` as StackFiles: itself, or (`{path: blob id}` alone, the contents
        unknown) every file known by its blob id and no pins read."""
        if isinstance(files, StackFiles):
            return files
        return cls(
            {path: FileFacts(blob, kind_of(path), "blob:" + blob) for path, blob in files.items()}
        )

    @classmethod
    def from_texts(cls, texts: Mapping[str, str | bytes]) -> StackFiles:
        """From file contents (tests, and adapters without a cache)."""
        return cls(
            {
                path: file_facts(path, text.encode() if isinstance(text, str) else text)
                for path, text in texts.items()
                if path.startswith("stacks/")
            }
        )

    def __getitem__(self, path: str) -> str:
        return self.facts[path].blob

    def __iter__(self) -> Iterator[str]:
        return iter(self.facts)

    def __len__(self) -> int:
        return len(self.facts)

    def folder(self, stack: str) -> dict[str, FileFacts]:
        """The files of `stacks/<stack>/` (any depth)."""
        return self.folders.get(stack, {})

    @property
    def toolchain_file(self) -> str | None:
        return next((path for path in TOOLCHAIN_FILES if path in self.facts), None)

    def legacy_ids(self) -> dict[str, str]:
        """`{path: blob id}` as format 1 fingerprints saw the files (definitions without
        their `reads`)."""
        return {path: item.legacy_blob or item.blob for path, item in self.facts.items()}

    def toolchain(self) -> dict[str, str]:
        """`{package: version}` the programs' environment installs (empty without pins)."""
        path = self.toolchain_file
        return dict(self.facts[path].pins) if path else {}
