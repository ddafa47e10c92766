"""Turn what the user names (folders, files, http(s) URLs) into Article records.

Each source is read on its own: a failure becomes one `SourceReport` line naming the source and
the reason, and never stops the others.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from .article import Article, build_article
from .errors import IngestError
from .feeds import parse_feed
from .fetch import Fetcher
from .files import BatchMapping, parse_batch, parse_text_file, sniff, walk
from .pages import parse_page

log = logging.getLogger(__name__)


@dataclass
class SourceReport:
    source: str
    status: str  # ok | warning | error | not-modified
    reason: str = ""
    n_items: int = 0
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def line(self) -> str:
        return f"{self.source}: {self.reason}" if self.reason else f"{self.source}: {self.status}"


@dataclass
class ReadOptions:
    fetch_articles: bool = False
    mapping: BatchMapping = field(default_factory=BatchMapping)


def is_url(source: str) -> bool:
    return urlsplit(source).scheme.lower() in ("http", "https")


class SourceReader:
    def __init__(self, fetcher: Fetcher | None = None, options: ReadOptions | None = None):
        self.fetcher = fetcher
        self.options = options or ReadOptions()
        self.reports: list[SourceReport] = []

    def read(self, sources: list[str]) -> Iterator[Article]:
        for source in sources:
            if is_url(source):
                yield from self._guard(source, self._read_url, source)
                continue
            path = Path(source)
            if not path.exists():
                self._report(source, "error", "no such file or folder")
            elif path.is_dir():
                files = list(walk(path))
                if not files:
                    self._report(source, "error", "folder holds no readable files")
                for file in files:
                    yield from self._guard(str(file), self._read_file, file)
            else:
                yield from self._guard(source, self._read_file, path)

    # -- one source, guarded: whatever goes wrong becomes a report line
    def _guard(self, name: str, reader, arg) -> Iterator[Article]:
        count, first_report = 0, len(self.reports)
        try:
            for article in reader(arg):
                count += 1
                yield article
        except IngestError as exc:
            reason = exc.reason if exc.source == name else str(exc)
            if exc.hint and exc.source == name:
                reason = f"{reason} ({exc.hint})"
            self._report(name, "error", reason, count)
            return
        except OSError as exc:
            self._report(name, "error", f"cannot read ({exc.strerror or exc})", count)
            return
        except Exception as exc:  # a parser bug on odd input must not end the batch
            log.debug("unexpected failure on %s", name, exc_info=True)
            self._report(name, "error", f"could not be parsed ({type(exc).__name__}: {exc})", count)
            return
        if not any(r.status == "not-modified" for r in self.reports[first_report:]):
            self._report(name, "ok", "", count)

    def _report(self, source: str, status: str, reason: str, n_items: int = 0) -> None:
        self.reports.append(SourceReport(source, status, reason, n_items))

    def _read_file(self, path: Path) -> Iterator[Article]:
        raw = path.read_bytes()
        kind = sniff(raw, str(path))
        yield from self._parse(raw, kind, str(path), path=path)

    def _read_url(self, url: str) -> Iterator[Article]:
        if self.fetcher is None:
            raise IngestError(url, "network sources need a fetcher")
        response = self.fetcher.get(url)
        if response.not_modified:
            self._report(url, "not-modified", "not modified since last poll (HTTP 304)")
            return
        kind = sniff(response.content, url)
        if kind == "text" and "html" in response.content_type:
            kind = "page"
        yield from self._parse(response.content, kind, url, url=response.url)

    def _parse(self, raw: bytes, kind: str, name: str, path: Path | None = None, url: str | None = None):
        fetched_at = datetime.now(UTC)
        if kind == "feed":
            feed = parse_feed(raw, name, fetched_at)
            for warning in feed.warnings:
                self._report(name, "warning", warning.removeprefix(f"{name}: "))
            for item in feed.items:
                if item.summary_only and self.options.fetch_articles and item.article.url:
                    yield self._full_text(item.article)
                else:
                    yield item.article
        elif kind == "page":
            yield parse_page(raw, name, url=url, fetched_at=fetched_at)
        elif kind in ("jsonl", "json", "csv"):
            articles, problems = parse_batch(name, raw, kind, self.options.mapping, fetched_at)
            for problem in problems:
                self._report(name, "warning", problem.removeprefix(f"{name}:").lstrip())
            yield from articles
        elif path is not None:
            problems: list[str] = []
            article = parse_text_file(path, raw, fetched_at, problems)
            for problem in problems:
                self._report(name, "warning", problem.removeprefix(f"{name}:").lstrip())
            yield article
        else:
            raise IngestError(name, "plain text from a URL is not an article page or feed")

    def _full_text(self, teaser: Article) -> Article:
        """Fetch the page a summary-only feed item links to; keep the feed's title, date and
        source (the feed is the better witness of when it was published)."""
        try:
            response = self.fetcher.get(teaser.url, conditional=False) if self.fetcher else None
            if response is None:
                raise IngestError(teaser.url, "no fetcher for --fetch-articles")
            page = parse_page(response.content, teaser.url, url=teaser.url, fetched_at=teaser.fetched_at)
        except IngestError as exc:
            self._report(teaser.url, "warning", f"kept the feed summary: {exc.reason}")
            return teaser
        return build_article(
            url=teaser.url,
            source=teaser.source,
            title=teaser.title or page.title,
            text=page.text,
            published_at=teaser.published_at or page.published_at,
            date_source=teaser.date_source if teaser.published_at else page.date_source,
            published_precision=teaser.published_precision or page.published_precision,
            fetched_at=teaser.fetched_at,
            origin=teaser.origin,
        )
