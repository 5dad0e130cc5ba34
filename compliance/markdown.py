"""User Markdown to safe HTML: render with Python-Markdown, then clean with one nh3 Cleaner."""

from __future__ import annotations

import markdown as md
import nh3
from markupsafe import Markup

ALLOWED_TAGS = {
    "p", "br", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li", "a", "hr",
    "h1", "h2", "h3", "h4", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip


def _is_absolute(url: str) -> bool:
    return url.startswith(("https://", "mailto:"))


# Only absolute https and mailto links survive: relative URLs could resolve to file: in a PDF.
_CLEANER = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    attributes={"a": {"href", "title"}},
    url_schemes={"https", "mailto"},
    link_rel="noopener noreferrer nofollow",
    strip_comments=True,
    attribute_filter=lambda tag, attr, value: (
        value if attr != "href" or _is_absolute(value) else None
    ),
)


def render_markdown(text: str | None) -> Markup:
    """Markdown written by a user, as HTML safe to put in a page or a PDF."""
    html = md.markdown(text or "", extensions=["tables", "fenced_code", "sane_lists"])
    return Markup(_CLEANER.clean(html))  # noqa: S704 - cleaned by nh3 just above
