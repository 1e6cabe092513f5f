"""Templates: the placeholder language, value formatting and per-channel escaping (pure)."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest

from shared.channels.base import Channel
from shared.channels.render import html_to_text, placeholders, render, validate_template

PROFILE = {
    "address": "0x5aeda56215b167893e80b4fe645ba6d5bab767de",
    "score": 42.5678,
    "labels": ["whale", "voter"],
    "churn_state": "active",
    "p_alive": 0.83456,
    "first_seen": 1_709_251_200,  # 2024-03-01
    "last_active": Decimal("1735689600"),  # 2025-01-01, as DynamoDB returns numbers
    "holdings": {"summary": "120 KITH"},
    "name": "Ada",
}


def test_fields_render_with_readable_formatting() -> None:
    # Given a template over the profile fields the sender passes
    template = (
        "{{name}}: score {{ score }}, {{ labels }}, {{churn_state}}, p {{ p_alive }}, "
        "since {{ first_seen }}, last {{ last_active }}, holds {{ holdings.summary }}"
    )
    # When it is rendered as plain text
    text = render(template, PROFILE, Channel.XMTP)
    # Then numbers are rounded, lists joined and unix times shown as ISO dates
    assert text == (
        "Ada: score 42.57, whale, voter, active, p 0.8346, since 2024-03-01, last 2025-01-01, holds 120 KITH"
    )


def test_unknown_fields_render_empty_or_their_default() -> None:
    template = '[{{ missing }}] [{{ missing | default:"friend" }}] [{{ name | default:"friend" }}]'
    assert render(template, PROFILE, Channel.XMTP) == "[] [friend] [Ada]"
    assert render('{{ name | default:"a \\"quoted\\" friend" }}', {}, Channel.XMTP) == 'a "quoted" friend'


def test_values_that_look_like_placeholders_are_not_expanded_again() -> None:
    assert render("hi {{ name }}", {"name": "{{ address }}"}, Channel.XMTP) == "hi {{ address }}"


def test_booleans_and_empty_values() -> None:
    assert render("{{a}}/{{b}}/{{c}}/{{d}}", {"a": True, "b": False, "c": None, "d": []}, Channel.XMTP) == "yes/no//"


@pytest.mark.parametrize(
    ("template", "named"),
    [
        ("hi {{ name() }}", "name()"),
        ("{{ __import__('os') }}", "__import__"),
        ("{{ name | upper }}", "upper"),
        ("{{ }}", "{{ }}"),
        ("{{ a b }}", "a b"),
        ("{{ name | default:friend }}", "default:friend"),
    ],
)
def test_invalid_placeholders_are_named(template: str, named: str) -> None:
    with pytest.raises(ValueError, match="bad placeholder") as raised:
        validate_template(template)
    assert named in str(raised.value)


def test_an_unclosed_placeholder_is_reported() -> None:
    with pytest.raises(ValueError, match=re.escape("unclosed placeholder '{{ name'")):
        validate_template("hello {{ name")


def test_render_refuses_an_invalid_template_too() -> None:
    with pytest.raises(ValueError, match="bad placeholder"):
        render("{{ 1 + 1 }}", {}, Channel.WEBHOOK)


def test_placeholders_lists_fields_once_in_order() -> None:
    assert placeholders('{{ b }} {{a}} {{ b | default:"x" }} {{ c.d }}') == ["b", "a", "c.d"]


def test_email_and_telegram_values_are_html_escaped_but_the_template_is_not() -> None:
    # Given a contact name carrying markup and a template using HTML on purpose
    fields = {"name": '<script>alert("x")</script> & co'}
    for channel in (Channel.EMAIL, Channel.TELEGRAM):
        # When rendered for an HTML channel
        text = render("<b>Hello</b> {{ name }}", fields, channel)
        # Then the author's tags stay and the value cannot inject any
        assert text == "<b>Hello</b> &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co"


def test_email_defaults_are_escaped_like_values() -> None:
    assert render('{{ name | default:"<i>you</i>" }}', {}, Channel.EMAIL) == "&lt;i&gt;you&lt;/i&gt;"


def test_discord_values_are_markdown_escaped() -> None:
    text = render(
        "**Hi** {{ name }}", {"name": "**bold** _it_ `code` ||spoiler|| [link](http://x) > q"}, Channel.DISCORD
    )
    assert text == r"**Hi** \*\*bold\*\* \_it\_ \`code\` \|\|spoiler\|\| \[link\](http://x) \> q"


@pytest.mark.parametrize("mention", ["@everyone", "@here", "@Everyone"])
def test_discord_mass_mentions_in_values_are_neutralised(mention: str) -> None:
    text = render("gm {{ name }}", {"name": f"{mention} free airdrop"}, Channel.DISCORD)
    assert mention not in text
    assert text == f"gm @\u200b{mention[1:]} free airdrop"


def test_webhook_and_xmtp_values_are_unescaped_and_survive_json() -> None:
    # Given a value with quotes, markup and a newline
    fields = {"name": 'Ada "the" <b>\n'}
    for channel in (Channel.WEBHOOK, Channel.XMTP):
        text = render("hi {{ name }}", fields, channel)
        assert text == 'hi Ada "the" <b>\n'
    # Then JSON encoding is what escapes it on the wire, and it round-trips exactly
    assert (
        json.loads(json.dumps({"body": render("hi {{ name }}", fields, Channel.WEBHOOK)}))["body"]
        == 'hi Ada "the" <b>\n'
    )


def test_html_to_text_gives_the_plain_part_unescaped() -> None:
    markup = render(
        '<p>Hello {{ name }},</p><p>See <a href="https://kith.example/c">your stats</a>.<br>Bye</p>'
        "<style>p { color: red }</style>",
        {"name": "Ada & <Bob>"},
        Channel.EMAIL,
    )
    assert html_to_text(markup) == "Hello Ada & <Bob>,\nSee your stats (https://kith.example/c).\nBye"
