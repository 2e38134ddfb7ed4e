"""The one place user-written Markdown becomes HTML. Everything a person types goes
through `render_markdown`, so there is a single allow-list to review."""

import bleach
import markdown

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "blockquote", "br", "code", "del", "em", "h3", "h4", "h5", "h6",
        "hr", "li", "ol", "p", "pre", "strong", "table", "tbody", "td", "th", "thead",
        "tr", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": ["href", "title"], "abbr": ["title"], "td": ["align"], "th": ["align"]}
ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto"})


def _link_attributes(attrs: dict, new: bool = False) -> dict:
    attrs[(None, "rel")] = "nofollow noopener noreferrer"
    return attrs


def render_markdown(text: str) -> str:
    html = markdown.markdown(text, extensions=["extra", "sane_lists"], output_format="html")
    cleaned = bleach.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        protocols=ALLOWED_PROTOCOLS,
        strip=True,
    )
    return bleach.linkify(cleaned, callbacks=[_link_attributes], skip_tags={"pre", "code"})
