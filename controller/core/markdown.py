"""Markdown that says what the data says: user-controlled strings rendered as literal text.

File, stack and deployment names, reasons and error messages come from the repository and
from pull requests, so from anyone who can open one. Rendered raw, a file named
``[click](https:example.com)`` becomes a link, `@octocat` a notification, `#12` a
cross-reference, a `|` breaks a table and a `<details>` swallows the rest of the comment.
Every such string goes through one of these functions; only our own links (built from
validated SHAs and run URLs) are written as links. GitHub finds mentions and references
in the rendered text (not inside code), so those are broken with a zero-width space
rather than a backslash, which rendering removes. A purely computational module.
"""

from __future__ import annotations

import html
import re
from typing import Any

ZWSP = "\u200b"
_SPECIAL = re.compile(r"([\\`*_\[\]()<>#|~!&{}])")
_MENTION = re.compile(r"@(?=[A-Za-z0-9])")
_REFERENCE = re.compile(r"#(?=\d)")
_AUTOLINK = re.compile(r"(?i)\b(https?|ftp|mailto)(?=:)|\b(www)(?=\.)")
_BACKTICKS = re.compile(r"`+")
_SHA = re.compile(r"^[0-9a-f]{7,40}$")
_SAFE_URL = re.compile(r"^https://[A-Za-z0-9.-]+(:\d+)?(/[A-Za-z0-9._~%!$&'*+,;=:@/?#-]*)?$")
_LABEL = re.compile(r"[^A-Za-z0-9 ._/+~-]")


def _defuse(text: str) -> str:
    """Break mentions, issue references and autolinks, which GitHub finds in rendered text."""
    text = _MENTION.sub("@" + ZWSP, text)
    text = _REFERENCE.sub("#" + ZWSP, text)
    return _AUTOLINK.sub(lambda m: (m.group(1) or m.group(2)) + ZWSP, text)


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())


def text(value: Any) -> str:
    """Free text (a reason, a message) as literal Markdown on one line, table-safe."""
    return _defuse(_SPECIAL.sub(r"\\\1", _one_line(value)))


def code(value: Any) -> str:
    """An identifier (file, stack, key) as a code span: literal, no mention, table-safe."""
    content = _one_line(value).replace("|", "\\|")
    if not content:
        return "` `"
    longest = max((len(run) for run in _BACKTICKS.findall(content)), default=0)
    fence = "`" * (longest + 1)
    padded = f" {content} " if content.startswith("`") or content.endswith("`") else content
    return f"{fence}{padded}{fence}"


def html_text(value: Any) -> str:
    """Text inside an HTML element (a `<summary>`): escaped, and mentions broken."""
    return _defuse(html.escape(_one_line(value), quote=True))


def html_code(value: Any) -> str:
    return f"<code>{html_text(value)}</code>"


def fenced(content: str, info: str = "") -> str:
    """A fenced code block that no backtick run inside `content` can close early."""
    longest = max((len(run) for run in _BACKTICKS.findall(content)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{content}\n{fence}\n"


def link(label: str, url: str | None) -> str:
    """`[label](url)` for a URL we built (https, no spaces or parentheses); else the label."""
    if url and _SAFE_URL.match(url) and "(" not in url and ")" not in url:
        return f"[{label}]({url})"
    return label


def short_sha(value: Any) -> str | None:
    """The first 7 characters of a commit SHA, or None when `value` is not one."""
    sha = str(value or "").strip().lower()
    return sha[:7] if _SHA.match(sha) else None


def full_sha(value: Any) -> str | None:
    sha = str(value or "").strip().lower()
    return sha if _SHA.match(sha) else None


def label(value: Any, *, limit: int = 60) -> str:
    """A Mermaid node label: only characters that cannot end or restyle the label."""
    cleaned = _LABEL.sub("_", _one_line(value))
    return cleaned[:limit]


def shorten(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: max(0, limit - 1)] + "…"
