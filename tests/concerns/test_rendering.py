"""User-written Markdown becomes safe HTML, on concerns and on messages alike."""

import html
import re

import pytest
from django.urls import reverse

from concerns import services
from concerns.rendering import render_markdown
from tests import factories

REL = 'rel="nofollow noopener noreferrer"'


def prose(response) -> str:
    """The user-written parts of a page: the concern body and the messages."""
    return "\n".join(re.findall(r'<div class="prose">(.*?)</div>', response.content.decode(), re.S))


def test_markdown_is_rendered():
    rendered = render_markdown(
        "Why do we *sell* this?\n\n- to **police**\n- to `agencies`\n\n> quoted\n\n### Heading"
    )

    assert "<em>sell</em>" in rendered
    assert "<li>to <strong>police</strong></li>" in rendered
    assert "<code>agencies</code>" in rendered
    assert "<blockquote>" in rendered
    assert "<h3>Heading</h3>" in rendered


def test_markdown_tables_are_kept():
    rendered = render_markdown("| a | b |\n|---|---|\n| 1 | 2 |")

    assert "<table>" in rendered
    assert "<td>1</td>" in rendered


@pytest.mark.parametrize(
    ("written", "must_not_contain"),
    [
        pytest.param("<script>alert(1)</script>", ["<script"], id="script"),
        pytest.param("<SCRIPT SRC=//evil.test/x.js></SCRIPT>", ["<script", "evil.test"], id="src"),
        pytest.param("<img src=x onerror=alert(1)>", ["onerror", "<img"], id="onerror"),
        pytest.param('<p onclick="alert(1)">hi</p>', ["onclick"], id="onclick"),
        pytest.param("<svg onload=alert(1)>", ["<svg", "onload"], id="svg"),
        pytest.param("[click](javascript:alert(1))", ["javascript:"], id="markdown js link"),
        pytest.param('<a href="javascript:alert(1)">x</a>', ["javascript:"], id="html js link"),
        pytest.param('<a href="JaVaScRiPt:alert(1)">x</a>', ["javascript"], id="mixed case js"),
        pytest.param("[x](&#106;avascript:alert(1))", ["avascript"], id="entity js"),
        pytest.param('<a href="data:text/html,<b>x</b>">x</a>', ["data:"], id="data link"),
        pytest.param('<iframe src="https://evil.test"></iframe>', ["<iframe"], id="iframe"),
        pytest.param('<p style="position:fixed">hi</p>', ["style="], id="style attribute"),
        pytest.param("<style>body{display:none}</style>", ["<style"], id="style element"),
        pytest.param('para\n{: style="color:red" }', ["style="], id="markdown attribute list"),
        pytest.param('<form action="/x"><input name="q"></form>', ["<form", "<input"], id="form"),
        pytest.param('<object data="x.swf"></object>', ["<object"], id="object"),
    ],
)
def test_dangerous_markup_is_removed(written, must_not_contain):
    rendered = render_markdown(f"Before.\n\n{written}\n\nAfter.")

    for fragment in must_not_contain:
        assert fragment not in rendered.lower()
    assert "<p>Before.</p>" in rendered
    assert "<p>After.</p>" in rendered


def test_text_that_looks_like_html_inside_code_is_shown_as_written():
    rendered = render_markdown("`<script>alert(1)</script>`")

    # Escaped once, so the reader sees "<script>", not "&lt;script&gt;".
    assert "<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>" in rendered


def test_a_code_block_is_shown_as_written():
    rendered = render_markdown("    if a < b and c & d:\n        pass")

    assert "<pre><code>if a &lt; b and c &amp; d:" in rendered


@pytest.mark.parametrize(
    "written",
    [
        "[the report](https://example.test/report)",
        '<a href="https://example.test/report">the report</a>',
        '<a href="https://example.test/report" rel="opener" target="_blank">the report</a>',
        "See https://example.com/report now",
    ],
)
def test_links_are_marked_nofollow_noopener_noreferrer(written):
    rendered = render_markdown(written)

    links = re.findall(r"<a [^>]*>", rendered)
    assert links, rendered
    for link in links:
        assert re.search(r'href="https://example\.(test|com)/report"', link)
        assert REL in link
        assert "target=" not in link
        assert "opener" not in link.replace(REL, "")


def test_mail_links_are_kept():
    rendered = render_markdown("[write to us](mailto:ethics@example.test)")

    assert 'href="mailto:ethics@example.test"' in rendered


def test_links_inside_code_are_not_made_clickable():
    rendered = render_markdown("`https://example.com/report`\n\n    https://example.com/code")

    assert "<a " not in rendered
    assert "https://example.com/report" in rendered


@pytest.mark.django_db
def test_a_concern_page_shows_the_body_sanitised(client):
    concern = factories.open_concern(
        body='*Why* <script>alert("body")</script> [x](javascript:alert(1)) '
        '<img src=x onerror=alert(1)> <iframe src="https://evil.test"></iframe> '
        "[report](https://example.test)"
    )
    client.force_login(factories.person())

    response = client.get(reverse("concerns:detail", args=[concern.pk]))

    shown = prose(response)
    assert "<em>Why</em>" in shown
    assert 'alert("body")</script>' not in response.content.decode()
    for fragment in ("<script", "javascript:", "onerror", "<iframe"):
        assert fragment not in shown
    assert f'<a href="https://example.test" {REL}>report</a>' in shown


@pytest.mark.django_db
def test_messages_use_the_same_sanitiser_as_concerns():
    written = (
        '**Which** team? <script>alert(1)</script> <a href="javascript:alert(1)">x</a> '
        '<p style="color:red">red</p> https://example.test'
    )
    concern = factories.submission(anonymous=True).concern

    asked = services.message_ask(concern=concern, author=factories.moderator(), body=written)

    assert asked.body_html == render_markdown(written)
    assert asked.body == written
    for fragment in ("<script", "javascript:", "style="):
        assert fragment not in asked.body_html
    assert REL in asked.body_html


@pytest.mark.django_db
def test_a_submitters_answer_is_sanitised_on_both_pages(client):
    submission = factories.submission(anonymous=True)
    moderator = factories.moderator()
    answer = "*Vision* team <script>alert(1)</script><img src=x onerror=alert(2)>"

    on_receipt_page = client.post(
        reverse("concerns:receipt-reply"), {"receipt": submission.receipt, "body": answer}
    )
    client.force_login(moderator)
    on_concern_page = client.get(reverse("concerns:detail", args=[submission.concern.pk]))

    for response in (on_receipt_page, on_concern_page):
        shown = prose(response)
        assert "<em>Vision</em> team" in shown
        assert "<script" not in shown
        assert "onerror" not in shown
        assert "alert(2)" not in html.unescape(shown)


@pytest.mark.django_db
def test_titles_are_escaped_not_rendered(client):
    concern = factories.open_concern(title='<script>alert("title")</script> *not emphasis*')
    client.force_login(factories.person())

    response = client.get(reverse("concerns:detail", args=[concern.pk]))

    content = response.content.decode()
    assert '<script>alert("title")' not in content
    assert "&lt;script&gt;" in content
    assert "*not emphasis*" in content
