"""`lens`: the command line of Catalyst Lens.

Exit codes: 0 success (problems with single items are printed, one line each, and do not fail
the run); 1 nothing could be processed; 2 bad usage or configuration.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import replace
from pathlib import Path

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from ingest.files import BatchMapping
from ingest.sources import ReadOptions, is_url

from . import run as stages
from .terminal import plain

app = typer.Typer(
    name="lens",
    help="Catalyst Lens: market news → entities, dated catalysts, sentiment, annotated price moves.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True, soft_wrap=True)
out_console = Console(soft_wrap=True)


@app.callback()
def main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print errors and results only."),
    config: Path = typer.Option(None, "--config", "-c", help="Configuration file (default: ./lens.toml if present)."),
) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(
        level=level, format="%(message)s", handlers=[RichHandler(console=console, show_path=False, log_time_format="[%Y-%m-%d %H:%M:%S]")], force=True
    )
    # Third-party chatter (htmldate/trafilatura warn about every odd page) stays at WARNING.
    for noisy in ("htmldate", "trafilatura", "httpx", "httpcore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.ERROR if not verbose else logging.INFO)
    app.state = {"quiet": quiet, "config_path": config}  # type: ignore[attr-defined]


def _quiet() -> bool:
    return getattr(app, "state", {}).get("quiet", False)


def _config():
    """The effective LensConfig, loaded on first use (it imports the model stack)."""
    from .config import ConfigError, load_config

    state = getattr(app, "state", {})
    if "config" not in state:
        try:
            state["config"] = load_config(state.get("config_path"))
        except ConfigError as exc:
            console.print(Text("error: ", style="red") + plain(str(exc)))
            raise typer.Exit(2) from None
    return state["config"]


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=console,
        disable=_quiet(),
        transient=True,
    )


ALLOW_PRIVATE = typer.Option(
    False, "--allow-private-hosts",
    help="Let URLs (and redirects) reach loopback, private and link-local addresses (your own network).",
)
FETCH_ARTICLES = typer.Option(False, "--fetch-articles", help="Fetch the linked page of feed items that only carry a summary.")
COLUMNS = typer.Option(None, "--columns", help="Batch column mapping, e.g. 'title=headline,text=body,published_at=date'.")
SENTIMENT_MODEL = typer.Option(
    None, "--sentiment-model",
    help="Bundled name (finance-minilm, whose pass also gives the catalyst sentence vectors; finance-mpnet6 and "
    "finance-mpnet, more accurate and slower; finance-cascade, finance-minilm with finance-mpnet on the "
    "sentences it is unsure of), local HF folder or cached id. [default: from config, finance-minilm]",
)
CATALYST_TONE = typer.Option(
    None, "--catalyst-tone-model",
    help="Model that scores the catalyst sentences again (all of them on a GPU or a bf16 CPU, the ones the sentiment "
    "model is unsure of on other CPUs), or none. [default: from config, finance-mpnet6]",
)  # fmt: skip
RUN_PRICES = typer.Option(None, "--prices", help="Price folder. [default: the one the run was made with, else corpus/prices]")
DEVICE = typer.Option(None, "--device", help="auto (cuda → mps → cpu), cuda, mps or cpu. [default: auto]")
PRECISION = typer.Option(
    None, "--precision",
    help="Of the transformers: auto (fp16 on CUDA, bf16 on AMX/AVX512-BF16 CPUs, int8 on other x86 CPUs "
         "for the bundled model, else fp32), fp32, bf16, fp16 or int8. [default: auto]",
)  # fmt: skip
BATCH = typer.Option(None, "--batch-size", help="Documents per en_core_web_sm batch. [default: 4]")
N_PROCESS = typer.Option(None, "--n-process", help="en_core_web_sm worker processes. [default: one per core, at most 4; up to 8 with CUDA]")
ENGINE = typer.Option("local", "--engine", help="Where the per-article analysis runs: local (this process) or ray (Ray Data actors; the ray extra).")
RAY_ADDRESS = typer.Option(None, "--ray-address", help="Ray cluster to join with --engine ray (e.g. auto, ray://head:10001). [default: a private Ray on this machine]")
RAY_ACTORS = typer.Option(1, "--ray-actors", min=1, help="Analysers with --engine ray, each loading the models once.")


def _ray_options(engine: str, address: str | None, actors: int):
    """None for the local engine; for Ray, its options, once Ray is known to be installed (a
    missing extra is one line before any work starts)."""
    if engine not in ("local", "ray"):
        console.print(Text("error: ", style="red") + plain(f"--engine {engine!r}: use 'local' or 'ray'"))
        raise typer.Exit(2)
    if engine == "local":
        if address or actors != 1:
            console.print("[red]error:[/] --ray-address and --ray-actors need --engine ray")
            raise typer.Exit(2)
        return None
    from .engine_ray import RayOptions, RayUnavailable, require_ray

    try:
        require_ray()
    except RayUnavailable as exc:
        console.print(Text("error: ", style="red") + plain(str(exc)))
        raise typer.Exit(2) from None
    return RayOptions(address=address, actors=actors)


def _run_ingest(
    sources: list[str], out: Path, fetch_articles: bool, columns: str | None, allow_private_hosts: bool = False
) -> stages.IngestResult:
    try:
        mapping = BatchMapping.parse(columns)
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    local = [s for s in sources if not is_url(s)]
    if sources and len(local) == len(sources) and not any(Path(s).expanduser().exists() for s in local):
        # nothing to read at all is missing input (exit 2), decided before OUT is created; one
        # missing source among others is a problem of that item only
        for source in local:
            console.print(Text("error: ", style="red") + plain(f"{source}: no such file or folder"))
        raise typer.Exit(2)
    with _progress() as progress:
        task = progress.add_task("ingest", total=None, rate="")

        def tick() -> None:
            progress.advance(task)
            elapsed = progress.tasks[0].elapsed or 0
            if elapsed:
                progress.update(task, rate=f"{progress.tasks[0].completed / elapsed:.0f} items/s")

        settings = _config().ingest
        result = stages.ingest(
            sources,
            out,
            ReadOptions(fetch_articles=fetch_articles, mapping=mapping),
            policy=replace(settings.fetch, allow_private_hosts=allow_private_hosts or settings.fetch.allow_private_hosts),
            near_duplicate_threshold=settings.near_duplicate_threshold,
            on_article=tick,
            batch_size=settings.commit_every,
        )
    for report in result.problems:
        console.print(Text(f"{report.status}: ", style="yellow") + plain(report.line()), highlight=False, soft_wrap=True)
    console.print(
        f"ingest: read {result.seen} items, stored {result.new} new "
        f"({result.near_duplicates} near-duplicates flagged, {result.exact_duplicates} exact copies skipped, "
        f"{result.known} already known by their id, kept or given a fuller text); "
        f"store holds {result.total} articles, {result.dated} dated → {out / 'articles.parquet'}",
        highlight=False,
    )
    return result


@app.command()
def ingest(
    sources: list[str] = typer.Argument(..., help="Folders (recursive), files and http(s) URLs."),
    out: Path = typer.Option(stages.DEFAULT_OUT, "--out", "-o", help="Output folder (store + tables)."),
    fetch_articles: bool = FETCH_ARTICLES,
    columns: str = COLUMNS,
    allow_private_hosts: bool = ALLOW_PRIVATE,
) -> None:
    """Read feeds, pages, text files and batches into OUT/articles.parquet and OUT/lens.duckdb.

    Example: lens ingest corpus/ https://example.com/feed.xml --out reports/news
    """
    result = _run_ingest(sources, out, fetch_articles, columns, allow_private_hosts)
    if result.failed:
        raise typer.Exit(1)


def _nlp_config(sentiment_model: str | None = None, device: str | None = None, batch_size: int | None = None,
                n_process: int | None = None, precision: str | None = None, catalyst_tone_model: str | None = None):
    """lens.toml's [nlp] with the command line's options over it."""
    base = _config().nlp
    config = replace(
        base,
        sentiment_model=sentiment_model or base.sentiment_model, device=device or base.device,
        batch_size=batch_size or base.batch_size, n_process=n_process or base.n_process,
        precision=precision or base.precision, catalyst_tone_model=catalyst_tone_model or base.catalyst_tone_model,
    )  # fmt: skip
    from nlp.sentiment import SentimentModelError, check_precision

    try:  # one line before any model loads
        check_precision(config.precision)
    except SentimentModelError as exc:
        console.print(Text("error: ", style="red") + plain(f"--{exc}"))
        raise typer.Exit(2) from None
    return config


def models_line(config) -> str:
    """The report's "models" line: the spaCy model, the sentiment model and, when the pipeline
    has one, the model that scores catalyst sentences again."""
    from nlp.catalyst_tone import asks_every_sentence

    line, tone, margin = f"spaCy en_core_web_sm 3.8 + {config.sentiment_model}", config.catalyst_tone(), config.tone_margin()
    if tone is None:
        return line
    which = "catalyst sentences" if asks_every_sentence(margin) else f"catalyst sentences below margin {margin:.3f}"
    return f"{line}; {tone} on the {which}"


def _run_analyze(out: Path, config, ray_options=None) -> stages.AnalyzeResult:
    with _progress() as progress:
        task = progress.add_task("analyse", total=None, rate="")

        def tick(done: int, total: int) -> None:
            elapsed = progress.tasks[0].elapsed or 0
            rate = f"{done / elapsed:.1f} articles/s" if elapsed else ""
            progress.update(task, completed=done, total=total, rate=rate)

        result = stages.analyze_store(out, config, on_progress=tick, timeline_config=_config().timeline,
                                      ray_options=ray_options)
    console.print(
        f"analyse: {result.analysed} new articles"
        + (f" on {result.device}" if result.device else "")
        + f"; tables hold {result.sentences} sentences, {result.entities} entity mentions, "
        f"{result.catalysts} catalyst mentions, {result.events} timeline events"
        + (f"; {result.truncated} over-long sentences truncated" if result.truncated else "")
        + (f"; the tone of {result.rescored} catalyst sentences from {config.catalyst_tone()}"
           if result.rescored and config.catalyst_tone() else ""),
        highlight=False,
    )
    return result



@app.command()
def analyze(
    sources: list[str] = typer.Argument(None, help="Folders, files and URLs to ingest first (optional)."),
    out: Path = typer.Option(stages.DEFAULT_OUT, "--out", "-o", help="Output folder (store + tables)."),
    fetch_articles: bool = FETCH_ARTICLES,
    columns: str = COLUMNS,
    sentiment_model: str = SENTIMENT_MODEL,
    catalyst_tone_model: str = CATALYST_TONE,
    device: str = DEVICE,
    precision: str = PRECISION,
    batch_size: int = BATCH,
    n_process: int = N_PROCESS,
    allow_private_hosts: bool = ALLOW_PRIVATE,
    engine: str = ENGINE,
    ray_address: str = RAY_ADDRESS,
    ray_actors: int = RAY_ACTORS,
) -> None:
    """Ingest SOURCES (if given) and run the language pipeline on every article not analysed yet;
    writes articles, sentences, entities, catalysts and events as Parquet into OUT.

    Example: lens analyze corpus/ --out reports/news   (later: lens analyze --out reports/news)
    """
    ray_options = _ray_options(engine, ray_address, ray_actors)
    config = _nlp_config(sentiment_model, device, batch_size, n_process, precision, catalyst_tone_model)
    if sources:
        ingested = _run_ingest(sources, out, fetch_articles, columns, allow_private_hosts)
        if ingested.failed:
            raise typer.Exit(1)
    elif not (out / stages.STORE_NAME).exists():
        console.print(f"[red]error:[/] {out / stages.STORE_NAME}: no store here; name SOURCES to ingest first")
        raise typer.Exit(2)
    _run_analyze(out, config, ray_options)
    out_console.print(f"Tables written to {out.resolve()}")


@app.command()
def timeline(
    out: Path = typer.Option(stages.DEFAULT_OUT, "--out", "-o", help="Folder of an analysed store."),
    limit: int = typer.Option(40, "--limit", help="Latest events to print (all go to the files)."),
    catalyst_type: str = typer.Option(None, "--type", help="Only this catalyst type or family (e.g. trade)."),
) -> None:
    """Print the catalyst timeline (with --type, that type's or family's events only) and write
    the whole of it to OUT/timeline.csv and OUT/timeline.md.

    Example: lens timeline --out reports/demo --type trade
    """
    from nlp.catalysts import load_taxonomy

    from .timeline_view import entity_names, load_events, render_table, write_files

    events = load_events(out)
    if events is None:
        console.print(f"[red]error:[/] {out / 'events.parquet'}: no timeline here (run `lens analyze ... --out {out}` first)")
        raise typer.Exit(2)
    # the files are the run's timeline, as the report counts it: a filter narrows what is printed
    csv_path, md_path = write_files(events, out)
    if catalyst_type:
        taxonomy = load_taxonomy()
        known = {*events.catalyst_type.dropna(), *taxonomy.types, *taxonomy.groups}
        known |= {name.split(".")[0] for name in known}
        if catalyst_type not in known:
            families = ", ".join(sorted({name.split(".")[0] for name in known}))
            # "tariffs" for trade.tariffs: the last part of a type is what people remember
            close = sorted(name for name in known if "." in name and catalyst_type.lower() in name.lower())
            hint = f"did you mean {', '.join(close[:3])}? " if close else ""
            console.print(f"[red]error:[/] --type {catalyst_type}: no such catalyst type or family "
                          f"({hint}families: {families}; the types are in models/catalysts.yaml)")  # fmt: skip
            raise typer.Exit(2)
        events = events[(events.catalyst_type == catalyst_type) | events.catalyst_type.str.startswith(catalyst_type + ".")]
    # The latest events, still oldest first: what an analyst opens the timeline for (an event
    # without a date is not among the latest).
    shown = events.sort_values("event_date", na_position="first", kind="stable").tail(limit) if limit > 0 else events.iloc[:0]
    out_console.print(render_table(shown, width=out_console.width, names=entity_names(out)))
    noun = "event" if len(events) == 1 else "events"
    which = f"the latest {len(shown)} of {len(events)} {noun}" if len(shown) < len(events) else f"{len(events)} {noun}"
    console.print(f"{which} shown; the whole timeline in {csv_path} and {md_path}", highlight=False)


@app.command("eval-nlp")
def eval_nlp(
    gold: Path = typer.Option(Path("corpus/gold/nlp_gold.jsonl"), "--gold", help="Gold annotation file."),
    out: Path = typer.Option(stages.DEFAULT_OUT, "--out", "-o", help="Folder of an analysed run of the corpus."),
    analyse_first: bool = typer.Option(True, "--analyse/--no-analyse", help="Analyse corpus/ into OUT first."),
    corpus: Path = typer.Option(Path("corpus"), "--corpus", help="Corpus the gold file annotates."),
    half: str = typer.Option("all", "--half", help="all, dev (read its errors, tune on it) or test (score only)."),
) -> None:
    """Precision, recall and F1 of entity linking and catalyst typing, and date accuracy,
    against the gold annotation of the bundled corpus.

    Example: lens eval-nlp --out reports/eval --half test
    """
    from nlp.evaluate import HALVES, evaluate_run, gold_not_in_run

    if half not in HALVES:
        console.print(f"[red]error:[/] --half {half}: expected one of {', '.join(HALVES)}")
        raise typer.Exit(2)

    if not gold.exists():
        console.print(f"[red]error:[/] {gold}: no such gold file")
        raise typer.Exit(2)
    if analyse_first:
        _run_ingest([str(corpus)], out, False, None)
        _run_analyze(out, _nlp_config("finance-minilm", "auto"))
    scores = evaluate_run(gold, out, half)
    missing = gold_not_in_run(gold, out, half)
    if missing:
        console.print(
            f"[yellow]warning:[/] {out}: {len(missing)} gold articles are not in this run "
            f"(first: {missing[0]}); their annotations count as misses. Analyse the corpus the gold "
            "file annotates (--corpus)."
        )
    if half != "all":
        out_console.print(f"gold half: {half}", highlight=False)
    for line in scores.lines():
        out_console.print(line, highlight=False)


@app.command()
def run(
    sources: list[str] = typer.Argument(..., help="Folders, files and URLs to read."),
    prices: Path = typer.Option(stages.DEFAULT_PRICES, "--prices", help="Folder of per-ticker price CSVs."),
    prices_from: str = typer.Option(
        "folder", "--prices-from", help="'folder' (--prices) or 'yfinance' (online extra; downloads into OUT/prices)."
    ),
    out: Path = typer.Option(stages.DEFAULT_OUT, "--out", "-o", help="Output folder."),
    fetch_articles: bool = FETCH_ARTICLES,
    columns: str = COLUMNS,
    sentiment_model: str = SENTIMENT_MODEL,
    catalyst_tone_model: str = CATALYST_TONE,
    device: str = DEVICE,
    precision: str = PRECISION,
    batch_size: int = BATCH,
    n_process: int = N_PROCESS,
    allow_private_hosts: bool = ALLOW_PRIVATE,
    engine: str = ENGINE,
    ray_address: str = RAY_ADDRESS,
    ray_actors: int = RAY_ACTORS,
) -> None:
    """Everything on SOURCES: ingest → analyse → timeline → moves → event study → attribution →
    report, all tables into OUT. A second run over the same OUT only processes what is new.

    Example: lens run corpus --prices corpus/prices --out reports/demo
    """
    import time

    if prices_from not in ("folder", "yfinance"):
        console.print(Text("error: ", style="red") + plain(f"--prices-from {prices_from!r}: use 'folder' or 'yfinance'"))
        raise typer.Exit(2)
    if prices_from == "folder":
        _require_price_folder(prices)
    ray_options = _ray_options(engine, ray_address, ray_actors)
    config = _nlp_config(sentiment_model, device, batch_size, n_process, precision, catalyst_tone_model)
    started = time.monotonic()
    result = _run_ingest(sources, out, fetch_articles, columns, allow_private_hosts)
    if result.failed:
        raise typer.Exit(1)
    analysed = _run_analyze(out, config, ray_options)
    from .timeline_view import load_events, write_files

    events = load_events(out)
    if events is not None:
        write_files(events, out)
    if prices_from == "yfinance":
        from market.online import OnlinePricesError

        try:
            prices, problems = stages.online_prices(out)
        except OnlinePricesError as exc:
            console.print(Text("error: ", style="red") + plain(str(exc)))
            raise typer.Exit(2) from None
        for line in problems:
            console.print(Text("warning: ", style="yellow") + plain(line))
    stage = _run_market(out, prices)
    from .cli_narratives import run_stage as run_narratives

    run_narratives(out, stage.prices, nlp=config)
    report_result = _build_report(out, stage, {
        "run_name": out.name, "models": models_line(config),
        "device": analysed.device or _previous_device(out), "run_seconds": time.monotonic() - started,
        "prices": str(Path(prices).resolve()),  # what `lens report` and `eval-attribution` read again
    })
    out_console.print(f"Tables written to {out.resolve()}")
    out_console.print(f"Report: {report_result.html.resolve()}  (open it in a browser)")


def _previous_device(out: Path) -> str:
    from .report.build import read_meta

    return read_meta(out).get("device", "—")


def _build_report(out: Path, stage: stages.MarketStageResult, meta: dict):
    from .report.build import build_report, write_meta

    with console.status("report: charts and tables"):
        result = build_report(out, stage.prices, stage.result.placements, meta, k=_config().market.k)
    write_meta(out, meta)
    console.print(f"report: {result.html} ({result.size_bytes / 1e6:.1f} MB) and {len(result.pngs)} PNG charts",
                  highlight=False)
    return result


@app.command()
def report(
    out: Path = typer.Option(stages.DEFAULT_OUT, "--out", "-o", help="Folder of a `lens run`."),
    prices: Path = RUN_PRICES,
) -> None:
    """Rebuild OUT/report.html, its PNG charts and the Markdown tables from a run's tables: the
    market stage (moves, event study, attribution) again, on the run's price folder unless
    --prices names another.

    Example: lens report --out reports/demo
    """
    from .report.build import read_meta

    if not (out / stages.STORE_NAME).exists():
        console.print(f"[red]error:[/] {out}: no run here (run `lens run ... --out {out}` first)")
        raise typer.Exit(2)
    prices = _run_prices(out, prices)
    stage = _run_market(out, prices)
    meta = read_meta(out) or {"run_name": out.name}
    result = _build_report(out, stage, {**meta, "prices": str(prices.resolve())})
    out_console.print(f"Report: {result.html.resolve()}")


def _run_prices(out: Path, given: Path | None) -> Path:
    """The price folder of a command that works on a run: --prices when given, else the folder
    the run was made with (run_meta.json), else corpus/prices. Rebuilding a report with another
    folder than the run's would quietly replace its moves and attributions."""
    from .report.build import recorded_prices

    if given is not None:
        _require_price_folder(given)
        return given
    recorded = recorded_prices(out)
    if recorded is not None:
        _require_price_folder(recorded, f"the folder {out} was made with; --prices names another")
        return recorded
    _require_price_folder(stages.DEFAULT_PRICES)
    return stages.DEFAULT_PRICES


