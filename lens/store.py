"""The embedded DuckDB store: articles, their MinHash signatures, HTTP validators per URL, and
a log of every source read (what `lens sources` shows).

Writes happen in transactions, and tables are exported to Parquet through a temp file and a
rename, so an interrupted run never leaves a half-written table behind.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from ingest.article import ARTICLE_COLUMNS, Article
from ingest.fetch import CacheEntry
from ingest.sources import SourceReport

from .atomic import replacing
from .crash_points import crash_point
from .tables import PER_ARTICLE, SCHEMAS

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
CREATE TABLE IF NOT EXISTS analyzed (
    article_id VARCHAR PRIMARY KEY, content_hash VARCHAR, analyzed_at TIMESTAMPTZ
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
        for name, schema in SCHEMAS.items():
            with self._registered(empty=pa.Table.from_pylist([], schema=schema)):
                self.con.execute(f"CREATE TABLE IF NOT EXISTS {name} AS SELECT * FROM empty")
        # stores from before vectors were labelled with their space: theirs read as unknown (NULL)
        self.con.execute("ALTER TABLE sentence_vectors ADD COLUMN IF NOT EXISTS space VARCHAR")
        # and before catalyst sentences were scored again: their counts read as unknown (NULL)
        self.con.execute("ALTER TABLE article_scores ADD COLUMN IF NOT EXISTS n_rescored INTEGER")
        # and before events said which article each evidence sentence is from: no link (NULL)
        self.con.execute("ALTER TABLE events ADD COLUMN IF NOT EXISTS evidence_article_ids VARCHAR[]")
        # and before events said how precisely they are dated: unknown (NULL), shown as a day
        self.con.execute("ALTER TABLE events ADD COLUMN IF NOT EXISTS date_precision VARCHAR")

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------ articles
    def known_articles(self) -> Iterable[tuple[str, str, bytes | None, str | None]]:
        """Streamed in batches: 20,000 signatures at once would be ~50 MB held only to be copied
        into the near-duplicate index. Consume it before the next query on this store."""
        cursor = self.con.execute(
            """SELECT a.article_id, a.content_hash, m.hashvalues, a.duplicate_of
               FROM articles a LEFT JOIN minhashes m USING (article_id)"""
        )
        while rows := cursor.fetchmany(2000):
            yield from rows

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
        with self._registered(new_articles=frame, new_sigs=sigs), self._transaction():
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
            self.con.execute("INSERT OR IGNORE INTO minhashes SELECT article_id, hashvalues::BLOB FROM new_sigs")
            crash_point("ingest-commit")
        return self.count() - before

    def count(self) -> int:
        return self.con.execute("SELECT count(*) FROM articles").fetchall()[0][0]

    def export_articles(self, target: Path) -> None:
        self.export_parquet(
            f"SELECT {', '.join(ARTICLE_COLUMNS)} FROM articles ORDER BY published_at NULLS LAST, article_id", target
        )

    # ------------------------------------------------------------ NLP tables
    def pending_analysis(self) -> pd.DataFrame:
        """Articles never analysed, or whose text changed since (a teaser upgraded)."""
        return self.con.execute(
            """SELECT a.article_id, a.title, a.text, a.published_at, a.content_hash FROM articles a
               LEFT JOIN analyzed z USING (article_id)
               WHERE z.content_hash IS DISTINCT FROM a.content_hash
               ORDER BY a.published_at NULLS LAST, a.article_id"""
        ).df()

    def replace_analysis(self, article_ids: list[str], content_hashes: dict[str, str],
                         tables: dict[str, pa.Table]) -> None:
        """Swap in the rows of a chunk of analysed articles, all tables in one transaction, so
        an interruption leaves each article either fully analysed or pending."""
        ids = pa.table({
            "article_id": pa.array(article_ids, pa.string()),
            "content_hash": pa.array([content_hashes[a] for a in article_ids], pa.string()),
        })
        with self._registered(chunk_ids=ids, **{f"new_{n}": tables[n] for n in PER_ARTICLE}), self._transaction():
            for name in PER_ARTICLE:
                self.con.execute(f"DELETE FROM {name} WHERE article_id IN (SELECT article_id FROM chunk_ids)")
                self.con.execute(f"INSERT INTO {name} SELECT * FROM new_{name}")
            self.con.execute("INSERT OR REPLACE INTO analyzed SELECT article_id, content_hash, now() FROM chunk_ids")
            crash_point("analyze-commit")

    def sentence_vectors(self, keys: pd.DataFrame) -> pd.DataFrame:
        """Stored vectors (float16 bytes) and their space of the (article_id, sent_idx) pairs in
        `keys`, with any other columns of `keys` carried along; pairs without a vector are left out."""
        with self._registered(wanted=keys):
            return self.con.execute(
                "SELECT w.*, v.vector, v.space FROM wanted w JOIN sentence_vectors v USING (article_id, sent_idx)"
            ).df()

    def add_sentence_vectors(self, rows: pa.Table) -> None:
        """Vectors encoded after the fact (articles analysed before vectors were stored, or whose
        vectors came from another encoder); they replace what is stored for the same sentences."""
        with self._registered(new_vectors=rows), self._transaction():
            self.con.execute("DELETE FROM sentence_vectors WHERE (article_id, sent_idx) IN "
                             "(SELECT article_id, sent_idx FROM new_vectors)")
            self.con.execute("INSERT INTO sentence_vectors SELECT * FROM new_vectors")

    def replace_table(self, name: str, rows: pa.Table) -> None:
        with self._registered(new_rows=rows), self._transaction():
            self.con.execute(f"DELETE FROM {name}")
            self.con.execute(f"INSERT INTO {name} SELECT * FROM new_rows")

    @contextmanager
    def memory_limit(self, limit: str):
        """DuckDB's buffer pool capped at `limit` (e.g. '128MB') inside the block. DuckDB keeps
        every block it writes cached until it reaches its limit (80% of RAM by default), so a
        long loop of appends grows the process with the store: 5,120 articles' rows committed
        128 at a time left 171 MB in DuckDB's pool and the process at 537 MB RSS; capped at
        128MB, 42 MB and 276 MB, at the same speed. Afterwards the default comes back (RESET:
        the store sets no other limit, and a value read back is rounded, 18.8 GiB as 18.7)."""
        self.con.execute(f"SET memory_limit = '{limit}'")
        try:
            yield
        finally:
            self.con.execute("RESET memory_limit")

    @contextmanager
    def _transaction(self):
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    @contextmanager
    def _registered(self, **relations):
        for name, relation in relations.items():
            self.con.register(name, relation)
        try:
            yield
        finally:
            for name in relations:
                self.con.unregister(name)

    def frame(self, sql: str) -> pd.DataFrame:
        return self.con.execute(sql).df()

    # ------------------------------------------------------------ HTTP validators
    def get_validators(self, url: str) -> CacheEntry | None:
        rows = self.con.execute("SELECT etag, last_modified FROM http_cache WHERE url = ?", [url]).fetchall()
        return CacheEntry(*rows[0]) if rows else None

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
        with replacing(target) as tmp:
            self.con.execute(f"COPY ({table_sql}) TO '{tmp.as_posix()}' (FORMAT parquet)")
