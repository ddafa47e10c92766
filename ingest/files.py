"""Local sources: text/Markdown files, JSONL/CSV batches, and the content sniffing that decides
what a file (or a fetched body) is, from its bytes rather than only its extension."""

from __future__ import annotations

import csv
import fnmatch
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import dateparser
import yaml

from .article import Article, build_article, implausible_date
from .errors import IngestError, UnsupportedSource

SIDECAR_SUFFIX = ".meta.json"
MAX_TITLE_CHARS = 150
IGNORE_FILE = ".lensignore"
# A folder's own documentation is not news; named explicitly, such a file is still read.
FOLDER_DOCS = ("README*", "LICENSE*", "CHANGELOG*", "CONTRIBUTING*")

# Batch column mapping: our field → the column names we accept for it, first match wins.
# Users override with `--columns title=headline,text=body` (see BatchMapping.parse).
DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "title": ("title", "headline", "heading", "subject"),
    "text": ("text", "body", "content", "article", "story", "summary"),
    "url": ("url", "link", "href", "permalink"),
    "published_at": ("published_at", "published", "date", "datetime", "pubdate", "timestamp", "time"),
    "source": ("source", "outlet", "publisher", "site", "feed"),
}


@dataclass
class BatchMapping:
    overrides: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, spec: str | None) -> BatchMapping:
        """'title=headline,text=body' → overrides; unknown fields are a clear error."""
        overrides = {}
        for part in filter(None, (p.strip() for p in (spec or "").split(","))):
            key, _, column = part.partition("=")
            if key not in DEFAULT_COLUMNS or not column:
                raise ValueError(
                    f"bad column mapping {part!r}: use FIELD=COLUMN with FIELD in {', '.join(DEFAULT_COLUMNS)}"
                )
            overrides[key] = column
        return cls(overrides)

    def resolve(self, columns: list[str]) -> dict[str, str | None]:
        lower = {c.strip().lower(): c for c in columns}
        resolved = {}
        for name, candidates in DEFAULT_COLUMNS.items():
            # The user's column first; a batch that lacks it falls back to the usual names,
            # so one mapping serves a folder of mixed batches.
            wanted = (self.overrides[name].lower(),) if name in self.overrides else ()
            resolved[name] = next((lower[c] for c in (*wanted, *candidates) if c in lower), None)
        return resolved


# ---------------------------------------------------------------- sniffing

_FEED_ROOT = re.compile(rb"<(rss|feed|rdf:RDF|RDF)\b", re.I)
_HTML_ROOT = re.compile(rb"<(!doctype\s+html|html|head|body|article)\b", re.I)


def sniff(raw: bytes, name: str = "") -> str:
    """'feed' | 'page' | 'jsonl' | 'json' | 'csv' | 'text'; raises for empty or binary input."""
    head = raw[:8192]
    if not raw.strip():
        raise UnsupportedSource(name, "empty file")
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnsupportedSource(name, "binary content, not a feed, page, text or batch")
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"<"):
        if _FEED_ROOT.search(head):
            return "feed"
        if _HTML_ROOT.search(head):
            return "page"
        raise UnsupportedSource(name, "XML that is neither an RSS/Atom feed nor an HTML page")
    lower = name.lower()
    if stripped.startswith((b"{", b"[")):
        return "json" if stripped.startswith(b"[") else "jsonl"
    if lower.endswith((".csv", ".tsv")):
        return "csv"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        if _printable_ratio(head) < 0.9:
            raise UnsupportedSource(name, "binary content, not a feed, page, text or batch") from None
    return "text"


def _printable_ratio(data: bytes) -> float:
    text = data.decode("latin-1")
    return sum(ch.isprintable() or ch in "\r\n\t" for ch in text) / max(1, len(text))


def decode_text(raw: bytes, name: str) -> str:
    for encoding in ("utf-8-sig", "utf-16") if raw.startswith((b"\xff\xfe", b"\xfe\xff")) else ("utf-8-sig",):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    from trafilatura.utils import decode_file  # charset detection for legacy encodings

    text = decode_file(raw)
    if not isinstance(text, str):
        raise UnsupportedSource(name, "text in an unknown encoding")
    return text


# ---------------------------------------------------------------- directory walking


