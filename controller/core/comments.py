"""The plan comment on a pull request, and the job summary: Markdown under GitHub's limits.

One comment per pull request, found again by a hidden marker. It holds, in order: the
validation problems, then per deployment and environment a table (stack, action, + ~ - ±
counts, duration), the skipped stacks folded away with their reasons, the stacks to
destroy (they need an approval on merge), the layer graph as Mermaid, and each stack's
preview in a collapsible block.

GitHub refuses a comment over 65,536 characters. The comment is built from blocks that
are never cut: when it is too long the preview blocks go first, then the diagrams; if it
is still too long it is split into continuation comments between blocks, and a table
longer than a comment is split into several tables that each repeat the header.

No value of a secret appears: only stack, resource and input names are rendered, and any
text that contains a known secret value is redacted as `[secret]` before it leaves here.
A purely computational module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

MARKER = "<!-- cloud:plan-comment -->"
COMMENT_LIMIT = 65_536
BUDGET = COMMENT_LIMIT - 1_000  # room for the continuation header and footer
SYMBOLS = {"create": "+", "update": "~", "delete": "-", "replace": "±"}
STATUS_ACTION = {"new": "create", "changed": "update", "pending-upstream": "check upstream"}


def continuation_marker(part: int) -> str:
    return f"<!-- cloud:plan-comment part {part} -->"


@dataclass
class Block:
    """A piece of the comment that is kept whole, or (a table) split with its header."""

    text: str
    kind: str = "text"  # text | table | preview | diagram
    header: list[str] = field(default_factory=list)
    rows: list[str] = field(default_factory=list)

    def render(self) -> str:
        if self.kind == "table":
            return "\n".join([*self.header, *self.rows]) + "\n"
        return self.text


def render_comment(
    document: Mapping[str, Any],
    *,
    problems: Iterable[Mapping[str, Any]] = (),
    secrets: Iterable[str] = (),
    run_url: str | None = None,
    limit: int = BUDGET,
) -> list[str]:
    """The comment bodies (the first, then continuations) for a plan document.

    `document` is `reports.plan_document(...)` with optional `previews` (operation reports
    by "deploymentId/environment"); `problems` are validation problems as dicts.
    """
    blocks = build_blocks(document, problems=list(problems), run_url=run_url)
    secret_values = [value for value in secrets if value and len(value) >= 4]
    for drop in ("preview", "diagram"):
        if _size(blocks) <= limit:
            break
        omitted = [block for block in blocks if block.kind == drop]
        blocks = [block for block in blocks if block.kind != drop]
        if omitted:
            what = "previews" if drop == "preview" else "layer diagrams"
            note = f"_{len(omitted)} {what} left out to fit GitHub's comment size"
            blocks.append(Block(note + (f"; see [the run]({run_url})_\n" if run_url else "._\n")))
    bodies = _pack(blocks, limit)
    rendered = []
    for number, body in enumerate(bodies, 1):
        marker = MARKER if number == 1 else continuation_marker(number)
        suffix = (
            f"\n_continued in the next comment ({number + 1}/{len(bodies)})_\n"
            if number < len(bodies)
            else ""
        )
        rendered.append(redact(f"{marker}\n{body}{suffix}", secret_values))
    return rendered


def render_summary(
    document: Mapping[str, Any], *, problems: Iterable[Mapping[str, Any]] = ()
) -> str:
    """The job summary: the same tables, without previews or diagrams."""
    blocks = build_blocks(document, problems=list(problems), run_url=None)
    return "".join(block.render() for block in blocks if block.kind not in ("preview", "diagram"))


def redact(text: str, secrets: Iterable[str]) -> str:
    for value in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(value, "[secret]")
    return text


# --- blocks -------------------------------------------------------------------------------


def build_blocks(
    document: Mapping[str, Any], *, problems: list[Mapping[str, Any]], run_url: str | None
) -> list[Block]:
    environments = document.get("environments", [])
    previews = document.get("previews", {})
    changing = sum(
        1 for env in environments for e in env["entries"] if e["status"] in STATUS_ACTION
    )
    removing = sum(len(env.get("removals", [])) for env in environments)
    unchanged = sum(
        1 for env in environments for e in env["entries"] if e["status"] not in STATUS_ACTION
    )
    simulated = " (simulated)" if document.get("simulated") else ""
    errors = [p for p in problems if p.get("severity", "error") == "error"]
    verdict = (
        "❌ invalid"
        if errors
        else f"{changing} to change"
        + (f", {removing} to destroy" if removing else "")
        + f", {unchanged} unchanged"
    )
    lines = [f"## ☁️ cloud plan: {verdict}{simulated}", ""]
    facts = [
        f"compared with {document['base']}"
        if document.get("base")
        else "compared with the last deploy"
    ]
    if document.get("engine"):
        facts.append(f"engine {document['engine']}")
    if run_url:
        facts.append(f"[run]({run_url})")
    lines += ["> " + " · ".join(facts), ""]
    blocks = [Block("\n".join(lines))]
    if problems:
        blocks.append(Block(f"### ❌ Validation problems ({len(problems)})\n\n"))
        blocks.append(
            Block(
                "",
                "table",
                header=["| file | line | code | problem |", "|---|---|---|---|"],
                rows=[_problem_row(p) for p in problems],
            )
        )
        blocks.append(Block("\n"))
    for env in environments:
        key = f"{env['deploymentId']}/{env['environment']}"
        blocks += _environment_blocks(env, previews.get(key))
    if not environments and not problems:
        blocks.append(Block("No deployment is affected by this change.\n"))
    return blocks


def _environment_blocks(env: Mapping[str, Any], preview: Mapping[str, Any] | None) -> list[Block]:
    title = f"### {env['deploymentId']} / {env['environment']}\n\n"
    outcomes = {stack["stack"]: stack for stack in (preview or {}).get("stacks", [])}
    acting = [e for e in env["entries"] if e["status"] in STATUS_ACTION]
    resting = [e for e in env["entries"] if e["status"] not in STATUS_ACTION]
    blocks = [Block(title)]
    if acting:
        blocks.append(
            Block(
                "",
                "table",
                header=[
                    "| stack | layer | action | + | ~ | - | ± | duration | why |",
                    "|---|---|---|---|---|---|---|---|---|",
                ],
                rows=[_entry_row(e, outcomes.get(e["stack"])) for e in acting],
            )
        )
    elif not env.get("removals"):
        blocks.append(Block("Nothing to change.\n"))
    if env.get("removals"):
        rows = [
            f"| `{r['stack']}` | {_cell(r['reason'])} | {_resources(r)} |" for r in env["removals"]
        ]
        blocks.append(
            Block(
                "\n#### 🗑️ To destroy (runs on merge only after approval in "
                "the protected environment)\n\n"
            )
        )
        blocks.append(
            Block("", "table", header=["| stack | why | resources |", "|---|---|---|"], rows=rows)
        )
    if resting:
        items = "\n".join(f"- `{e['stack']}`: {_cell(e['reason'])}" for e in resting)
        blocks.append(
            Block(
                f"\n<details><summary>{len(resting)} unchanged</summary>\n\n{items}\n\n</details>\n"
            )
        )
    if env.get("layers"):
        blocks.append(Block(_mermaid(env), "diagram"))
    for entry in acting:
        outcome = outcomes.get(entry["stack"])
        if outcome and outcome.get("changes"):
            blocks.append(Block(_preview(entry["stack"], outcome), "preview"))
    blocks.append(Block("\n"))
    return blocks


def _entry_row(entry: Mapping[str, Any], outcome: Mapping[str, Any] | None) -> str:
    counts = (outcome or {}).get("counts") or {}
    action = STATUS_ACTION[entry["status"]]
    if outcome is not None:
        if outcome.get("status") == "skipped":
            action = "no change"
        elif outcome.get("status") in ("failed", "blocked"):
            action = f"⚠️ {outcome['status']}"
        elif not any(counts.get(kind) for kind in SYMBOLS):
            action = "no change"
    numbers = " | ".join(str(counts.get(kind, 0)) if outcome else "" for kind in SYMBOLS)
    duration = f"{outcome['duration']:.1f}s" if outcome and outcome.get("duration") else ""
    why = (outcome or {}).get("error") or entry["reason"]
    return (
        f"| `{entry['stack']}` | {entry['layer']} | {action} | {numbers} | {duration} | "
        f"{_cell(why)} |"
    )


def _problem_row(problem: Mapping[str, Any]) -> str:
    return (
        f"| `{problem.get('file') or '-'}` | {problem.get('line') or ''} | "
        f"`{problem.get('code', '')}` | {_cell(str(problem.get('message', '')))} |"
    )


def _resources(removal: Mapping[str, Any]) -> str:
    resources = removal.get("resources") or []
    if not resources:
        return "the stack's resources (state not readable here)"
    shown = ", ".join(f"`{r}`" for r in resources[:8])
    return shown + (f" and {len(resources) - 8} more" if len(resources) > 8 else "")


def _mermaid(env: Mapping[str, Any]) -> str:
    statuses = {e["stack"]: e["status"] for e in env["entries"]}
    lines = ["flowchart LR"]
    for layer in env["layers"]:
        lines.append(f'  subgraph L{layer["layer"]}["Layer {layer["layer"]}"]')
        for name in layer["stacks"]:
            mark = {"new": " +", "changed": " ~", "pending-upstream": " …"}.get(
                statuses.get(name, ""), ""
            )
            lines.append(f'    {_node(name)}["{name}{mark}"]')
        lines.append("  end")
    for entry in env["entries"]:
        for upstream in entry.get("dependencies", []):
            lines.append(f"  {_node(upstream)} --> {_node(entry['stack'])}")
    body = "\n".join(lines)
    return "\n<details><summary>Layers</summary>\n\n```mermaid\n" + body + "\n```\n\n</details>\n"


def _preview(stack: str, outcome: Mapping[str, Any]) -> str:
    lines = []
    for change in outcome["changes"]:
        sign = SYMBOLS.get(change["kind"], " ")
        changed = f" ({', '.join(change['changedInputs'])})" if change.get("changedInputs") else ""
        lines.append(f"{sign} {change['type']} {change['name']}{changed}")
    return (
        f"\n<details><summary><code>{stack}</code> preview: {len(lines)} change(s)"
        f"</summary>\n\n```diff\n" + "\n".join(lines) + "\n```\n\n</details>\n"
    )


def _node(name: str) -> str:
    return "s_" + name.replace("-", "_")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


# --- size ---------------------------------------------------------------------------------


def _size(blocks: list[Block]) -> int:
    return sum(len(block.render()) for block in blocks)


def _pack(blocks: list[Block], limit: int) -> list[str]:
    """Blocks into bodies of at most `limit` characters, splitting only between blocks
    (and tables between rows, each part with its header)."""
    bodies: list[str] = []
    current = ""
    for block in _fitting(blocks, limit):
        text = block.render()
        if current and len(current) + len(text) > limit:
            bodies.append(current)
            current = ""
        current += text
    if current or not bodies:
        bodies.append(current)
    return bodies


def _fitting(blocks: list[Block], limit: int) -> Iterable[Block]:
    for block in blocks:
        if len(block.render()) <= limit:
            yield block
        elif block.kind == "table":
            header_size = sum(len(line) + 1 for line in block.header)
            chunk: list[str] = []
            size = header_size
            for row in block.rows:
                if chunk and size + len(row) + 1 > limit:
                    yield Block("", "table", header=block.header, rows=chunk)
                    chunk, size = [], header_size
                chunk.append(row[: limit - header_size - 1])
                size += len(chunk[-1]) + 1
            if chunk:
                yield Block("", "table", header=block.header, rows=chunk)
        else:
            yield Block(block.text[: limit - 40] + "\n_(cut: too long)_\n", block.kind)
