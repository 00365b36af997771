"""Stack programs read as Python: their meaning, and the deployment settings they read.

A fingerprint must not move when a comment or the formatting of a program changes, so a
program is identified by its syntax tree (`ast.dump` without positions, docstrings
dropped): what the interpreter would run. And a stack definition declares the deployment
settings (`cloud:*` config) its program reads; `cloud_reads` finds them in the source so
validation can refuse a declaration that drifted from the code. Reads it cannot follow (a
key that is not a literal, the config object handed to other code) are reported rather
than guessed. A purely computational module.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import ast

CLOUD_NAMESPACE = "cloud"
# The `cloud:*` config every program receives. deploymentId and environment name the
# instance (they never change for it); region and account decide where the AWS provider
# works, so they are part of every fingerprint; the rest count only where declared.
DeploymentSetting = Literal[
    "deploymentId", "environment", "organization", "project", "domain", "region", "account", "tags"
]
DEPLOYMENT_SETTINGS: tuple[str, ...] = DeploymentSetting.__args__  # type: ignore[attr-defined]
IDENTITY_SETTINGS = ("deploymentId", "environment")
PROVIDER_SETTINGS = ("region", "account")
_RAW_KEY = re.compile(r"^cloud:([A-Za-z][A-Za-z0-9_]*)$")


@dataclass(frozen=True)
class SettingRead:
    """One read of a `cloud:*` key at a line; `key` is None when the check cannot tell
    which (then `why` says what it saw)."""

    key: str | None
    line: int
    why: str = ""


@dataclass(frozen=True)
class ProgramFacts:
    meaning: str  # digest of the syntax tree (of the bytes when it does not parse)
    reads: tuple[SettingRead, ...] = ()
    syntax_error: str | None = None


def read_program(text: str) -> ProgramFacts:
    """The meaning of a Python source and the `cloud:*` settings it reads."""
    import ast

    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError) as error:
        line = getattr(error, "lineno", None)
        where = f" at line {line}" if line else ""
        return ProgramFacts(
            "text:" + _digest(text.encode()),
            syntax_error=f"{type(error).__name__}{where}: {getattr(error, 'msg', error)}",
        )
    reads = tuple(cloud_reads(tree))
    _drop_docstrings(tree)
    return ProgramFacts("ast:" + _digest(ast.dump(tree).encode()), reads)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:20]


def _drop_docstrings(tree: ast.AST) -> None:
    """Docstrings are documentation, like comments: they change nothing a program does."""
    import ast

    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]


def _is_cloud_config(node: ast.AST) -> bool:
    """`pulumi.Config("cloud")`, `Config("cloud")` or `Config(name="cloud")`."""
    import ast

    if not isinstance(node, ast.Call):
        return False
    func = node.func
    named = (isinstance(func, ast.Attribute) and func.attr == "Config") or (
        isinstance(func, ast.Name) and func.id == "Config"
    )
    if not named:
        return False
    values = [*node.args[:1], *(k.value for k in node.keywords if k.arg == "name")]
    return any(isinstance(v, ast.Constant) and v.value == CLOUD_NAMESPACE for v in values)


def cloud_reads(tree: ast.AST) -> list[SettingRead]:
    """Every `cloud:*` read of a module, in source order."""
    import ast

    names: set[str] = set()
    for node in ast.walk(tree):
        value = getattr(node, "value", None)
        if isinstance(node, ast.Assign | ast.AnnAssign) and _is_cloud_config(value):  # type: ignore[arg-type]
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    found: list[SettingRead] = []
    followed: set[int] = set()  # Name nodes seen as the receiver of a read
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            receiver = node.func.value
            is_cloud = _is_cloud_config(receiver) or (
                isinstance(receiver, ast.Name) and receiver.id in names
            )
            if not is_cloud:
                continue
            followed.add(id(receiver))
            method = node.func.attr
            if not method.startswith(("get", "require")):
                found.append(SettingRead(None, node.lineno, f"calls {method}() on it"))
                continue
            keys = [*node.args[:1], *(k.value for k in node.keywords if k.arg == "key")]
            key = keys[0] if keys else None
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                found.append(SettingRead(key.value, node.lineno))
            else:
                found.append(SettingRead(None, node.lineno, "reads a key that is not a literal"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = _RAW_KEY.match(node.value)
            if match:
                found.append(SettingRead(match.group(1), node.lineno))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Name)
            and node.id in names
            and isinstance(node.ctx, ast.Load)
            and id(node) not in followed
        ):
            found.append(
                SettingRead(None, node.lineno, f"passes {node.id} on, where its reads are hidden")
            )
    return sorted(found, key=lambda read: (read.line, read.key or ""))
