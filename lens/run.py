"""Stage orchestration: ingest → (later stages) → tables in the output folder.

Every stage reads from and writes to the DuckDB store in `OUT/lens.duckdb`, so a second run
over the same store only does what is new.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ingest.dedup import Deduplicator
from ingest.fetch import Fetcher, FetchPolicy
from ingest.sources import ReadOptions, SourceReader, SourceReport

from .atomic import replacing, write_text
from .crash_points import crash_point
from .store import Store

log = logging.getLogger(__name__)
STORE_NAME = "lens.duckdb"
# Where every command writes and reads when --out is not given: one folder, so that `lens run`
# followed by `lens annotate` or `lens timeline` finds what the first wrote. It is the folder
# `make demo` fills; name another for news of your own.
DEFAULT_OUT = Path("reports/demo")
DEFAULT_PRICES = Path("corpus/prices")  # the demo corpus's: what a command on prices reads unless told
# DuckDB's buffer pool while analysed chunks are appended: each commit needs one chunk's rows
# (a few MB), and uncapped the pool keeps everything written (~35 MB per 1,000 articles),
# which made the process grow with the run (Store.memory_limit). The cross-article stages
# after the loop read whole tables and run with DuckDB's default.
ANALYSIS_DUCKDB_MEMORY = "128MB"
# Fewer articles than this are parsed in the calling process: starting the spaCy workers (a
# fresh process that loads en_core_web_sm, about 3 s) and filling their pipeline costs more
# than two cores save on a handful.
MIN_ARTICLES_FOR_WORKERS = 32


@dataclass
class IngestResult:
    seen: int = 0
    new: int = 0
    near_duplicates: int = 0
    exact_duplicates: int = 0
    known: int = 0  # items whose id was stored or read before (a fuller text replaces a teaser)
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
        # article_id -> Article, flushed every batch_size items whatever their verdict: a re-read
        # of known feeds (all same-id) must not pile every item up in memory, nor scan them all.
        pending = {}

        def flush() -> None:
            batch = list(pending.values())
            signatures = {
                a.article_id: dedup.new_signatures.pop(a.article_id).tobytes()
                for a in batch
                if a.article_id in dedup.new_signatures
            }
            result.new += store.add_articles(batch, signatures)
            pending.clear()

        for article in reader.read(sources):
            result.seen += 1
            verdict = dedup.check(article)
            if verdict.status == "same-id":
                result.known += 1
                # May upgrade a stored teaser to the full text (the rule lives in
                # Store.add_articles); flush first so the first copy is stored before it.
                if article.article_id in pending:
                    flush()
                pending[article.article_id] = article
            elif verdict.status == "same-text":
                result.exact_duplicates += 1
            else:
                if verdict.status == "near":
                    article.duplicate_of = verdict.duplicate_of
                    result.near_duplicates += 1
                pending[article.article_id] = article
            if len(pending) >= batch_size:
                flush()
            crash_point("ingest-item")
            if on_article:
                on_article()
        flush()
        store.log_sources(reader.reports)
        result.reports = reader.reports
        result.total = store.count()
        result.dated = store.con.execute(
            "SELECT count(*) FROM articles WHERE published_at IS NOT NULL"
        ).fetchall()[0][0]
        store.export_articles(out / "articles.parquet")
    return result


# ---------------------------------------------------------------------------- analysis


@dataclass
class AnalyzeResult:
    analysed: int = 0
    sentences: int = 0
    entities: int = 0
    catalysts: int = 0
    events: int = 0
    truncated: int = 0
    rescored: int = 0  # in the store: sentences whose tone came from the catalyst tone model
    device: str | None = None


def analyze_store(
    out: Path,
    config=None,
    chunk_size: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    nlp=None,
    timeline_config=None,
    ray_options=None,
) -> AnalyzeResult:
    """Run the language pipeline over every article of OUT's store not analysed yet (or whose
    text changed), chunk by chunk in transactions; then rebuild the timeline and export the
    tables. `nlp` may be passed in so that one process loads the models once. With
    `ray_options` (lens.engine_ray.RayOptions) the chunks are analysed on Ray actors instead."""
    from nlp.events import build_timeline
    from nlp.kb import load_kb
    from nlp.pipeline import PipelineConfig, release_free_heap

    from .tables import to_arrow

    config = config or PipelineConfig()
    chunk_size = chunk_size or config.commit_every
    result = AnalyzeResult()
    with Store(out / STORE_NAME) as store:
        pending = store.pending_analysis()
        total = len(pending)
        if total:
            with store.memory_limit(ANALYSIS_DUCKDB_MEMORY):
                if ray_options is not None:
                    from .engine_ray import analyze_pending

                    done = analyze_pending(store, pending, config, chunk_size, ray_options, out / ".ray-staging",
                                           on_progress)
                    result.analysed, result.truncated, result.device = done.analysed, done.truncated, done.device
                else:
                    nlp = nlp or load_pipeline(config, total)
                    result.device = pipeline_device(nlp)
                    records = pending.to_dict("records")
                    # One stream through the pipeline (its worker processes stay busy across
                    # chunks), committed to the store chunk by chunk.
                    for chunk, tables in analyze_chunks(nlp, records, config, chunk_size):
                        result.truncated += sum(n or 0 for n in tables["article_scores"]["n_truncated"].to_pylist())
                        ids = [r["article_id"] for r in chunk]
                        hashes = {r["article_id"]: r["content_hash"] for r in chunk}
                        store.replace_analysis(ids, hashes, tables)
                        del tables
                        release_free_heap()
                        result.analysed += len(chunk)
                        if on_progress:
                            on_progress(result.analysed, total)
        catalysts = store.frame("SELECT * FROM catalysts")
        articles = store.frame("SELECT article_id, source, title, url, published_at, published_precision, duplicate_of FROM articles")
        scores = store.frame("SELECT article_id, sent_idx, score FROM sentences")
        events = build_timeline(catalysts, articles, scores, timeline_config, governments=load_kb().governments())
        store.replace_table("events", to_arrow("events", events.to_dict("records")))
        for name in ("sentences", "entities", "catalysts", "events"):
            order = "event_date, event_id" if name == "events" else "article_id, sent_idx"
            store.export_parquet(f"SELECT * FROM {name} ORDER BY {order}", out / f"{name}.parquet")
        store.export_articles(out / "articles.parquet")
        counts = store.con.execute(
            "SELECT (SELECT count(*) FROM sentences), (SELECT count(*) FROM entities), "
            "(SELECT count(*) FROM catalysts), (SELECT count(*) FROM events), "
            "(SELECT coalesce(sum(n_rescored), 0) FROM article_scores)"
        ).fetchall()[0]
        result.sentences, result.entities, result.catalysts, result.events, result.rescored = counts
    return result


def load_pipeline(config, n_articles: int):
    """build_pipeline(config) for an analysis of `n_articles`, with its spaCy workers (if it
    gets any) started first, so that they load en_core_web_sm while this process loads the
    transformers."""
    from nlp.pipeline import build_pipeline, start_parse_workers

    if (workers := worker_count(config, n_articles)) > 1:
        start_parse_workers(config, workers)
    return build_pipeline(config)


def worker_count(config, n_articles: int) -> int:
    """The spaCy worker processes an analysis of `n_articles` gets (1: spaCy in this process)."""
    from nlp.pipeline import default_n_process

    if n_articles < MIN_ARTICLES_FOR_WORKERS:
        return 1  # starting workers costs more than it saves
    return config.n_process or default_n_process(config.device)


def analyze_chunks(nlp, records: list[dict], config, chunk_size: int, n_process: int | None = None):
    """(chunk of records, its per-article tables) for consecutive chunks of `chunk_size`,
    analysed as one stream, so the spaCy workers never drain and restart at a commit.

    Transformer numbers depend (in the last bits) on which sentences share a batch, so the
    components' batches never cross a chunk boundary: their size divides the chunk size (else
    it is the chunk size). A chunk then gives the same rows whatever came before it, which is
    what lets a resumed run, and the Ray actors (one chunk per call), reproduce an
    uninterrupted local run."""
    from nlp.pipeline import analyze

    from .tables import PER_ARTICLE, to_arrow

    if n_process is None:
        n_process = worker_count(config, len(records))
    component_batch = config.component_batch_size
    if chunk_size % component_batch:
        component_batch = chunk_size
    stream = analyze(nlp, records, batch_size=config.batch_size, n_process=n_process,
                     component_batch_size=component_batch)
    for start in range(0, len(records), chunk_size):
        chunk = records[start : start + chunk_size]
        rows: dict[str, list[dict]] = {name: [] for name in PER_ARTICLE}
        for doc_rows in itertools.islice(stream, len(chunk)):
            for name in PER_ARTICLE:  # DocRows names its lists after the tables; one article row
                if name == "article_scores":
                    rows[name].append(doc_rows.article)
                else:
                    rows[name] += getattr(doc_rows, name)
        yield chunk, {name: to_arrow(name, rows[name]) for name in PER_ARTICLE}


def analyze_chunk(nlp, chunk: list[dict], config, n_process: int | None = None, chunk_size: int | None = None) -> dict:
    """The per-article tables (Arrow, lens/tables.py schemas) of one chunk of articles;
    `chunk_size` is the run's (a last chunk may be shorter), which sets the component batches."""
    from .tables import PER_ARTICLE, to_arrow

    for _, tables in analyze_chunks(nlp, chunk, config, chunk_size or max(len(chunk), 1), n_process):
        return tables
    return {name: to_arrow(name, []) for name in PER_ARTICLE}