def walk(root: Path) -> Iterator[Path]:
    """Files under `root`, sorted, skipping hidden entries, sidecars, folder docs (README...)
    and `.lensignore` patterns (one glob per line, relative to the folder holding the file)."""
    ignores: list[tuple[Path, str]] = []
    for path in sorted(root.rglob("*")):
        if path.name == IGNORE_FILE:
            ignores += [(path.parent, line.strip()) for line in path.read_text().splitlines()
                        if line.strip() and not line.startswith("#")]
    for path in sorted(root.rglob("*")):
        rel_parts = path.relative_to(root).parts
        if any(part.startswith(".") for part in rel_parts) or not path.is_file():
            continue
        if path.name.endswith(SIDECAR_SUFFIX) or any(fnmatch.fnmatch(path.name, p) for p in FOLDER_DOCS):
            continue
        if any(_ignored(path, base, pattern) for base, pattern in ignores):
            continue
        yield path


def _ignored(path: Path, base: Path, pattern: str) -> bool:
    try:
        rel = path.relative_to(base).as_posix()
    except ValueError:
        return False
    pattern = pattern.rstrip("/")
    return fnmatch.fnmatch(rel, pattern) or rel.startswith(pattern + "/")


# ---------------------------------------------------------------- text and Markdown

_DATE_LINE = re.compile(r"^\s*(?:\*\*)?date(?:\*\*)?\s*[:=]?\s*(\d{4}-\d{2}-\d{2})\b", re.I)
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n(?:---|\.\.\.)\s*(?:\n|\Z)", re.S)


def parse_text_file(
    path: Path, raw: bytes, fetched_at: datetime | None = None, problems: list[str] | None = None
) -> Article:
    """Title = front-matter title, else the first heading or line; date = front matter or
    sidecar NAME.meta.json (declared metadata), else a `date YYYY-MM-DD` line (text).
    A date that cannot be a publication date is dropped, with a line in `problems`."""
    text = decode_text(raw, str(path)).replace("\r\n", "\n")
    meta: dict = {}
    match = _FRONT_MATTER.match(text)
    if match:
        try:
            loaded = yaml.safe_load(match.group(1))
        except yaml.YAMLError as exc:
            raise IngestError(str(path), f"unreadable YAML front matter ({exc.__class__.__name__})") from None
        if isinstance(loaded, dict):
            meta = {str(k).lower(): v for k, v in loaded.items()}
            text = text[match.end():]
    sidecar = path.with_name(path.name.rsplit(".", 1)[0] + SIDECAR_SUFFIX)
    if sidecar.exists():
        try:
            meta.update({str(k).lower(): v for k, v in json.loads(sidecar.read_text()).items()})
        except (json.JSONDecodeError, AttributeError) as exc:
            raise IngestError(str(sidecar), f"unreadable sidecar metadata ({exc})") from None

    lines = text.split("\n")
    date_line_value = None
    kept: list[str] = []
    for i, line in enumerate(lines):
        m = _DATE_LINE.match(line) if i < 12 else None
        if m and date_line_value is None:
            date_line_value = m.group(1)
            continue
        kept.append(line)
    title = str(meta.get("title") or "").strip()
    body_lines = kept
    if not title:
        for i, line in enumerate(kept):
            if line.strip():
                first = line.strip().lstrip("#").strip()
                if len(first) <= MAX_TITLE_CHARS:
                    title, body_lines = first, kept[i + 1:]
                else:
                    # No headline line: the file opens with a paragraph. Title it by its first
                    # sentence and keep the paragraph in the body, where it belongs.
                    title = headline_from(first)
                break
    body = "\n".join(body_lines).strip()

    published, precision, date_source = None, None, "none"
    declared = meta.get("published_at") or meta.get("date") or meta.get("published")
    if declared:
        published, precision = parse_when(declared)
        date_source = "feed" if published else "none"
    if published is None and date_line_value:
        published, precision = parse_when(date_line_value)
        date_source = "text" if published else "none"
    problem = implausible_date(published)
    if problem:
        if problems is not None:
            problems.append(f"{path}: {problem}, stored undated")
        published, precision, date_source = None, None, "none"
    url = meta.get("url") or meta.get("link")
    return build_article(
        url=str(url) if url else path.resolve().as_uri(),
        source=str(meta.get("source") or path.parent.name),
        title=title,
        text=body,
        published_at=published,
        date_source=date_source,
        published_precision=precision,
        fetched_at=fetched_at,
        origin=str(path),
    )


