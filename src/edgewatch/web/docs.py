"""/api/docs: the OpenAPI description as one plain HTML page, made here.

FastAPI's Swagger UI and ReDoc pages load their scripts from a CDN, and boxes are often
offline; this page needs nothing but the box. The machine-readable description is at
/api/openapi.json for tools that want it.
"""

from __future__ import annotations

import html
import json

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;
color:#1d232a;background:#fafbfc}
h1{margin-bottom:.2rem} h2{margin-top:2rem;border-bottom:1px solid #d0d7de}
.op{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:.6rem 1rem;margin:.8rem 0}
.method{display:inline-block;min-width:4rem;font-weight:700;color:#0a6}
.post{color:#c60} code,pre{font:13px ui-monospace,monospace} pre{background:#f3f4f6;
padding:.5rem;overflow:auto;max-height:18rem} table{border-collapse:collapse}
td,th{text-align:left;padding:.15rem .6rem .15rem 0;vertical-align:top} .muted{color:#57606a}
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def _schema_name(schema: dict) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if schema.get("type") == "array":
        return f"list of {_schema_name(schema.get('items', {}))}"
    if "anyOf" in schema:
        return " or ".join(_schema_name(s) for s in schema["anyOf"])
    return schema.get("type", "object")


def _operation(path: str, method: str, op: dict) -> str:
    parts = [
        f'<div class="op"><span class="method {method}">{method.upper()}</span> '
        f"<code>{_e(path)}</code> — {_e(op.get('summary', ''))}"
    ]
    if op.get("description"):
        parts.append(f"<p>{_e(op['description'])}</p>")
    params = op.get("parameters", [])
    if params:
        parts.append("<table><tr><th>parameter</th><th>in</th><th>type</th><th></th></tr>")
        for p in params:
            schema = p.get("schema", {})
            default = f" (default {_e(schema['default'])})" if "default" in schema else ""
            parts.append(
                f"<tr><td><code>{_e(p['name'])}</code></td><td>{_e(p['in'])}</td>"
                f"<td>{_e(_schema_name(schema))}{default}</td>"
                f"<td class=muted>{_e(p.get('description', ''))}</td></tr>"
            )
        parts.append("</table>")
    for status, answer in op.get("responses", {}).items():
        content = answer.get("content", {})
        kinds = ", ".join(
            f"{_e(media)}" + (f" ({_e(_schema_name(c['schema']))})" if c.get("schema") else "")
            for media, c in content.items()
        )
        what = kinds or _e(answer.get("description"))
        parts.append(f"<div class=muted>{_e(status)}: {what}</div>")
    parts.append("</div>")
    return "".join(parts)


def docs_page(openapi: dict) -> str:
    info = openapi.get("info", {})
    body = [
        f"<h1>{_e(info.get('title', 'API'))} API</h1>",
        f"<p>{_e(info.get('summary', ''))}</p><p>{_e(info.get('description', ''))}</p>",
        '<p>Machine-readable: <a href="/api/openapi.json">/api/openapi.json</a></p>',
    ]
    by_tag: dict[str, list[str]] = {}
    for path, methods in openapi.get("paths", {}).items():
        for method, op in methods.items():
            tag = (op.get("tags") or ["other"])[0]
            by_tag.setdefault(tag, []).append(_operation(path, method, op))
    for tag, ops in by_tag.items():
        body.append(f"<h2>{_e(tag)}</h2>" + "".join(ops))
    schemas = openapi.get("components", {}).get("schemas", {})
    if schemas:
        body.append("<h2>schemas</h2>")
        for name, schema in schemas.items():
            body.append(f"<h3>{_e(name)}</h3><pre>{_e(json.dumps(schema, indent=1))}</pre>")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>edgewatch API</title><style>{_STYLE}</style></head><body>"
        + "".join(body)
        + "</body></html>"
    )