def _require_price_folder(prices: Path, what: str = "--prices") -> None:
    """A mistyped --prices is bad usage, said before minutes of analysis, not after."""
    if not prices.is_dir():
        console.print(Text("error: ", style="red") + plain(f"{prices}: no such price folder ({what})"))
        raise typer.Exit(2)


def _run_market(out: Path, prices: Path) -> stages.MarketStageResult:
    with _progress() as progress:
        task = progress.add_task("market: event study", total=None, rate="")

        def tick(done: int, total: int) -> None:
            elapsed = progress.tasks[0].elapsed or 0
            progress.update(task, completed=done, total=total, rate=f"{done / elapsed:.0f} pairs/s" if elapsed else "")

        stage = stages.market_stage(out, prices, _config().market, _config().attribution, on_progress=tick)
    for line in stage.summary[:10]:
        console.print(Text("warning: ", style="yellow") + plain(line), highlight=False, soft_wrap=True)
    if len(stage.summary) > 10:
        console.print(f"... {len(stage.summary) - 10} more", highlight=False)
    if stage.problems:
        console.print(f"the full list: {out / 'market_problems.txt'}", highlight=False)
    console.print(
        f"market: {stage.tickers} ticker{'s' if stage.tickers != 1 else ''}, {stage.moves} significant moves, {stage.in_news} of them while the news "
        f"ran ({stage.explained} attributed), "
        f"{stage.study_pairs} event × ticker studies → {out / 'annotated_moves.csv'}",
        highlight=False,
    )
    return stage


