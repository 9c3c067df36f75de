"""The access report a person reads: Markdown, and one HTML file that
opens in any browser (no scripts, no external files)."""

from __future__ import annotations

import html
import json
from typing import Any

from retention.access.bundle import AccessBundle, CategoryHeld

NOTHING = "We hold no personal data about you in any of our systems."


def to_markdown(bundle: AccessBundle) -> str:
    lines = [
        f"# What {bundle.controller} holds about you",
        "",
        f"Request {bundle.request_id}, answered {bundle.generated_at} from the systems "
        f"{', '.join(bundle.systems_answered)}; policy {bundle.policy_name} "
        f"sha256:{bundle.policy_hash[:12]}.",
        "",
    ]
    if bundle.nothing_held:
        return "\n".join([*lines, NOTHING, ""])
    lines.append(f"{bundle.record_count} record(s) in {len(bundle.categories)} categories.")
    for held in bundle.categories:
        lines += ["", *_category_md(held)]
    return "\n".join(lines) + "\n"


def _category_md(held: CategoryHeld) -> list[str]:
    c = held.category
    lines = [
        f"## {c.qualified} ({len(held.records)} record(s))",
        "",
        f"- **Purpose:** {c.purpose}",
        f"- **Legal basis:** {c.legal_basis}",
    ]
    for k in c.keeping:
        lines.append(f"- **How long ({k.kind} {k.id}):** {k.text}. Why: {k.why}")
    lines += [f"- **Also:** {note}" for note in c.notes]
    for record in held.records:
        lines += ["", f"### Record {record.key}", ""]
        lines += [f"- {name}: {_md(value)}" for name, value in record.data.items()]
        for d in record.dates:
            when = d.date or "no date yet"
            lines.append(
                f"- **{d.kind} ({d.rule_or_hold}):** {when}{f' ({d.note})' if d.note else ''}"
            )
    return lines


def _md(value: Any) -> str:
    text = (
        ""
        if value is None
        else json.dumps(value, ensure_ascii=False)
        if isinstance(value, list)
        else str(value)
    )
    # Stored text is shown, never interpreted as Markdown.
    return "`" + text.replace("`", "'").replace("\n", " ") + "`" if text else "(empty)"


def to_html(bundle: AccessBundle) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>What {e(bundle.controller)} holds about you</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;"
        "text-align:left;vertical-align:top}</style></head><body>",
        f"<h1>What {e(bundle.controller)} holds about you</h1>",
        f"<p>Request {e(bundle.request_id)}, answered {e(bundle.generated_at)} from the "
        f"systems {e(', '.join(bundle.systems_answered))}; policy {e(bundle.policy_name)} "
        f"sha256:{e(bundle.policy_hash[:12])}.</p>",
    ]
    if bundle.nothing_held:
        parts.append(f"<p><strong>{e(NOTHING)}</strong></p>")
    for held in bundle.categories:
        c = held.category
        parts.append(f"<h2>{e(c.qualified)} ({len(held.records)} record(s))</h2><ul>")
        parts.append(f"<li><b>Purpose:</b> {e(c.purpose)}</li>")
        parts.append(f"<li><b>Legal basis:</b> {e(c.legal_basis)}</li>")
        for k in c.keeping:
            parts.append(
                f"<li><b>How long ({e(k.kind)} {e(k.id)}):</b> {e(k.text)}. Why: {e(k.why)}</li>"
            )
        parts += [f"<li><b>Also:</b> {e(note)}</li>" for note in c.notes]
        parts.append("</ul>")
        for record in held.records:
            parts.append(f"<h3>Record {e(record.key)}</h3><table>")
            for name, value in record.data.items():
                shown = "" if value is None else str(value)
                parts.append(f"<tr><th>{e(name)}</th><td>{e(shown)}</td></tr>")
            for d in record.dates:
                when = d.date or "no date yet"
                note = f" ({d.note})" if d.note else ""
                parts.append(
                    f"<tr><th>{e(d.kind)} ({e(d.rule_or_hold)})</th><td>{e(when + note)}</td></tr>"
                )
            parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
