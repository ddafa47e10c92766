"""HTML article pages: main text and title by trafilatura, publication date by htmldate.

The date follows trafilatura's habit of trying the precise method first and recording which
one answered: page metadata (meta tags, JSON-LD) → the URL → the visible text → none.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import urlsplit

import lxml.html
import trafilatura
from htmldate.core import (
    examine_header,
    examine_time_elements,
    extract_url_date,
    find_date,
    json_search,
)
from htmldate.utils import Extractor

from .article import Article, build_article
from .errors import IngestError

MIN_DATE = datetime(1995, 1, 1)
# Fewer words than this is a navigation stub or an error page, not an article.
MIN_WORDS = 12
_COPYRIGHT = re.compile(r"(?:©|&copy;|&#169;|copyright)\s*(?:\d{4}\s*[-–]\s*)?\d{4}", re.I)


@lru_cache(maxsize=1)
def _date_options() -> Extractor:
    # original=True: the publication date, not the last update.
    return Extractor(False, datetime.now().replace(microsecond=0), MIN_DATE, True, "%Y-%m-%d")


def page_date(html: str, url: str | None) -> tuple[datetime | None, str]:
    """(date, date_source) with date_source in html-meta | url | text | none. Day precision:
    the calendar day the page states, not an instant."""
    try:
        tree = lxml.html.fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        return None, "none"
    options = _date_options()
    # Machine-readable page metadata: meta tags, JSON-LD, <time datetime=...>.
    found = examine_header(tree, options) or json_search(tree, options) or examine_time_elements(tree, options)
    if found:
        return _as_datetime(found), "html-meta"
    canonical = tree.find('.//link[@rel="canonical"]')
    page_url = canonical.get("href") if canonical is not None else url
    found = extract_url_date(page_url, options) if page_url else None
    if found:
        return _as_datetime(found), "url"
    # htmldate's extensive search reads a footer's "Copyright 2025" as 1 January: drop
    # copyright notices first, a year is not a publication date.
    found = find_date(_COPYRIGHT.sub(" ", html), extensive_search=True, original_date=True,
                      deferred_url_extractor=True)
    if found:
        return _as_datetime(found), "text"
    return None, "none"


def parse_page(
    html: str | bytes, origin: str, url: str | None = None, fetched_at: datetime | None = None
) -> Article:
    """One article from one page. `url` is where it was fetched from (None for a local file,
    in which case the page's canonical URL, if any, becomes its identity)."""
    if isinstance(html, bytes):
        html = _decode(html)
    doc = trafilatura.bare_extraction(html, url=url, with_metadata=True, include_comments=False)
    if doc is None or len((doc.text or "").split()) < MIN_WORDS:
        raise IngestError(origin, "no article text found in the HTML page")
    title = (doc.title or "").strip()
    text = _paragraphs(doc.text, title)
    published, date_source = page_date(html, url)
    page_url = url or doc.url
    site = doc.sitename or (urlsplit(page_url).hostname if page_url else None)
    return build_article(
        url=page_url or origin,
        source=site or "web",
        title=title or text.split("\n", 1)[0][:200],
        text=text,
        published_at=published,
        date_source=date_source,
        published_precision="day" if published else None,
        fetched_at=fetched_at,
        origin=origin,
    )


def _paragraphs(text: str, title: str) -> str:
    """trafilatura's txt output puts one paragraph per line; the NLP stage reads blank lines
    as paragraph breaks, and the headline is stored as the title, not repeated in the body."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines and title and lines[0] == title:
        lines = lines[1:]
    return "\n\n".join(lines)


def _as_datetime(day: str) -> datetime:
    return datetime.strptime(day[:10], "%Y-%m-%d").replace(tzinfo=UTC)


def _decode(raw: bytes) -> str:
    from trafilatura.utils import decode_file

    return decode_file(raw)