@app.command()
def annotate(
    ticker: str = typer.Option(..., "--ticker", "-t", help="Ticker (or a pair such as CQQQ-QQQM)."),
    out: Path = typer.Option(stages.DEFAULT_OUT, "--out", "-o", help="Folder of a `lens run`."),
    all_moves: bool = typer.Option(False, "--all", help="Include unexplained moves."),
) -> None:
    """Print the significant moves of one ticker with their most likely catalyst.

    Example: lens annotate --ticker CQQQ --out reports/demo
    """
    import pandas as pd

    from .moves_view import render_moves

    path = out / "moves.parquet"
    if not path.exists():
        console.print(f"[red]error:[/] {path}: no moves here (run `lens run ... --out {out}` first)")
        raise typer.Exit(2)
    moves = pd.read_parquet(path)
    mine = moves[moves.ticker.str.upper() == ticker.upper()]
    if mine.empty:
        known = ", ".join(sorted(moves.ticker.unique()))
        from .report.build import recorded_prices

        # a ticker the run could not price is not one without moves: say which it is
        recorded = recorded_prices(out)
        price_file = recorded / f"{ticker.upper()}.csv" if recorded is not None else None
        unpriced = price_file is not None and not price_file.exists()
        why = f"no price file {price_file} in the run's prices" if unpriced else f"no significant moves for {ticker}"
        console.print(f"[red]error:[/] {why} (tickers with moves: {known})")
        raise typer.Exit(2)
    hidden = 0
    if not all_moves:
        hidden = int(mine.top_event_id.isna().sum())
        mine = mine[mine.top_event_id.notna()]
    if not mine.empty:
        out_console.print(render_moves(mine, ticker))
    if hidden:
        console.print(f"{hidden} unexplained move{'s' if hidden != 1 else ''} of {ticker.upper()} not shown "
                      "(--all shows them)", highlight=False)  # fmt: skip


