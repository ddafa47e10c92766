"""`lens`: the command line of Catalyst Lens.

Exit codes: 0 success (problems with single items are printed, one line each, and do not fail
the run); 1 nothing could be processed; 2 bad usage or configuration.
"""

from __future__ import annotations

import logging
import sys
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

from ingest.files import BatchMapping
from ingest.sources import ReadOptions

from . import run as stages

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
) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(
        level=level, format="%(message)s", handlers=[RichHandler(console=console, show_path=False)], force=True
    )
    # Third-party chatter (htmldate/trafilatura warn about every odd page) stays at WARNING.
    for noisy in ("htmldate", "trafilatura", "httpx", "httpcore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.ERROR if not verbose else logging.INFO)
    app.state = {"quiet": quiet}  # type: ignore[attr-defined]


def _quiet() -> bool:
    return getattr(app, "state", {}).get("quiet", False)


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


def _run_ingest(sources: list[str], out: Path, fetch_articles: bool, columns: str | None) -> stages.IngestResult:
    try:
        mapping = BatchMapping.parse(columns)
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    with _progress() as progress:
        task = progress.add_task("ingest", total=None, rate="")

        def tick() -> None:
            progress.advance(task)
            elapsed = progress.tasks[0].elapsed or 0
            if elapsed:
                progress.update(task, rate=f"{progress.tasks[0].completed / elapsed:.0f} items/s")

        result = stages.ingest(
            sources, out, ReadOptions(fetch_articles=fetch_articles, mapping=mapping), on_article=tick
        )
    for report in result.problems:
        console.print(f"[yellow]{report.status}:[/] {report.line()}", highlight=False, soft_wrap=True)
    console.print(
        f"ingest: read {result.seen} items, stored {result.new} new "
        f"({result.near_duplicates} near-duplicates flagged, {result.exact_duplicates} exact copies skipped); "
        f"store holds {result.total} articles, {result.dated} dated → {out / 'articles.parquet'}",
        highlight=False,
    )
    return result


@app.command()
def ingest(
    sources: list[str] = typer.Argument(..., help="Folders (recursive), files and http(s) URLs."),
    out: Path = typer.Option(Path("reports/ingest"), "--out", "-o", help="Output folder (store + tables)."),
    fetch_articles: bool = typer.Option(
        False, "--fetch-articles", help="Fetch the linked page of feed items that only carry a summary."
    ),
    columns: str = typer.Option(
        None, "--columns", help="Batch column mapping, e.g. 'title=headline,text=body,published_at=date'."
    ),
) -> None:
    """Read feeds, pages, text files and batches into OUT/articles.parquet and OUT/lens.duckdb.

    Example: lens ingest corpus/ https://example.com/feed.xml --out reports/news
    """
    result = _run_ingest(sources, out, fetch_articles, columns)
    if result.failed:
        raise typer.Exit(1)


@app.command()
def run(
    sources: list[str] = typer.Argument(..., help="Folders, files and URLs to read."),
    prices: Path = typer.Option(Path("corpus/prices"), "--prices", help="Folder of per-ticker price CSVs."),
    out: Path = typer.Option(Path("reports/run"), "--out", "-o", help="Output folder."),
    fetch_articles: bool = typer.Option(False, "--fetch-articles", help="Fetch full pages of summary-only items."),
    columns: str = typer.Option(None, "--columns", help="Batch column mapping."),
) -> None:
    """Run every stage that exists on SOURCES and write all tables into OUT.

    Example: lens run corpus --prices corpus/prices --out reports/demo
    """
    result = _run_ingest(sources, out, fetch_articles, columns)
    if result.failed:
        raise typer.Exit(1)
    out_console.print(f"Tables written to {out.resolve()}")


@app.command()
def sources(
    out: Path = typer.Option(Path("reports/ingest"), "--out", "-o", help="Folder holding lens.duckdb."),
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
    table = Table("at (UTC)", "status", "items", "source", "reason")
    for row in log_frame.itertuples():
        table.add_row(f"{row.logged_at:%Y-%m-%d %H:%M:%S}", row.status, str(row.n_items), row.source, row.reason or "")
    out_console.print(table)


def _register_optional() -> None:
    """Commands owned by other modules register themselves here."""
    try:
        from .cli_sentiment import register as register_sentiment
    except ImportError:
        return
    register_sentiment(app)


_register_optional()

def entry() -> None:
    """Console-script entry: an unexpected failure is one line, not a traceback (-v shows it)."""
    try:
        app()
    except Exception as exc:  # noqa: BLE001 - the last guard before the user's terminal
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            console.print_exception()
        console.print(f"[red]error:[/] {type(exc).__name__}: {exc}", highlight=False)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    entry()
