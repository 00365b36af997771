"""Safe YAML reading that remembers where every value came from.

PyYAML's `safe_load` loses line numbers, silently keeps the last of two duplicate keys, and
expands aliases without limit (a ten-line "billion laughs" file eats all memory). Here we
let PyYAML's safe composer build the node graph (aliases stay shared, so composing is
cheap), measure how big the document *would* be once aliases are expanded, refuse it past a
budget, and only then build plain Python data, recording the line of every key and item.

A purely computational module: text in, data out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from controller.core.problems import (
    DUPLICATE_KEY,
    YAML_SYNTAX,
    YAML_TOO_COMPLEX,
    Problem,
    ProblemError,
)

MAX_BYTES = 2_000_000
MAX_NODES = 200_000
MAX_DEPTH = 100

Path = tuple[str | int, ...]

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE = "tag:yaml.org,2002:merge"
_NATIVE_SCALARS = {
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
_COLLECTIONS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}
_TEXT_SCALARS = {"tag:yaml.org,2002:str", "tag:yaml.org,2002:timestamp"}


@dataclass(frozen=True)
class YamlDocument:
    """Plain data plus the 1-based line of every path in it."""

    file: str
    data: Any
    lines: Mapping[Path, int]

    def line_of(self, path: Path) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while True:
            line = self.lines.get(path)
            if line is not None or not path:
                return line
            path = path[:-1]


def parse_yaml(text: str, *, file: str) -> YamlDocument:
    """Parse one YAML document; raise `ProblemError` naming file and line on bad input."""
    if len(text) > MAX_BYTES:
        raise ProblemError(
            Problem(YAML_TOO_COMPLEX, f"file is larger than {MAX_BYTES} bytes", file=file, line=1)
        )
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        raise ProblemError(_syntax_problem(error, file)) from None
    except yaml.YAMLError as error:
        raise ProblemError(Problem(YAML_SYNTAX, f"invalid YAML: {error}", file=file)) from None
    try:
        if node is None:
            return YamlDocument(file=file, data=None, lines={(): 1})
        _check_size(node, file)
        builder = _Builder(loader, file)
        data = builder.build(node, ())
        if builder.problems:
            raise ProblemError(builder.problems)
        return YamlDocument(file=file, data=data, lines=builder.lines)
    finally:
        loader.dispose()


def _syntax_problem(error: yaml.MarkedYAMLError, file: str) -> Problem:
    """Point at where the broken construct began (an unclosed `[`), not where the parser
    gave up, and say both when they differ."""
    context = error.context_mark.line + 1 if error.context_mark else None
    found = error.problem_mark.line + 1 if error.problem_mark else None
    message = "invalid YAML: " + " ".join(part for part in (error.context, error.problem) if part)
    if context and found and context != found:
        message += f" (noticed at line {found})"
    return Problem(YAML_SYNTAX, message, file=file, line=context or found)


def _check_size(root: Node, file: str) -> None:
    """Refuse documents whose alias-expanded size passes the budget, without expanding."""
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()

    def size(node: Node, depth: int) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in in_progress:
            raise ProblemError(
                Problem(YAML_TOO_COMPLEX, "recursive YAML alias", file=file, line=_line(node))
            )
        if depth > MAX_DEPTH:
            raise ProblemError(
                Problem(
                    YAML_TOO_COMPLEX,
                    f"nesting deeper than {MAX_DEPTH}",
                    file=file,
                    line=_line(node),
                )
            )
        in_progress.add(key)
        total = 1
        if isinstance(node, SequenceNode):
            children = node.value
        elif isinstance(node, MappingNode):
            children = [child for pair in node.value for child in pair]
        else:
            children = []
        for child in children:
            total += size(child, depth + 1)
            if total > MAX_NODES:
                raise ProblemError(
                    Problem(
                        YAML_TOO_COMPLEX,
                        f"document expands to more than {MAX_NODES} values "
                        "(aliases nested too deep: a YAML alias bomb?)",
                        file=file,
                        line=_line(node),
                    )
                )
        in_progress.discard(key)
        sizes[key] = total
        return total

    size(root, 0)


def _line(node: Node) -> int:
    return node.start_mark.line + 1


class _Builder:
    """Turns a checked node graph into dicts, lists and scalars, recording lines."""

    def __init__(self, loader: Any, file: str) -> None:
        self.loader = loader
        self.file = file
        self.lines: dict[Path, int] = {}
        self.problems: list[Problem] = []

    def build(self, node: Node, path: Path) -> Any:
        self.lines.setdefault(path, _line(node))
        if not isinstance(node, ScalarNode) and node.tag not in _COLLECTIONS:
            self.problems.append(
                Problem(
                    YAML_SYNTAX,
                    f"unsupported YAML tag {node.tag!r}",
                    file=self.file,
                    line=_line(node),
                )
            )
            return None
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        return self._scalar(node)

    def _scalar(self, node: ScalarNode) -> Any:
        if node.tag in _TEXT_SCALARS:
            return node.value
        if node.tag in _NATIVE_SCALARS:
            return self.loader.construct_object(node, deep=True)
        self.problems.append(
            Problem(
                YAML_SYNTAX, f"unsupported YAML tag {node.tag!r}", file=self.file, line=_line(node)
            )
        )
        return None

    def _mapping(self, node: MappingNode, path: Path) -> dict[str, Any]:
        explicit: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                for source in self._merge_sources(value_node):
                    for key, value in self._mapping(source, path).items():
                        merged.setdefault(key, value)
                continue
            if not isinstance(key_node, ScalarNode):
                self.problems.append(
                    Problem(
                        YAML_SYNTAX,
                        "mapping keys must be plain text",
                        file=self.file,
                        line=_line(key_node),
                    )
                )
                continue
            key = key_node.value
            if key in explicit:
                self.problems.append(
                    Problem(
                        DUPLICATE_KEY,
                        f"duplicate key {key!r} (first at line {self.lines[(*path, key)]})",
                        file=self.file,
                        line=_line(key_node),
                    )
                )
                continue
            self.lines[(*path, key)] = _line(key_node)
            explicit[key] = self.build(value_node, (*path, key))
        return {**{k: v for k, v in merged.items() if k not in explicit}, **explicit}

    def _merge_sources(self, node: Node) -> list[MappingNode]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        valid = [source for source in sources if isinstance(source, MappingNode)]
        if len(valid) != len(sources):
            self.problems.append(
                Problem(YAML_SYNTAX, "'<<' merges only mappings", file=self.file, line=_line(node))
            )
        return valid
