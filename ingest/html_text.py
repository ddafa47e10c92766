"""HTML fragment → plain text with paragraph breaks (feed bodies, not whole pages).

Whole pages go through trafilatura (pages.py), which finds the main text among boilerplate.
Feed bodies are already the article, so they only need tags removed: scripts, styles and
iframes dropped, block elements turned into blank-line paragraph breaks, which the date
resolver later uses as paragraph boundaries.
"""

from __future__ import annotations

import html
import re

import lxml.html
from lxml.etree import ParserError
from lxml_html_clean import Cleaner

_BLOCKS = {
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
    "blockquote", "pre", "table", "tr", "section", "article", "header", "footer",
}
_CLEANER = Cleaner(
    scripts=True, javascript=True, comments=True, style=True, inline_style=True,
    links=True, meta=True, page_structure=False, processing_instructions=True,
    embedded=True, frames=True, forms=True, annoying_tags=True, remove_unknown_tags=False,
    safe_attrs_only=True,
    # The cleaner unwraps embedded elements and keeps their fallback text; it is not the article.
    kill_tags=["iframe", "frame", "object", "embed", "applet", "noscript", "template"],
)
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BREAKS = re.compile(r"\n\s*\n+")


def looks_like_html(text: str) -> bool:
    return bool(re.search(r"<(p|div|br|span|a|b|i|em|strong|ul|li|h\d|table)\b", text, re.I))


def html_to_text(fragment: str) -> str:
    if not fragment or not fragment.strip():
        return ""
    if not looks_like_html(fragment):
        # Feeds deliver plain-text bodies HTML-escaped ("S&amp;P 500"): decode entities too.
        return _tidy(html.unescape(fragment))
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
        root = _CLEANER.clean_html(root)
    except (ParserError, ValueError):
        return _tidy(re.sub(r"<[^>]+>", " ", fragment))
    parts: list[str] = []

    def walk(el) -> None:
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag in _BLOCKS:
            parts.append("\n\n")
        if el.text:
            parts.append(el.text)
        for child in el:
            walk(child)
            if child.tail:
                parts.append(child.tail)
        if tag in _BLOCKS:
            parts.append("\n\n")

    walk(root)
    return _tidy("".join(parts))


def _tidy(text: str) -> str:
    lines = [_SPACES.sub(" ", line).strip() for line in text.replace("\xa0", " ").split("\n")]
    return _BREAKS.sub("\n\n", "\n".join(lines)).strip()