@app.command("eval-attribution")
def eval_attribution(
    gold: Path = typer.Option(Path("corpus/gold/attribution_gold.csv"), "--gold", help="Gold moves file."),
    out: Path = typer.Option(stages.DEFAULT_OUT, "--out", "-o", help="Folder of a `lens run` of the corpus."),
    prices: Path = RUN_PRICES,
    details: bool = typer.Option(False, "--details", help="Print every gold move with the prediction."),
) -> None:
    """Top-1 and top-3 attribution accuracy on gold moves, beside the naive baseline.

    Example: lens eval-attribution --out reports/demo --details
    """
    import pandas as pd

    from market.evaluate import evaluate_attribution, load_gold

    if not (out / stages.STORE_NAME).exists():
        console.print(f"[red]error:[/] {out}: no analysed store (run `lens run corpus --out {out}` first)")
        raise typer.Exit(2)
    stage = stages.market_stage(out, _run_prices(out, prices), _config().market, _config().attribution)
    catalysts = pd.read_parquet(out / "catalysts.parquet")
    articles = pd.read_parquet(out / "articles.parquet")
    scores = evaluate_attribution(load_gold(gold), stage.result.attribute_day, stage.result.moves, catalysts, articles)
    for line in scores.lines():
        out_console.print(line, highlight=False)
    if details:
        for r in scores.rows:
            mark = "ok " if r["top1_ok"] else "MISS"
            accepted = f" (or {'|'.join(r['accept'])})" if r.get("accept") else ""
            out_console.print(f"{mark} {r['ticker']:5s} {r['date']} gold={r['gold']}{accepted} top={r['predicted']} "
                              f"top3={r['top3']} naive={r['naive']}", highlight=False)


