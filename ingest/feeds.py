"""RSS 0.9x/1.0/2.0 and Atom feeds, parsed by feedparser.

Feed bytes come from strangers, so three things happen before feedparser sees them:
- they are handed over as a stream, never as bytes (feedparser opens a bytes argument as a
  local file name when such a file exists);
- a document that declares XML entities or external references is refused (see
  `screen_xml`): feedparser's strict parser is protected by expat's amplification limit, but
  when that parser gives up its loose fallback parser expands the declared entities anyway
  (a 600 kB "quadratic blowup" feed became 500 MB of text and took 90 s before this screen);
- a document that claims UTF-8 but mixes in bytes of a legacy encoding is repaired stray byte
  by stray byte, so one badly encoded item does not turn every other item into mojibake.
"""

from __future__ import annotations

import calendar
import codecs
import contextvars
import io
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import feedparser
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring
from feedparser.encodings import convert_to_utf8

from .article import Article, build_article, implausible_date
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
    warnings = []
    content, stray = repair_utf8(content)
    if stray:
        warnings.append(f"{origin}: declared UTF-8 but {stray} bytes are not; read them as Windows-1252")
    screen_xml(content, origin)
    content = _CHARREF.sub(_valid_charref, content)
    try:
        parsed = feedparser.parse(io.BytesIO(content), sanitize_html=True, resolve_relative_uris=False)
    except Exception as exc:  # feedparser's loose parser still trips on odd input
        raise IngestError(origin, f"feed could not be parsed ({type(exc).__name__}: {exc})") from None
    feed_title = (parsed.feed.get("title") or "").strip() or _host(origin)
    if parsed.bozo:
        reason = f"{type(parsed.bozo_exception).__name__}: {parsed.bozo_exception}"
        if not parsed.entries:
            raise IngestError(origin, f"malformed feed with no readable items ({reason})")
        warnings.append(f"{origin}: malformed feed, kept {len(parsed.entries)} readable items ({reason})")
    if not parsed.entries and not parsed.get("version"):
        raise IngestError(origin, "not a feed (no RSS/Atom root element)")

    items = []
    for index, entry in enumerate(parsed.entries):
        try:
            items.append(_entry_to_item(entry, feed_title, origin, fetched_at, warnings))
        except IngestError as exc:
            warnings.append(str(exc))
        except Exception as exc:  # one odd entry must not lose the rest of the feed
            warnings.append(f"{origin} item {index + 1}: skipped ({type(exc).__name__}: {exc})")
    return ParsedFeed(feed_title, items, warnings)


def _entry_to_item(entry, feed_title: str, origin: str, fetched_at: datetime | None,
                   warnings: list[str]) -> FeedItem:
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
    problem = implausible_date(published) if published else None
    # dict.get: FeedParserDict maps a missing "updated" to "published", with a DeprecationWarning.
    raw_date = next((str(dict.get(entry, k)) for k in ("published", "updated", "created") if dict.get(entry, k)), None)
    if published is None and raw_date:
        problem = f"unreadable date {raw_date[:40]!r}"
    if problem:
        warnings.append(f"{origin} item {link or title[:60] or '?'}: {problem}, stored undated")
        published, precision = None, None
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
        parsed = dict.get(entry, f"{key}_parsed")
        if parsed:
            raw = str(dict.get(entry, key, ""))
            # feedparser normalises to UTC struct_time; a raw value without a clock time
            # ("2025-01-27") is a day, not midnight UTC.
            precision = "time" if ":" in raw else "day"
            try:
                return datetime.fromtimestamp(calendar.timegm(parsed), UTC), precision
            except (ValueError, OverflowError, OSError):  # year 0: reported as unreadable
                return None, None
    return None, None


# ---------------------------------------------------------------- hostile XML

_CHARREF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,16})|([0-9]{1,20}));")


def _valid_charref(match: re.Match) -> bytes:
    """A character reference to no character (&#x110000;, a surrogate) becomes U+FFFD: expat
    rejects it and feedparser's loose parser crashes on it, losing the whole feed."""
    value = int(match.group(1), 16) if match.group(1) else int(match.group(2))
    return match.group(0) if value <= 0x10FFFF and not 0xD800 <= value <= 0xDFFF else b"&#xFFFD;"


_DOCTYPE = re.compile(rb"<!DOCTYPE", re.I)
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.I)
XML_REFUSED = "feed declares XML entities or external references (an XML bomb or XXE attempt?); refused"


def screen_xml(content: bytes, origin: str) -> None:
    """Refuse a feed that declares entities or references external ones (XML bombs, XXE).

    It reads the UTF-8 text feedparser itself will parse. Entities can only be declared in a
    DOCTYPE, so a feed without one passes untouched (the common case costs one search). With a
    DOCTYPE, defusedxml parses the document with entity declarations and external references
    forbidden; where expat stops at a syntax error before reaching them, feedparser's loose
    parser would read on, so any entity declaration left in such a document refuses it too.
    Real news feeds declare no entities; a DOCTYPE alone (RSS 0.91) is fine."""
    data = convert_to_utf8({}, content, {})
    if not _DOCTYPE.search(data):
        return
    try:
        defused_fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise IngestError(origin, XML_REFUSED) from None
    except Exception:  # not well-formed; feedparser's bozo handling decides what is readable
        if _ENTITY_DECL.search(data):
            raise IngestError(origin, XML_REFUSED) from None


_stray_count: contextvars.ContextVar[list[int]] = contextvars.ContextVar("lens_stray_count")


def _read_stray_as_cp1252(error: UnicodeDecodeError) -> tuple[str, int]:
    stray = error.object[error.start : error.end]
    counter = _stray_count.get(None)
    if counter is not None:
        counter[0] += len(stray)
    return stray.decode("cp1252", errors="replace"), error.end


codecs.register_error("lens-stray-cp1252", _read_stray_as_cp1252)
_DECLARED = re.compile(rb"""\A(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)""")


def repair_utf8(content: bytes) -> tuple[bytes, int]:
    """(content, number of stray bytes). A document that is (or by default claims to be)
    UTF-8 but holds bytes that are not is re-encoded with those bytes read as Windows-1252 (the
    usual culprit: one item pasted from a legacy system), so the good items keep their text.
    Other declared encodings and UTF-16/32 are left to feedparser."""
    if content.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):
        return content, 0
    declared = _DECLARED.match(content)
    if declared and declared.group(1).lower() not in (b"utf-8", b"utf8"):
        return content, 0
    try:
        content.decode("utf-8")
        return content, 0
    except UnicodeDecodeError:
        pass
    counter = [0]
    token = _stray_count.set(counter)
    try:
        text = content.decode("utf-8", errors="lens-stray-cp1252")
    finally:
        _stray_count.reset(token)
    return text.encode("utf-8"), counter[0]


def _host(origin: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(origin).hostname or origin.rsplit("/", 1)[-1]
