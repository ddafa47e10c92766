"""The embedded DuckDB store: articles, their MinHash signatures, HTTP validators per URL, and
a log of every source read (what `lens sources` shows).

Writes happen in transactions, and tables are exported to Parquet through a temp file and a
rename, so an interrupted run never leaves a half-written table behind.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from ingest.article import ARTICLE_COLUMNS, Article
from ingest.fetch import CacheEntry
from ingest.sources import SourceReport

SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    article_id VARCHAR PRIMARY KEY,
    url VARCHAR,
    source VARCHAR,
    title VARCHAR,
    published_at TIMESTAMPTZ,
    date_source VARCHAR,
    fetched_at TIMESTAMPTZ,
    language VARCHAR,
    text VARCHAR,
    content_hash VARCHAR,
    duplicate_of VARCHAR,
    published_precision VARCHAR,
    origin VARCHAR
);
CREATE TABLE IF NOT EXISTS minhashes (article_id VARCHAR PRIMARY KEY, hashvalues BLOB);
CREATE TABLE IF NOT EXISTS http_cache (
    url VARCHAR PRIMARY KEY, etag VARCHAR, last_modified VARCHAR, updated_at TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS source_log (
    source VARCHAR, status VARCHAR, reason VARCHAR, n_items INTEGER, logged_at TIMESTAMPTZ
);
"""


UPGRADE_RATIO = 1.5


class Store:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(str(self.path))
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute(SCHEMA)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------ articles
    def known_articles(self) -> Iterable[tuple[str, str, bytes | None, str | None]]:
        return self.con.execute(
            """SELECT a.article_id, a.content_hash, m.hashvalues, a.duplicate_of
               FROM articles a LEFT JOIN minhashes m USING (article_id)"""
        ).fetchall()

    def add_articles(self, articles: list[Article], signatures: dict[str, bytes]) -> int:
        """Insert articles not stored yet (by article_id), in one transaction; returns how
        many were new. A known id comes back only to upgrade a teaser to the full text."""
        if not articles:
            return 0
        ids = [a.article_id for a in articles]
        if len(set(ids)) != len(ids):
            raise ValueError("add_articles takes each article_id once per call")
        frame = pd.DataFrame([a.to_row() for a in articles], columns=list(ARTICLE_COLUMNS))
        for column in ("published_at", "fetched_at"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
        sigs = pd.DataFrame(
            {"article_id": list(signatures), "hashvalues": list(signatures.values())},
            columns=["article_id", "hashvalues"],
        )
        before = self.count()
        self.con.execute("BEGIN TRANSACTION")
        try:
            self.con.register("new_articles", frame)
            # The same article seen again with a much longer text (a feed teaser, then the
            # page behind it) keeps its id and date but takes the fuller text.
            self.con.execute(
                f"INSERT INTO articles ({', '.join(ARTICLE_COLUMNS)}) "
                f"SELECT {', '.join(ARTICLE_COLUMNS)} FROM new_articles "
                "ON CONFLICT (article_id) DO UPDATE SET text = excluded.text, "
                "content_hash = excluded.content_hash, title = coalesce(nullif(articles.title, ''), excluded.title), "
                "published_at = coalesce(articles.published_at, excluded.published_at), "
                "date_source = CASE WHEN articles.published_at IS NULL THEN excluded.date_source ELSE articles.date_source END "
                f"WHERE length(excluded.text) > {UPGRADE_RATIO} * length(articles.text)"
            )
            self.con.register("new_sigs", sigs)
            self.con.execute("INSERT OR IGNORE INTO minhashes SELECT article_id, hashvalues::BLOB FROM new_sigs")
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise
        finally:
            self.con.unregister("new_articles")
            self.con.unregister("new_sigs")
        return self.count() - before

    def count(self) -> int:
        return self.con.execute("SELECT count(*) FROM articles").fetchone()[0]

    def articles(self) -> pd.DataFrame:
        return self.con.execute(
            f"SELECT {', '.join(ARTICLE_COLUMNS)} FROM articles ORDER BY published_at NULLS LAST, article_id"
        ).df()

    # ------------------------------------------------------------ HTTP validators
    def get_validators(self, url: str) -> CacheEntry | None:
        row = self.con.execute("SELECT etag, last_modified FROM http_cache WHERE url = ?", [url]).fetchone()
        return CacheEntry(*row) if row else None

    def put_validators(self, url: str, entry: CacheEntry) -> None:
        self.con.execute(
            "INSERT OR REPLACE INTO http_cache VALUES (?, ?, ?, ?)",
            [url, entry.etag, entry.last_modified, datetime.now(UTC)],
        )

    # ------------------------------------------------------------ source log
    def log_sources(self, reports: list[SourceReport]) -> None:
        if reports:
            self.con.executemany(
                "INSERT INTO source_log VALUES (?, ?, ?, ?, ?)",
                [(r.source, r.status, r.reason, r.n_items, r.at) for r in reports],
            )

    def source_log(self) -> pd.DataFrame:
        return self.con.execute("SELECT * FROM source_log ORDER BY logged_at, source").df()

    # ------------------------------------------------------------ export
    def export_parquet(self, table_sql: str, target: Path) -> None:
        """COPY a query to Parquet via a temp file in the same folder, then rename: readers
        see the old file or the new one, never a torn one."""
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        self.con.execute(f"COPY ({table_sql}) TO '{tmp.as_posix()}' (FORMAT parquet)")
        os.replace(tmp, target)