@app.command()
def sources(
    out: Path = typer.Option(stages.DEFAULT_OUT, "--out", "-o", help="Folder holding lens.duckdb."),
    errors_only: bool = typer.Option(False, "--errors", help="Only sources that failed or warned."),
) -> None:
    """Show what was read from each source, when, and why anything failed.

    Example: lens sources --out reports/demo --errors
    """
    from rich.table import Table

    from .store import Store

    db = out / stages.STORE_NAME
    if not db.exists():
        console.print(f"[red]error:[/] {db}: no store here (run `lens ingest ... --out {out}` first)")
        raise typer.Exit(2)
    with Store(db) as store:
        log_frame = store.source_log()
    if errors_only:
        log_frame = log_frame[log_frame.status.isin(["error", "warning"])]
    if log_frame.empty:
        what = "no source failed or warned" if errors_only else "nothing has been read into this store yet"
        out_console.print(f"{db}: {what}", highlight=False)
        return
    table = Table("at (UTC)", "status", "items", "source", "reason")
    for row in log_frame.itertuples():
        table.add_row(f"{row.logged_at:%Y-%m-%d %H:%M:%S}", row.status, str(row.n_items),
                      plain(row.source), plain(row.reason or ""))
    out_console.print(table)


config_app = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("show")
def config_show() -> None:
    """Print the effective configuration as TOML (defaults, overridden by lens.toml / --config).

    Example: lens config show > lens.toml
    """
    from .config import to_toml

    out_console.print(plain(to_toml(_config())))


