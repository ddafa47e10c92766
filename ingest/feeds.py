"""RSS 0.9x/1.0/2.0 and Atom feeds, parsed by feedparser."""

from __future__ import annotations

import calendar
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

import feedparser

from .article import Article, build_article
from .errors import IngestError
from .html_text import html_to_text

log = logging.getLogger(__name__)

# Below this many characters a feed body is a teaser, not the article.
SUMMARY_ONLY_CHARS = 400


@dataclass
class FeedItem:
    article: Article
    summary_only: bool


@dataclass
class ParsedFeed:
    title: str
    items: list[FeedItem]
    warnings: list[str] = field(default_factory=list)


def parse_feed(content: bytes, origin: str, fetched_at: datetime | None = None) -> ParsedFeed:
    """Parse feed bytes. A feed that feedparser flags as malformed (bozo) but that still
    yields entries is kept, with a warning; one that yields nothing is an error."""
    parsed = feedparser.parse(content, sanitize_html=True, resolve_relative_uris=False)
    feed_title = (parsed.feed.get("title") or "").strip() or _host(origin)
    warnings = []
    if parsed.bozo:
        reason = f"{type(parsed.bozo_exception).__name__}: {parsed.bozo_exception}"
        if not parsed.entries:
            raise IngestError(origin, f"malformed feed with no readable items ({reason})")
        warnings.append(f"{origin}: malformed feed, kept {len(parsed.entries)} readable items ({reason})")
    if not parsed.entries and not parsed.version:
        raise IngestError(origin, "not a feed (no RSS/Atom root element)")

    items = []
    for index, entry in enumerate(parsed.entries):
        try:
            items.append(_entry_to_item(entry, feed_title, origin, fetched_at))
        except IngestError as exc:
            warnings.append(str(exc))
        except Exception as exc:  # one odd entry must not lose the rest of the feed
            warnings.append(f"{origin} item {index + 1}: skipped ({type(exc).__name__}: {exc})")
    return ParsedFeed(feed_title, items, warnings)


def _entry_to_item(entry, feed_title: str, origin: str, fetched_at: datetime | None) -> FeedItem:
    title = html_to_text(entry.get("title", ""))
    body_html = ""
    if entry.get("content"):
        body_html = max((c.get("value", "") for c in entry.content), key=len)
    summary_html = entry.get("summary", "")
    text = html_to_text(body_html) if body_html else ""
    summary = html_to_text(summary_html)
    if len(summary) > len(text):
        text = summary
    link = entry.get("link") or (entry.get("id") if str(entry.get("id", "")).startswith("http") else None)
    if not text and not title:
        raise IngestError(f"{origin} item {link or '?'}", "item has neither title nor text")

    published, precision = _entry_date(entry)
    article = build_article(
        url=link,
        source=feed_title,
        title=title,
        text=text,
        published_at=published,
        date_source="feed" if published else "none",
        published_precision=precision,
        fetched_at=fetched_at,
        origin=origin,
    )
    return FeedItem(article, summary_only=not body_html and len(text) < SUMMARY_ONLY_CHARS)


def _entry_date(entry) -> tuple[datetime | None, str | None]:
    for key in ("published", "updated", "created"):
        parsed = entry.get(f"{key}_parsed")
        if parsed:
            raw = str(entry.get(key, ""))
            # feedparser normalises to UTC struct_time; a raw value without a clock time
            # ("2025-01-27") is a day, not midnight UTC.
            precision = "time" if ":" in raw else "day"
            return datetime.fromtimestamp(calendar.timegm(parsed), UTC), precision
    return None, None


def _host(origin: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(origin).hostname or origin.rsplit("/", 1)[-1]
