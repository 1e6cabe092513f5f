"""Message templates: `{{ field }}` and `{{ field | default:"text" }}`, nothing else.

The language cannot run code, loop or call anything, so a campaign author cannot reach past the
fields the sender passes. Fields come from wallet profiles and contacts, which anyone can influence
(a token name, an ENS name, a contact's name), so every substituted value is escaped for the channel
it goes to. The template's own text is the author's and is kept as written: HTML for email and
Telegram, Discord markdown for Discord, plain text for XMTP and the webhook.

  email     values HTML-escaped; the email adapter derives the plain-text part with html_to_text
  telegram  values HTML-escaped (the adapter sends parse_mode=HTML)
  discord   values markdown-escaped, and @everyone / @here broken so they can never ping
  webhook   values as they are: the text travels as a JSON string, which JSON encoding escapes
  xmtp      values as they are: plain text

Values render as: None -> "" (or the default); lists -> comma-joined; true/false -> yes/no; numbers
rounded for reading; unix timestamps in fields like first_seen / last_active / *_at -> an ISO date.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from html.parser import HTMLParser

from shared.channels.base import Channel

_FIELD = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_EXPRESSION = re.compile(
    rf'^\s*(?P<field>{_FIELD})\s*(?:\|\s*default\s*:\s*"(?P<default>(?:[^"\\]|\\.)*)"\s*)?$', re.DOTALL
)
_DATE_FIELDS = frozenset({"first_seen", "last_active", "last_seen"})
_DATE_SUFFIXES = ("_at", "_date")
_DISCORD_SPECIAL = re.compile(r"([\\*_~`|<>\[\]#-])")
_MASS_MENTION = re.compile(r"@(everyone|here)", re.IGNORECASE)
MAX_TEMPLATE_CHARS = 20_000
MAX_PLACEHOLDER_CHARS = 300  # a field path and a default; longer is a mistake, and bounds the regex below


class _Placeholder:
    __slots__ = ("default", "field")

    def __init__(self, field: str, default: str | None) -> None:
        self.field = field
        self.default = default


def _parse(template: str) -> list[str | _Placeholder]:
    """The template as literal text and placeholders; ValueError names the first bad placeholder."""
    if len(template) > MAX_TEMPLATE_CHARS:
        raise ValueError(f"the template has {len(template)} characters; the limit is {MAX_TEMPLATE_CHARS}")
    # One left-to-right pass with str.find: each character is looked at a bounded number of times, so an
    # unclosed `{{` (or thousands of them) costs linear time, where a lazy regex rescanned to the end each time.
    parts: list[str | _Placeholder] = []
    position = 0
    while (start := template.find("{{", position)) != -1:
        end = template.find("}}", start + 2)
        if end == -1:
            raise ValueError(f"unclosed placeholder {template[start : start + 40]!r}: close it with }}}}")
        parts.append(template[position:start])
        inner = template[start + 2 : end]
        expression = _EXPRESSION.match(inner) if len(inner) <= MAX_PLACEHOLDER_CHARS else None
        if expression is None:
            shown = template[start : min(end + 2, start + 60)]
            raise ValueError(f'bad placeholder {shown!r}: write {{{{ field }}}} or {{{{ field | default:"text" }}}}')
        default = expression.group("default")
        parts.append(_Placeholder(expression.group("field"), _unescape_default(default)))
        position = end + 2
    parts.append(template[position:])
    return parts


def _unescape_default(default: str | None) -> str | None:
    return None if default is None else re.sub(r"\\(.)", r"\1", default, flags=re.DOTALL)


def validate_template(template: str) -> None:
    """Raise ValueError naming the first placeholder that is not `{{ field }}` or `{{ field | default:"x" }}`."""
    _parse(template)


def placeholders(template: str) -> list[str]:
    """The field names a template uses, in order of first use."""
    seen: dict[str, None] = {}
    for part in _parse(template):
        if isinstance(part, _Placeholder):
            seen.setdefault(part.field, None)
    return list(seen)


def render(template: str, fields: Mapping[str, object], channel: Channel) -> str:
    out: list[str] = []
    for part in _parse(template):
        if isinstance(part, str):
            out.append(part)
            continue
        text = format_value(part.field, _lookup(fields, part.field))
        if not text and part.default is not None:
            text = part.default
        out.append(escape(text, channel))
    return "".join(out)


def _lookup(fields: Mapping[str, object], dotted: str) -> object:
    current: object = fields
    for name in dotted.split("."):
        if not isinstance(current, Mapping) or name not in current:
            return None
        current = current[name]
    return current


def format_value(field: str, value: object) -> str:
    leaf = field.rsplit(".", 1)[-1]
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).date().isoformat() if value.tzinfo else value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int | float | Decimal):
        if _is_date_field(leaf) and value > 0:
            return dt.datetime.fromtimestamp(float(value), tz=dt.UTC).date().isoformat()
        return _format_number(value)
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return ", ".join(f"{key}: {format_value(str(key), item)}" for key, item in value.items())
    if isinstance(value, Iterable):
        return ", ".join(format_value(leaf, item) for item in value)
    return str(value)


def _is_date_field(name: str) -> bool:
    return name in _DATE_FIELDS or name.endswith(_DATE_SUFFIXES)


def _format_number(value: int | float | Decimal) -> str:
    if isinstance(value, int) or (isinstance(value, Decimal) and value == value.to_integral_value()):
        return str(int(value))
    number = float(value)
    if abs(number) >= 1:
        text = f"{number:.2f}"
    else:
        text = f"{number:.4g}"
        if "e" in text:
            text = f"{number:.8f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def escape(text: str, channel: Channel) -> str:
    if channel in (Channel.EMAIL, Channel.TELEGRAM):
        return html.escape(text, quote=True)
    if channel is Channel.DISCORD:
        return escape_discord(text)
    return text


def escape_discord(text: str) -> str:
    """Markdown shown as typed, and mass mentions broken with a zero-width space so they cannot ping."""
    escaped = _DISCORD_SPECIAL.sub(r"\\\1", text)
    return _MASS_MENTION.sub("@\u200b\\1", escaped)


class _TextExtractor(HTMLParser):
    _BREAKS = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"})
    _SKIPPED = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._links: list[str | None] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIPPED:
            self._skipping += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "a":
            self._links.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag == "a" and self._links:
            href = self._links.pop()
            if href and not href.startswith("mailto:"):
                self.parts.append(f" ({href})")
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """The plain-text alternative of an HTML email: tags dropped, entities decoded, links kept as (url)."""
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