def _register_optional() -> None:
    """Commands owned by other modules register themselves here."""
    try:
        from .cli_sentiment import register as register_sentiment
    except ImportError:
        return
    # lens.toml's [nlp], read when a command runs; a bad file is one line and exit 2, as elsewhere
    register_sentiment(app, lambda: _config().nlp)
    from .cli_narratives import register as register_narratives

    register_narratives(app)


_register_optional()

@app.command()
def bench(
    sizes: str = typer.Option("200,1000,5000", "--sizes", help="Workload sizes in articles, comma-separated."),
    device: str = typer.Option("auto", "--device", help="auto (cuda → mps → cpu), cuda, mps or cpu."),
    threads: int = typer.Option(None, "--threads", help="Torch threads per process. [default: torch's own]"),
    naive_articles: int = typer.Option(20, "--naive-articles", help="Articles for the (slow) naive baseline."),
    n_process: int = typer.Option(None, "--n-process", help="spaCy worker processes of `ours`. [default: analyze's own]"),
    out: Path = typer.Option(None, "--out", help="Results JSON. [default: bench/results/throughput.json]"),
    variants: str = typer.Option("ours,spacy,naive", "--variants",
                                 help="Which to run, comma-separated: ours, spacy (bare en_core_web_sm), naive."),
    sentiment_model: str = SENTIMENT_MODEL,
    catalyst_tone_model: str = CATALYST_TONE,
) -> None:
    """Measure the language stage: `lens analyze` vs bare en_core_web_sm vs naive usage, on the
    same recombined news texts; prints the ratios and writes the results JSON.

    Example: lens bench --sizes 200 --out /tmp/bench.json
    """
    import json

    from . import bench as throughput

    try:
        numbers = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError:
        console.print(f"[red]error:[/] --sizes {sizes!r}: give whole numbers such as 200,1000,5000")
        raise typer.Exit(2) from None
    if not numbers or min(numbers) < 1:
        console.print(f"[red]error:[/] --sizes {sizes!r}: give at least one size of 1 or more")
        raise typer.Exit(2)
    chosen = tuple(v.strip() for v in variants.split(",") if v.strip())
    if not chosen or set(chosen) - set(throughput.VARIANTS):
        console.print(f"[red]error:[/] --variants {variants!r}: choose among {', '.join(throughput.VARIANTS)}")
        raise typer.Exit(2)
    doc = throughput.benchmark(numbers, device, threads, naive_articles, n_process,
                               say=lambda line: console.print(line, highlight=False), variants=chosen,
                               sentiment=sentiment_model, catalyst_tone=catalyst_tone_model)  # fmt: skip
    throughput.print_summary(doc, say=out_console.print)
    target = out or throughput.DEFAULT_RESULTS
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(doc, indent=2) + "\n")
    console.print(f"results → {target}")


