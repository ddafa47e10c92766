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
from datetime import UTC, datetime, timedelta
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

# A publication date outside [EARLIEST_PUBLISHED, now + FUTURE_SLACK] is a broken or hostile
# value (year 0, the Unix epoch placeholder, 2999), not a date: the item is stored undated
# (published_at null, date_source 'none'), never clamped, so no false date reaches the timeline.
# The slack tolerates clock skew and time-zone slips in honest feeds.
EARLIEST_PUBLISHED = datetime(1971, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=2)
# Links stored with an article; anything else (javascript:, data:, vbscript:...) is dropped so
# that no output can turn a stored URL into script.
URL_SCHEMES = ("http", "https", "file")


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
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a non-numeric or out-of-range port
    except ValueError:  # "http://[::1", "http://a:99999/": keep the text, it still identifies
        return url
    if parts.scheme.lower() not in ("http", "https", "file"):
        return url
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
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
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01 with a positive offset, 9999-12-31 with a negative one
        return None


def implausible_date(value: datetime | None, now: datetime | None = None) -> str | None:
    """Why `value` cannot be a publication date (far future, before 1971), or None if it can."""
    if value is None:
        return None
    when = to_utc(value)
    if when is None:
        return f"date {value.isoformat()} is out of range"
    now = now or datetime.now(UTC)
    if when > now + FUTURE_SLACK:
        return f"date {when.date().isoformat()} is in the future"
    if when < EARLIEST_PUBLISHED:
        return f"date {when.date().isoformat()} is before {EARLIEST_PUBLISHED.year}"
    return None


# C0/C1 control characters (tab and newline kept) and lone surrogates: the first can drive a
# terminal that prints a title (ANSI escapes), the second cannot be encoded as UTF-8 and would
# fail the store's write for the whole batch.
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def plain_text(value: str | None) -> str:
    """Text as it is stored: line breaks unified, control characters and lone surrogates
    removed. Markup is NOT escaped here: stored text is the author's text, and every output
    (HTML report, CSV, terminal) escapes for its own medium."""
    if not value:
        return ""
    return _UNPRINTABLE.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))


def safe_url(url: str | None) -> str | None:
    """The URL if it is http(s), file or relative; None for javascript:, data: and the like."""
    url = plain_text(url).strip()
    if not url:
        return None
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if not scheme or scheme in URL_SCHEMES else None


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
    URL as `url` keeps its web identity). A file: URL does not identify: see below."""
    if date_source not in DATE_SOURCES:
        raise ValueError(f"date_source {date_source!r} is not one of {DATE_SOURCES}")
    # Readers that can report (feeds, batches, text files) check implausible_date first and
    # say so in one line; this is the guarantee for every reader.
    published_at = None if implausible_date(published_at) else to_utc(published_at)
    if published_at is None:
        date_source, published_precision = "none", None
    url, id_url = safe_url(url), safe_url(id_url)
    title = _WS.sub(" ", plain_text(title)).strip()
    text = plain_text(text).strip()
    source = _WS.sub(" ", plain_text(source)).strip()
    # A file: URL names a place on one machine, not the article: the same corpus read from a
    # fresh clone or a colleague's folder must keep its ids (the gold file and an existing
    # store refer to them), so such an article is known by its title and text.
    identity = id_url or (None if url and url.startswith("file:") else url)
    return Article(
        article_id=make_article_id(identity, text, title),
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