def headline_from(paragraph: str, limit: int = 120) -> str:
    sentence = re.split(r"(?<=[.!?])\s", paragraph, maxsplit=1)[0]
    if len(sentence) <= limit:
        return sentence.rstrip(".")
    return sentence[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def parse_when(value) -> tuple[datetime | None, str | None]:
    """A declared date (ISO string, YAML date, RFC 822...) → (datetime, 'time'|'day')."""
    from datetime import date as date_type

    if isinstance(value, datetime):
        return value, "time"
    if isinstance(value, date_type):
        return datetime(value.year, value.month, value.day), "day"
    raw = str(value).strip()
    if not raw:
        return None, None
    has_time = bool(re.search(r"\d:\d", raw))
    precision = "time" if has_time else "day"
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")), precision
    except ValueError:
        pass
    # Anything else (RFC 822, "12 May 2025 14:00 EDT"...): dateparser, offsets honoured,
    # values without one taken as UTC.
    parsed = dateparser.parse(
        raw,
        languages=["en"],
        settings={"TO_TIMEZONE": "UTC", "RETURN_AS_TIMEZONE_AWARE": True, "PREFER_DAY_OF_MONTH": "first"},
    )
    return (parsed, precision) if parsed else (None, None)


# ---------------------------------------------------------------- batches


def parse_batch(
    path: str, raw: bytes, kind: str, mapping: BatchMapping, fetched_at: datetime | None = None
) -> tuple[list[Article], list[str]]:
    """JSONL, JSON array or CSV rows → articles. Bad rows are reported, good rows kept."""
    text = decode_text(raw, path)
    rows: list[tuple[int, dict]] = []
    problems: list[str] = []
    if kind == "jsonl":
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(f"{path}:{n}: not valid JSON ({exc.msg})")
                continue
            if isinstance(obj, dict):
                rows.append((n, obj))
            else:
                problems.append(f"{path}:{n}: expected a JSON object per line")
    elif kind == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise IngestError(path, f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
        items = data if isinstance(data, list) else [data]
        rows = [(n, obj) for n, obj in enumerate(items, 1) if isinstance(obj, dict)]
    else:
        dialect = "excel-tab" if path.lower().endswith(".tsv") else "excel"
        reader = csv.DictReader(io.StringIO(text, newline=""), dialect=dialect)
        try:
            rows = [(n, row) for n, row in enumerate(reader, 2)]
        except csv.Error as exc:
            raise IngestError(path, f"not a readable CSV (line {reader.line_num}: {exc})") from None
    if not rows:
        raise IngestError(path, "batch has no rows")
    columns = list({key for _, row in rows for key in row if key})
    resolved = mapping.resolve(columns)
    if resolved["text"] is None and resolved["title"] is None:
        raise IngestError(
            path,
            f"batch has no text or title column (columns: {', '.join(sorted(columns))})",
            "map them with --columns text=COLUMN,title=COLUMN",
        )
    default_source = Path(path).parent.name or Path(path).stem
    articles = []
    for n, row in rows:
        def get(name: str, _row=row) -> str:
            column = resolved[name]
            value = _row.get(column) if column else None
            return "" if value is None else str(value).strip()

        title, body = get("title"), get("text")
        if not title and not body:
            problems.append(f"{path}:{n}: row has neither title nor text")
            continue
        published, precision = parse_when(get("published_at")) if get("published_at") else (None, None)
        if get("published_at") and published is None:
            problems.append(f"{path}:{n}: unreadable date {get('published_at')[:40]!r}, stored undated")
        elif problem := implausible_date(published):
            problems.append(f"{path}:{n}: {problem}, stored undated")
            published, precision = None, None
        articles.append(
            build_article(
                url=get("url") or None,
                source=get("source") or default_source,
                title=title or body.split("\n", 1)[0][:200],
                text=body,
                published_at=published,
                date_source="feed" if published else "none",
                published_precision=precision,
                fetched_at=fetched_at,
                origin=f"{path}:{n}",
            )
        )
    return articles, problems
