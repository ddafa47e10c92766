"""Stage orchestration: ingest → (later stages) → tables in the output folder.

Every stage reads from and writes to the DuckDB store in `OUT/lens.duckdb`, so a second run
over the same store only does what is new.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ingest.article import ARTICLE_COLUMNS
from ingest.dedup import Deduplicator
from ingest.fetch import Fetcher, FetchPolicy
from ingest.sources import ReadOptions, SourceReader, SourceReport

from .store import Store

log = logging.getLogger(__name__)
STORE_NAME = "lens.duckdb"


@dataclass
class IngestResult:
    seen: int = 0
    new: int = 0
    near_duplicates: int = 0
    exact_duplicates: int = 0
    total: int = 0
    dated: int = 0
    reports: list[SourceReport] = field(default_factory=list)

    @property
    def problems(self) -> list[SourceReport]:
        return [r for r in self.reports if r.status in ("error", "warning")]

    @property
    def failed(self) -> bool:
        """Non-zero exit only when nothing at all could be read."""
        return self.seen == 0 and not any(r.status == "not-modified" for r in self.reports)


def ingest(
    sources: list[str],
    out: Path,
    options: ReadOptions | None = None,
    policy: FetchPolicy | None = None,
    near_duplicate_threshold: float = 0.9,
    on_article: Callable[[], None] | None = None,
    batch_size: int = 500,
) -> IngestResult:
    out.mkdir(parents=True, exist_ok=True)
    result = IngestResult()
    with Store(out / STORE_NAME) as store, Fetcher(policy, cache=store) as fetcher:
        dedup = Deduplicator(near_duplicate_threshold)
        dedup.load(store.known_articles())
        reader = SourceReader(fetcher, options)
        pending = []

        def flush() -> None:
            signatures = {
                a.article_id: dedup.new_signatures.pop(a.article_id).tobytes()
                for a in pending
                if a.article_id in dedup.new_signatures
            }
            result.new += store.add_articles(pending, signatures)
            pending.clear()

        for article in reader.read(sources):
            result.seen += 1
            verdict = dedup.check(article)
            if verdict.status == "same-id":
                # May upgrade a stored teaser to the full text (the rule lives in
                # Store.add_articles); flush first so the first copy is stored before it.
                if any(p.article_id == article.article_id for p in pending):
                    flush()
                pending.append(article)
            elif verdict.status == "same-text":
                result.exact_duplicates += 1
            else:
                if verdict.status == "near":
                    article.duplicate_of = verdict.duplicate_of
                    result.near_duplicates += 1
                pending.append(article)
                if len(pending) >= batch_size:
                    flush()
            if on_article:
                on_article()
        flush()
        store.log_sources(reader.reports)
        result.reports = reader.reports
        result.total = store.count()
        result.dated = store.con.execute(
            "SELECT count(*) FROM articles WHERE published_at IS NOT NULL"
        ).fetchone()[0]
        store.export_parquet(
            f"SELECT {', '.join(ARTICLE_COLUMNS)} FROM articles ORDER BY published_at NULLS LAST, article_id",
            out / "articles.parquet",
        )
    return result