_GLOBAL_FLAGS = ("-q", "--quiet", "-v", "--verbose")
_GLOBAL_WITH_VALUE = ("-c", "--config")


def global_options_first(args: list[str]) -> list[str]:
    """`lens annotate --ticker CQQQ -q` as `lens -q annotate --ticker CQQQ`: the options of the
    whole program (-q, -v, -c FILE) are accepted after the command too, where people type them;
    click only knows them before it. Nothing after a `--` moves."""
    command = None
    i = 0
    while i < len(args):  # the command: the first word that is neither an option nor its value
        if args[i] in _GLOBAL_WITH_VALUE:
            i += 2
            continue
        if not args[i].startswith("-"):
            command = i
            break
        i += 1
    if command is None:
        return list(args)
    moved, kept = [], []
    rest = iter(args[command + 1:])
    for arg in rest:
        if arg == "--":
            kept += [arg, *rest]
            break
        if arg in _GLOBAL_FLAGS or arg.startswith("--config="):
            moved.append(arg)
        elif arg in _GLOBAL_WITH_VALUE:
            moved += [arg, next(rest, "")]
        else:
            kept.append(arg)
    return [*args[:command], *moved, args[command], *kept]


def entry() -> None:
    """Console-script entry: an unexpected failure is one line, not a traceback (-v shows it)."""
    sys.argv[1:] = global_options_first(sys.argv[1:])
    try:
        app()
    except Exception as exc:  # noqa: BLE001 - the last guard before the user's terminal
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            console.print_exception()
        console.print(f"[red]error:[/] {type(exc).__name__}: {exc}", highlight=False)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    entry()