def sentiment_model(nlp):
    """The pipeline's sentiment model (its device and precision are the transformers'), or None."""
    return nlp.get_pipe("lens_sentiment").model if "lens_sentiment" in nlp.pipe_names else None


def pipeline_device(nlp) -> str | None:
    """The device the sentiment model runs on, as the run reports it."""
    model = sentiment_model(nlp)
    return str(model.device) if model is not None else None


# ---------------------------------------------------------------------------- market


@dataclass
class MarketStageResult:
    tickers: int = 0
    moves: int = 0
    in_news: int = 0  # moves an article of the run could explain (in_news_window)
    explained: int = 0
    study_pairs: int = 0
    problems: list[str] = field(default_factory=list)  # every one, as market_problems.txt lists them
    summary: list[str] = field(default_factory=list)  # the same, a line per kind, for the terminal
    result: object = None
    prices: object = None


def market_stage(out: Path, prices_dir: Path, move_config=None, attribution_config=None,
                 on_progress: Callable[[int, int], None] | None = None) -> MarketStageResult:
    """Prices + the store's timeline → moves.parquet (annotated), event_study.parquet,
    event_study_by_type.parquet and annotated_moves.csv in OUT."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from market.annotate import annotate_market
    from market.coverage import coverage_problems
    from market.prices import load_prices
    from nlp.kb import load_kb
    from nlp.timex import to_utc_date

    from .csv_safe import write_csv

    prices, kb = load_prices(prices_dir), load_kb()
    with Store(out / STORE_NAME) as store:
        events = store.frame("SELECT * FROM events")
        urls = dict(store.con.execute("SELECT article_id, url FROM articles").fetchall())
        first, last = store.con.execute("SELECT min(published_at), max(published_at) FROM articles").fetchone()
    # the days the news ran (UTC, as the report's charts): a move no article could be about is
    # said to be outside it instead of counted as one the run failed to explain
    news_span = (to_utc_date(first), to_utc_date(last)) if first is not None else None
    # Tickers the timeline names but the folder cannot price join the file problems, so the
    # report's "Data problems" section and market_problems.txt list them with the reason.
    overrides = move_config.benchmarks if move_config is not None else None
    prices.problems += coverage_problems(events, prices, kb, prices_dir, overrides)
    stage = MarketStageResult(problems=[p.line() for p in prices.problems], prices=prices)
    result = annotate_market(prices, events, kb, move_config, attribution_config, evidence_urls=urls,
                             on_progress=on_progress, news_span=news_span)
    stage.result = result
    stage.tickers = len(prices.tickers)
    stage.moves = len(result.moves)
    stage.explained = int(result.moves["top_event_id"].notna().sum()) if not result.moves.empty else 0
    stage.in_news = int(result.moves["in_news_window"].sum()) if not result.moves.empty else 0
    stage.study_pairs = len(result.event_study)
    stage.problems += result.skipped
    stage.summary = problem_summary(prices.problems, result.skipped, prices_dir)
    moves = result.moves
    _write_parquet(pa.Table.from_pandas(moves, preserve_index=False) if not moves.empty else pa.table({}),
                   out / "moves.parquet", pq)
    _write_parquet(pa.Table.from_pandas(result.event_study.drop(columns=["ar_path"]), preserve_index=False),
                   out / "event_study.parquet", pq)
    _write_parquet(pa.Table.from_pandas(result.by_type, preserve_index=False), out / "event_study_by_type.parquet", pq)
    if not moves.empty:
        # figures to 6 places: 0.49999999999999994 is float noise, not a finding
        flat = moves.drop(columns=["candidates"]).sort_values(["date", "ticker"]).round(6)
        write_csv(flat, out / "annotated_moves.csv")
    write_text(out / "market_problems.txt", "\n".join(stage.problems) + ("\n" if stage.problems else ""))
    return stage


def problem_summary(price_problems: list, skipped: list[str], prices_dir: Path) -> list[str]:
    """What the terminal says of a market stage's problems: a bad price file gets its own line
    (the user's data needs fixing), while tickers the timeline names without a price file, and
    event studies short of price history, are one line per kind. A corpus that names sixty
    tickers of which a folder prices twenty otherwise prints forty near-identical warnings."""
    lines, unpriced = [], []
    for p in price_problems:
        (unpriced if p.n_events else lines).append(p)
    lines = [p.line() for p in lines]
    if unpriced:
        unpriced.sort(key=lambda p: (-p.n_events, p.ticker))
        named = ", ".join(f"{p.ticker} ({p.n_events})" for p in unpriced[:5])
        more = f" and {len(unpriced) - 5} more" if len(unpriced) > 5 else ""
        lines.append(f"{prices_dir}: no price file for {len(unpriced)} ticker{'s' if len(unpriced) != 1 else ''} "
                     f"the timeline names directly (events naming each: {named}{more}); "
                     "those events are not studied on them")
    by_reason: dict[str, int] = {}
    for line in skipped:
        # "event study <event> on <ticker>: <reason>": the reason is what the user can act on
        head, _, reason = line.partition(": ")
        if head.startswith("event study ") and reason:
            by_reason[reason] = by_reason.get(reason, 0) + 1
        else:
            lines.append(line)
    lines += [f"{n} event × ticker stud{'ies' if n != 1 else 'y'} left out: {reason}" for reason, n in by_reason.items()]
    return lines


def _write_parquet(table, target: Path, pq) -> None:
    with replacing(target) as tmp:
        pq.write_table(table, tmp)


def online_prices(out: Path) -> tuple[Path, list[str]]:
    """Download (yfinance) the prices a run needs: the tickers of every linked entity and their
    benchmarks, from 200 days before the first article (the estimation window) to 30 after the
    last. Written to OUT/prices/, which the market stage then reads."""
    from datetime import timedelta

    from market.online import download_prices
    from nlp.kb import load_kb

    kb = load_kb()
    with Store(out / STORE_NAME) as store:
        ids = [r[0] for r in store.con.execute("SELECT DISTINCT entity_id FROM entities WHERE entity_id IS NOT NULL").fetchall()]
        first, last = store.con.execute("SELECT min(published_at), max(published_at) FROM articles").fetchall()[0]
    tickers = {t for i in ids if kb.get(i) for t in kb.get(i).tickers}
    tickers |= {b for t in list(tickers) if (b := kb.benchmark_for(t))}
    folder = out / "prices"
    if first is None:
        return folder, ["no dated articles: nothing to download prices for"]
    problems = download_prices(sorted(tickers), (first - timedelta(days=200)).date(), (last + timedelta(days=30)).date(), folder)
    return folder, problems
