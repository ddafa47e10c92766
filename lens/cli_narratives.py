"""`lens narratives` and `lens narratives refit`: the stories in a run, their trend, and whether
they lead relative performance.

`lens narratives --out DIR` assigns the run's sentences to the frozen narratives of
DIR/narratives/ (discovering them on the first call) and prints the top ones; `lens narratives
refit --out DIR` rediscovers them (a narrative that is still there keeps its id). Registered on
the application's typer app by `register(app)`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer
from rich.table import Table
from rich.text import Text

from .run import DEFAULT_OUT, DEFAULT_PRICES
from .terminal import plain

OUT = typer.Option(DEFAULT_OUT, "--out", "-o", help="Folder of an analysed run (lens analyze / lens run).")
PRICES = typer.Option(None, "--prices", help="Price folder for the lead-lag tests ('' to skip). [default: the run's, else corpus/prices if present]")
LIMIT = typer.Option(10, "--limit", help="Narratives to print (all go to narratives.parquet).")
SUB_OUT = typer.Option(None, "--out", "-o", help=f"Folder of an analysed run. [default: {DEFAULT_OUT}]")
SUB_LIMIT = typer.Option(None, "--limit", help="Narratives to print. [default: 10]")


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Narratives: themes of the news, their attention and tone over time, lead-lag vs "
                             "prices.\n\nExample: lens narratives --out reports/demo (then: lens narratives refit "
                             "--out reports/demo)", invoke_without_command=True)

    @group.callback()
    def narratives(ctx: typer.Context, out: Path = OUT, prices: Path | None = PRICES, limit: int = LIMIT) -> None:
        """Assign OUT's sentences to its frozen narratives (discovered on first use), write
        narratives.parquet, narrative_daily.parquet and narrative_leadlag.parquet, and print the
        top narratives with their trend.

        Example: lens narratives --out reports/demo
        """
        if ctx.invoked_subcommand is None:
            run_and_print(out, prices, limit, refit=False)
        # `lens narratives --out DIR refit` means DIR too: the group's options reach the
        # subcommand where it was not given its own
        ctx.obj = {"out": out, "prices": prices, "limit": limit}

    @group.command("refit")
    def refit(ctx: typer.Context, out: Path | None = SUB_OUT, prices: Path | None = PRICES,
              limit: int | None = SUB_LIMIT) -> None:
        """Rediscover the narratives of OUT from all its sentences and freeze the new model
        (narratives that are still there keep their ids), then print them.

        Example: lens narratives refit --out reports/demo
        """
        group_options = ctx.obj or {}
        run_and_print(out or group_options.get("out", DEFAULT_OUT),
                      prices if prices is not None else group_options.get("prices"),
                      limit if limit is not None else group_options.get("limit", 10), refit=True)

    app.add_typer(group, name="narratives")


def run_stage(out: Path, price_set, refit: bool = False, nlp=None):
    """The narrative stage with the effective configuration; problems printed one line each.
    `nlp` (a PipelineConfig, default lens.toml's) gives the encoder's device and precision: those
    the analysis ran with, so that its stored sentence vectors are reused, not encoded again.
    Returns None (after saying why) when the run has too little text for narratives."""
    from nlp.catalysts import load_sentence_encoder

    from . import cli
    from .narrative_stage import narrative_stage

    config = cli._config()
    nlp = nlp or config.nlp
    with cli.console.status("narratives: assigning sentences" if not refit else "narratives: discovering themes"):
        try:
            encoder = load_sentence_encoder(device=nlp.device, precision=nlp.precision)
            result = narrative_stage(out, price_set, config.narratives, config.leadlag, refit=refit, encoder=encoder)
        except ValueError as exc:
            cli.console.print(Text("warning: ", style="yellow") + plain(str(exc)), highlight=False)
            return None
    for line in result.problems:
        cli.console.print(Text("warning: ", style="yellow") + plain(line), highlight=False)
    how = "discovered" if result.refitted else "frozen"
    cli.console.print(
        f"narratives: {len(result.narratives)} ({how}, {result.model.method}); {result.assigned} of "
        f"{result.relevant} relevant sentences assigned; vectors reused {result.reused_vectors}, encoded "
        f"{result.encoded_vectors}; {result.seconds:.1f} s → {out / 'narratives.parquet'}",
        highlight=False,
    )
    return result


def run_and_print(out: Path, prices: Path | None, limit: int, refit: bool) -> None:
    from market.prices import load_prices

    from . import cli
    from .run import STORE_NAME

    if not (out / STORE_NAME).exists():
        cli.console.print(f"[red]error:[/] {out / STORE_NAME}: no store here (run `lens analyze ... --out {out}` first)")
        raise typer.Exit(2)
    price_set = None
    if prices is None:
        from .report.build import recorded_prices

        prices = recorded_prices(out) or (DEFAULT_PRICES if DEFAULT_PRICES.is_dir() else Path(""))
        if str(prices) == "":
            cli.console.print(f"note: no {DEFAULT_PRICES} here and no --prices: lead-lag tests skipped", highlight=False)
    if str(prices) not in ("", "."):
        if not prices.is_dir():
            cli.console.print(f"[red]error:[/] {prices}: no such price folder (pass --prices '' to skip lead-lag)")
            raise typer.Exit(2)
        price_set = load_prices(prices)
    result = run_stage(out, price_set, refit=refit)
    if result is None:
        raise typer.Exit(1)
    cli.out_console.print(narrative_table(result.narratives, limit))
    if not result.leadlag.empty:
        cli.out_console.print(leadlag_table(result.leadlag))


def narrative_table(narratives, limit: int) -> Table:
    table = Table("id", "narrative", "sentences", "articles", "tone", "trend", "top terms",
                  title="Narratives by share of relevant sentences")
    for n in narratives.sort_values("size", ascending=False).head(limit).itertuples():
        tone = "" if pd.isna(n.tone) else f"{n.tone:+.2f}"
        table.add_row(n.narrative_id, plain(n.label), str(n.size), str(n.n_articles), tone, plain(n.trend),
                      plain(", ".join(list(n.terms)[:4])))
    return table


def leadlag_table(leadlag, rows: int = 8) -> Table:
    """The tests with the smallest p-values; the caveats that apply to all of them go in the
    caption, beside the numbers, so nobody reads a q of 0.3 as a finding."""
    # Strongest evidence in either direction first: news that follows prices is a finding too.
    tested = leadlag.dropna(subset=["granger_p"])
    tested = tested.assign(best_q=tested[["granger_q", "reverse_q"]].min(axis=1)).sort_values("best_q").head(rows)
    n_tests = int(leadlag.granger_p.notna().sum() + leadlag.reverse_p.notna().sum())
    unit = "weeks" if (leadlag.freq == "week").all() else "periods"
    few = " Under 30 observations: read every number as a hint." if (tested.n_obs < 30).any() else ""
    table = Table("narrative", "pair", "signal", f"n {unit}", "best lag", "corr", "Granger p", "BH q", "reverse p", "reverse q",
                  title="Lead-lag: does the narrative move first? (lag > 0: the narrative leads)",
                  caption=(f"p: F-test that the signal's past helps predict the relative return; reverse p: the other "
                           f"way round. q: Benjamini-Hochberg over all {n_tests} tests. Raw series (smoothed windows "
                           f"overlap and would overstate significance).{few}"))
    for r in tested.itertuples():
        table.add_row(r.narrative_id, r.pair, r.signal, str(r.n_obs), "" if pd.isna(r.best_lag) else f"{int(r.best_lag):+d}",
                      "" if pd.isna(r.corr_best) else f"{r.corr_best:+.2f}", f"{r.granger_p:.3f}",
                      f"{r.granger_q:.3f}", "" if pd.isna(r.reverse_p) else f"{r.reverse_p:.3f}",
                      "" if pd.isna(r.reverse_q) else f"{r.reverse_q:.3f}")
    return table
