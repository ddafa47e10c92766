"""Tickers a run needs but cannot price: instruments the timeline names directly that have no
price file, and benchmarks without usable prices. Each becomes a PriceProblem, so that
`market_problems.txt` and the report's "Data problems" section say what was left out and why,
instead of the event study quietly covering fewer tickers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd

from nlp.kb import KnowledgeBase

from .moves import market_factors
from .prices import PriceProblem, PriceSet


def coverage_problems(events: pd.DataFrame, prices: PriceSet, kb: KnowledgeBase, folder: Path,
                      benchmark_overrides: dict[str, str | None] | None = None) -> list[PriceProblem]:
    problems = []
    named: Counter[str] = Counter()
    for ids in events.get("entity_ids", pd.Series(dtype=object)):
        tickers = {t for i in (ids if ids is not None else ()) if (e := kb.get(i)) for t in e.tickers}
        named.update(tickers)
    already = set(prices.skipped())  # an unusable file is reported where it was read
    for ticker in sorted(t for t in named if t not in prices.frames and t not in already):
        n = named[ticker]
        problems.append(PriceProblem(
            ticker, str(Path(folder) / f"{ticker}.csv"),
            f"no price file for {ticker}, which {n} timeline event{'s' if n != 1 else ''} name{'' if n != 1 else 's'} "
            "directly; those events are not studied on it", fatal=True, n_events=n))
    overrides = benchmark_overrides or {}
    benchmark_of = {t: overrides.get(t, kb.benchmark_for(t)) for t in prices.tickers}
    factors = market_factors(prices.tickers, benchmark_of)
    for ticker in prices.tickers:
        bench = benchmark_of[ticker]
        if ticker not in factors and bench not in prices.frames:
            problems.append(PriceProblem(
                ticker, str(Path(folder) / f"{ticker}.csv"),
                f"its benchmark {bench} has no usable prices; abnormal returns of {ticker} are measured against "
                "its own history instead (constant-mean model)"))
    return problems
