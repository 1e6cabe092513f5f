"""The sinks' HTML page: recent deliveries and the emails moto's SES kept, for a person to read."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import Any

PAGE_LIMIT = 200
_PAGE_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; width: 100%; margin-bottom: 2rem; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.35rem 0.5rem; text-align: left; vertical-align: top; }
td pre { margin: 0; white-space: pre-wrap; word-break: break-word; max-width: 60rem; }
.bad { color: #b00020; } .ok { color: #0a7d32; }
iframe { width: 100%; height: 12rem; border: 1px solid #ddd; }
"""


def _summary(record: Mapping[str, Any]) -> str:
    body = record.get("body")
    if isinstance(body, dict):
        for key in ("content", "text", "body"):
            if isinstance(body.get(key), str):
                return body[key]
    return json.dumps(body, default=str)[:500]


def render_page(records: list[dict[str, Any]], emails: list[dict[str, Any]], email_problem: str) -> str:
    rows = []
    for record in records:
        status = int(record["status"])
        signature = record.get("signature_valid")
        signed = "" if signature is None else ("signature ok" if signature else "<span class=bad>bad signature</span>")
        css = "ok" if 200 <= status < 300 else "bad"
        rows.append(
            "<tr>"
            f"<td>{record['seq']}</td><td>{html.escape(str(record['received_at'])[11:19])}</td>"
            f"<td>{html.escape(record['kind'])}</td><td>{html.escape(record['path'])}</td>"
            f"<td class={css}>{status}</td><td>{signed}</td>"
            f"<td><pre>{html.escape(_summary(record))}</pre></td>"
            "</tr>"
        )
    mails = []
    for mail in emails:
        to = ", ".join(address for addresses in (mail.get("destinations") or {}).values() for address in addresses)
        mails.append(
            "<tr>"
            f"<td>{html.escape(str(mail.get('source')))}</td><td>{html.escape(to)}</td>"
            f"<td>{html.escape(str(mail.get('subject')))}</td>"
            # sandbox="" runs no script and loads nothing: campaign HTML is shown, never executed
            f'<td><iframe sandbox="" srcdoc="{html.escape(str(mail.get("body") or ""), quote=True)}"></iframe></td>'
            "</tr>"
        )
    email_note = f"<p class=bad>{html.escape(email_problem)}</p>" if email_problem else ""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="10">
<title>Kith local deliveries</title><style>{_PAGE_STYLE}</style></head>
<body>
<h1>Kith local deliveries</h1>
<p>Every webhook, Discord, Telegram and XMTP message the local cloud sent (newest first, the last {PAGE_LIMIT}),
then the emails moto's SES accepted. JSON: <a href="/_deliveries">/_deliveries</a>,
<a href="/_emails">/_emails</a>. This page refreshes every 10 s.</p>
<h2>Deliveries ({len(records)})</h2>
<table><tr><th>#</th><th>time (UTC)</th><th>channel</th><th>path</th><th>status</th><th>signature</th>
<th>message</th></tr>
{"".join(rows) or "<tr><td colspan=7>nothing yet</td></tr>"}</table>
<h2>Emails ({len(emails)})</h2>{email_note}
<table><tr><th>from</th><th>to</th><th>subject</th><th>body</th></tr>
{"".join(mails) or "<tr><td colspan=4>nothing yet</td></tr>"}</table>
</body></html>
"""
