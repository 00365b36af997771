"""User-controlled strings in Markdown: literal text, never a link, a mention or markup."""

from __future__ import annotations

import pytest

from controller.core import markdown as md

ZW = md.ZWSP


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        pytest.param("config key vpcCidr changed", "config key vpcCidr changed", id="plain"),
        pytest.param(
            "[click](https:example.com)", rf"\[click\]\(https{ZW}:example.com\)", id="link"
        ),
        pytest.param("cc @octocat", f"cc @{ZW}octocat", id="mention"),
        pytest.param("ops@example.com", f"ops@{ZW}example.com", id="email"),
        pytest.param("fixes #12", rf"fixes \#{ZW}12", id="reference"),
        pytest.param("https://evil.example", f"https{ZW}://evil.example", id="url"),
        pytest.param("www.evil.example", f"www{ZW}.evil.example", id="www"),
        pytest.param("a | b", r"a \| b", id="pipe"),
        pytest.param("<details>", r"\<details\>", id="html"),
        pytest.param("**bold** _it_ `code`", r"\*\*bold\*\* \_it\_ \`code\`", id="emphasis"),
        pytest.param("two\nlines", "two lines", id="newline"),
    ],
)
def test_text_is_literal(given, shown):
    assert md.text(given) == shown


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        pytest.param("network", "`network`", id="plain"),
        pytest.param("a`b", "``a`b``", id="backtick"),
        pytest.param("`edge", "`` `edge ``", id="leading-backtick"),
        pytest.param("a|b", r"`a\|b`", id="pipe"),
        pytest.param("", "` `", id="empty"),
    ],
)
def test_code_spans_cannot_be_closed_from_inside(given, shown):
    assert md.code(given) == shown


def test_html_text_escapes_and_breaks_mentions():
    assert md.html_text('<b>@team</b> "x"') == f"&lt;b&gt;@{ZW}team&lt;/b&gt; &quot;x&quot;"


def test_a_fence_is_longer_than_any_backtick_run_inside():
    block = md.fenced("a ```` b", "diff")
    assert block.startswith("`````diff\n") and block.endswith("\n`````\n")


@pytest.mark.parametrize(
    ("url", "linked"),
    [
        ("https://github.com/acme/infra/actions/runs/99", True),
        ("https://github.com/acme/infra/commit/" + "a" * 40, True),
        ("javascript:alert(1)", False),
        ("https://evil.example/a b", False),
        ("https://evil.example/x)(y", False),
        (None, False),
    ],
)
def test_only_our_own_urls_become_links(url, linked):
    assert (md.link("run", url) != "run") is linked


def test_shas_are_checked_before_they_are_shortened_or_linked():
    assert md.short_sha("A1B2C3D4E5F6" + "0" * 28) == "a1b2c3d"
    assert md.short_sha("main") is None and md.full_sha("../../x") is None


def test_mermaid_labels_keep_only_harmless_characters():
    assert md.label('net"]:::evil\n[x') == "net_____evil _x"
