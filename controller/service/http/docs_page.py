"""The `/docs` page: the OpenAPI document as one readable HTML page, with no script.

Swagger UI would need a CDN (or a vendored bundle) and JavaScript; an operator behind a
firewall, or reading the docs of a laptop instance, needs neither. Each endpoint shows
its method, path, summary, required permission, parameters, and the schemas of its body
and reply (collapsed). The stylesheet is served from the same origin, so the page works
under the service's `Content-Security-Policy: default-src 'self'`.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

DOCS_CSS = """
body { font: 15px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 70rem;
       padding: 1rem 2rem; color: #1d2733; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ccd; }
.op { border: 1px solid #dde; border-radius: 6px; margin: 0.8rem 0;
      padding: 0.5rem 0.9rem; }
.method { display: inline-block; min-width: 4.5rem; font-weight: 700; font-family: monospace; }
.GET { color: #1a7f37; } .POST { color: #0b62c4; }
.PUT { color: #9a6700; } .DELETE { color: #c4231a; }
code, pre { font-family: ui-monospace, monospace; font-size: 0.85rem; }
pre { background: #f5f6f8; padding: 0.6rem; overflow-x: auto; }
.perm { float: right; font-size: 0.8rem; color: #5a6572; }
table { border-collapse: collapse; font-size: 0.85rem; }
td, th { padding: 0.15rem 0.6rem; text-align: left; }
"""


def render_docs(document: dict[str, Any]) -> str:
    info = document["info"]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(info['title'])}</title>",
        "<link rel='stylesheet' href='/docs/docs.css'></head><body>",
        f"<h1>{escape(info['title'])} <small>v{escape(info['version'])}</small></h1>",
        f"<p>{escape(info.get('description', ''))}</p>",
        "<p>Authenticate with <code>Authorization: Bearer &lt;accessToken&gt;</code> "
        "(from <code>POST /api/v1/auth/login</code>) or <code>X-API-Key: msk_live_…</code>. "
        "Every response is <code>{success, data | error, meta}</code>. The machine-readable "
        "document is <a href='/api/v1/openapi.json'>/api/v1/openapi.json</a>.</p>",
    ]
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            by_tag.setdefault(operation["tags"][0], []).append((method.upper(), path, operation))
    for tag, operations in by_tag.items():
        parts.append(f"<h2 id='{escape(tag)}'>{escape(tag)}</h2>")
        parts += [_operation(method, path, op) for method, path, op in operations]
    parts += _errors(document.get("x-error-codes", []))
    parts.append("<h2 id='schemas'>Schemas</h2>")
    for name, schema in document["components"]["schemas"].items():
        parts.append(f"<div id='schema-{escape(name)}'>{_details(name, schema)}</div>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _operation(method: str, path: str, operation: dict[str, Any]) -> str:
    html = [
        "<div class='op'>",
        f"<span class='perm'>{escape(operation.get('x-permission', ''))}</span>",
        f"<span class='method {method}'>{method}</span> <code>{escape(path)}</code>",
        f"<div>{escape(operation.get('summary', ''))}</div>",
    ]
    parameters = operation.get("parameters", [])
    if parameters:
        rows = "".join(
            f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p['in'])}</td>"
            f"<td>{'required' if p.get('required') else ''}</td>"
            f"<td><code>{escape(json.dumps(p.get('schema', {})))}</code></td></tr>"
            for p in parameters
        )
        html.append(
            f"<table><tr><th>parameter</th><th>in</th><th></th><th>schema</th></tr>{rows}</table>"
        )
    body = operation.get("requestBody")
    if body:
        media, content = next(iter(body["content"].items()))
        kind = "" if media == "application/json" else f" ({escape(media)})"
        html.append(f"<div><small>body{kind}: {_link(content['schema'])}</small></div>")
    replies = []
    for status, response in operation.get("responses", {}).items():
        content = response.get("content", {}).get("application/json", {}).get("schema", {})
        data = content.get("properties", {}).get("data")
        replies.append(f"{escape(status)}" + (f" ({_link(data)})" if data else ""))
    html.append(f"<div><small>responses: {', '.join(replies)}</small></div>")
    html.append("</div>")
    return "".join(html)


def _errors(codes: list[dict[str, Any]]) -> list[str]:
    """One section per error code: where every error's `documentationUrl` points."""
    parts = [
        "<h2 id='errors'>Errors</h2>",
        "<p>Every error is <code>{success: false, error: {code, message, details, suggestion, "
        "documentationUrl}}</code>; <code>documentationUrl</code> points here.</p>",
    ]
    for item in codes:
        code = escape(item["code"])
        status = item["status"] if item["status"] is not None else "in operations"
        parts.append(
            f"<div class='op' id='error-{code}'><code>{code}</code> "
            f"<small>({escape(str(status))})</small><div>{escape(item['description'])}</div>"
            "</div>"
        )
    return parts


def _link(schema: dict[str, Any]) -> str:
    ref = schema.get("$ref", "")
    if not ref:
        return "<code>object</code>"
    name = escape(ref.rsplit("/", 1)[-1])
    return f"<a href='#schema-{name}'>{name}</a>"


def _details(title: str, schema: Any) -> str:
    text = escape(json.dumps(schema, indent=2))
    return f"<details><summary>{escape(title)}</summary><pre>{text}</pre></details>"
