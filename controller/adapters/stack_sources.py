"""The stack files' facts, read once per blob: what fingerprints are made of.

A file's facts (a program's syntax-tree digest and the settings it reads, a pin file's
packages) depend only on its kind and its bytes, so they are cached by git blob id in
`.cloud/cache/`; a commit that changes one program parses one program. The cache is an
optimisation only: missing, unreadable or corrupt, it is rebuilt, and a failure to write
it never fails a command.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

from controller.adapters.cache_files import CACHE_DIR, cache_enabled, code_version, save_json
from controller.core.stack_files import FACTS_VERSION, FileFacts, StackFiles, file_facts, kind_of

MAX_ENTRIES = 4096


class FactsCache:
    """`{kind:blob: facts}` in one JSON file, loaded lazily, saved only when it grew."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._entries: dict[str, dict] | None = None
        self._dirty = False

    @classmethod
    def under(cls, root: Path) -> FactsCache:
        if not cache_enabled():
            return cls(None)
        return cls(root / CACHE_DIR / f"file-facts-v{FACTS_VERSION}.json")

    def _load(self) -> dict[str, dict]:
        if self._entries is None:
            self._entries = {}
            if self.path is not None:
                try:
                    loaded = json.loads(self.path.read_text(encoding="utf-8"))
                    if isinstance(loaded, dict) and loaded.pop("code", None) == code_version():
                        self._entries = loaded
                except (OSError, ValueError):
                    pass
        return self._entries

    def get(self, path: str, blob: str) -> FileFacts | None:
        data = self._load().get(f"{kind_of(path)}:{blob}")
        if not isinstance(data, dict):
            return None
        try:
            return FileFacts.from_dict(data)
        except (KeyError, TypeError, ValueError):
            return None

    def put(self, facts: FileFacts) -> None:
        self._load()[f"{facts.kind}:{facts.blob}"] = facts.to_dict()
        self._dirty = True

    def save(self) -> None:
        if not self._dirty or self.path is None or self._entries is None:
            return
        kept = dict(list(self._entries.items())[-MAX_ENTRIES:])
        if save_json(self.path, {**kept, "code": code_version()}):
            self._dirty = False


def build_stack_files(
    ids: Mapping[str, str],
    read: Callable[[dict[str, str]], Mapping[str, bytes]],
    cache: FactsCache | None = None,
    *,
    known: Mapping[str, FileFacts] | None = None,
) -> StackFiles:
    """`StackFiles` for `{path: blob id}`: facts from `known` (another commit's, by blob),
    the cache, or the bytes `read` returns for `{path: blob}` of the rest."""
    by_blob = {(item.kind, item.blob): item for item in (known or {}).values()}
    facts: dict[str, FileFacts] = {}
    missing: dict[str, str] = {}
    for path, blob in ids.items():
        item = by_blob.get((kind_of(path), blob)) or (cache.get(path, blob) if cache else None)
        if item is None:
            missing[path] = blob
        else:
            facts[path] = item
    if missing:
        for path, data in read(missing).items():
            facts[path] = file_facts(path, data, blob=missing[path])
            if cache is not None:
                cache.put(facts[path])
        if cache is not None:
            cache.save()
    return StackFiles(facts)
