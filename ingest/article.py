"""The Article record: what every source becomes, with its stable id and content hash.

Ids are the contract that makes ingestion idempotent: the same canonical URL (or, for items
without a URL, the same normalised text) always hashes to the same `article_id`, so a re-run
upserts nothing new.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters that identify a click, not a document; they are dropped so that the
# same story reached from a newsletter and from a feed gets one id.
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid", "yclid",
        "ref", "ref_src", "cmpid", "cmp", "ncid", "ocid", "src", "smid", "partner",
    }
)
TRACKING_PREFIXES = ("utm_", "at_", "pk_", "mtm_")

DATE_SOURCES = ("feed", "html-meta", "url", "text", "none")


@dataclass(slots=True)
class Article:
    """One news item. Column names and meanings are fixed by DESIGN.md (articles table)."""

    article_id: str
    url: str | None
    source: str
    title: str
    published_at: datetime | None
    date_source: str
    fetched_at: datetime
    language: str | None
    text: str
    content_hash: str
    duplicate_of: str | None = None
    # Not in the DESIGN columns but needed downstream: whether `published_at` carries a
    # time of day ("time") or only a calendar day ("day"), which the market timing rule uses.
    published_precision: str | None = None
    # Where the record came from (feed URL, file path); used in error and source reports.
    origin: str | None = field(default=None)

    def to_row(self) -> dict:
        return asdict(self)


ARTICLE_COLUMNS = tuple(f.name for f in fields(Article))


def canonical_url(url: str | None) -> str | None:
    """Lower-case scheme and host, drop default ports, fragments and tracking parameters,
    sort the remaining query so parameter order does not create new ids."""
    if not url:
        return None
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https", "file"):
        return url
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = host
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        netloc = f"{host}:{port}"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in TRACKING_PARAMS and not k.lower().startswith(TRACKING_PREFIXES)
    ]
    path = parts.path or "/"
    if path != "/" and path.endswith("/"):
        path = path.rstrip("/")
    return urlunsplit((scheme, netloc, path, urlencode(sorted(query)), ""))


_WS = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """Unicode NFKC, case-folded, whitespace collapsed: two copies that differ only in
    typography or line wrapping normalise to the same string."""
    text = unicodedata.normalize("NFKC", text or "")
    return _WS.sub(" ", text).strip().casefold()


def content_hash(text: str) -> str:
    return hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()


def make_article_id(url: str | None, text: str, title: str = "") -> str:
    """sha1 of the canonical URL, else of the normalised title + text (16 hex chars)."""
    canon = canonical_url(url)
    key = f"url:{canon}" if canon else f"text:{normalise_text(title)}\n{normalise_text(text)}"
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


def to_utc(value: datetime | None) -> datetime | None:
    """Naive datetimes are taken as UTC (feeds and metadata without an offset)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def build_article(
    *,
    url: str | None,
    source: str,
    title: str,
    text: str,
    published_at: datetime | None,
    date_source: str,
    published_precision: str | None = None,
    fetched_at: datetime | None = None,
    language: str | None = None,
    origin: str | None = None,
    id_url: str | None = None,
) -> Article:
    """The one constructor every reader uses, so ids, hashes and time zones are uniform.

    `id_url` overrides the URL used for the id (a local file stored with its canonical web
    URL as `url` keeps its web identity)."""
    if date_source not in DATE_SOURCES:
        raise ValueError(f"date_source {date_source!r} is not one of {DATE_SOURCES}")
    published_at = to_utc(published_at)
    if published_at is None:
        date_source, published_precision = "none", None
    title = _WS.sub(" ", title or "").strip()
    text = (text or "").strip()
    return Article(
        article_id=make_article_id(id_url or url, text, title),
        url=canonical_url(url) if url and not url.startswith("file:") else url,
        source=source,
        title=title,
        published_at=published_at,
        date_source=date_source,
        fetched_at=to_utc(fetched_at) or datetime.now(UTC),
        language=language if language is not None else detect_language(f"{title}\n{text}"),
        text=text,
        content_hash=content_hash(f"{title}\n{text}"),
        published_precision=published_precision,
        origin=origin,
    )


def detect_language(text: str) -> str | None:
    """ISO 639-1 code from py3langid (trafilatura's own language detector), None if no text."""
    sample = text[:2000].strip()
    if not sample:
        return None
    import py3langid  # imported lazily: loading its model costs ~0.3 s

    return py3langid.classify(sample)[0]
