"""Optional online prices: `lens run --prices-from yfinance` (extra `online`: pip install -e .[online]).

Downloads daily bars for the tickers the run needs into a folder of per-ticker CSVs in the
same format as corpus/prices, so the rest of the market stage reads them like any other
folder. Offline, or without the extra, it fails with one line saying so.
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

COLUMNS = {"Open": "open", "High": "high", "Low": "low", "Close": "close", "Adj Close": "adj_close", "Volume": "volume"}


class OnlinePricesError(RuntimeError):
    pass


def download_prices(tickers: list[str], start: date, end: date, folder: Path) -> list[str]:
    """Write FOLDER/TICKER.csv for each ticker; returns one problem line per ticker that failed."""
    try:
        import yfinance
    except ImportError:
        raise OnlinePricesError("--prices-from yfinance needs the online extra: pip install -e '.[online]'") from None
    folder.mkdir(parents=True, exist_ok=True)
    problems = []
    for ticker in sorted(set(tickers)):
        try:
            frame = yfinance.download(ticker, start=start.isoformat(), end=(end + timedelta(days=1)).isoformat(),
                                      auto_adjust=False, progress=False)
        except Exception as exc:  # network errors come in many types from yfinance
            problems.append(f"yfinance {ticker}: download failed ({type(exc).__name__}: {exc})")
            continue
        if frame is None or frame.empty:
            problems.append(f"yfinance {ticker}: no data between {start} and {end}")
            continue
        if isinstance(frame.columns, pd.MultiIndex):  # yfinance ≥ 0.2.5 nests columns by ticker
            frame = frame.droplevel(-1, axis=1)
        out = frame.rename(columns=COLUMNS)[[c for c in COLUMNS.values() if c in frame.rename(columns=COLUMNS)]]
        out.index = pd.to_datetime(out.index).strftime("%Y-%m-%d")
        out.index.name = "date"
        # Temp file then rename: a run killed mid-write must not leave a truncated CSV that the
        # next run would read as a (short) price history.
        target = folder / f"{ticker}.csv"
        tmp = target.with_name(f".{target.name}.tmp")
        out.to_csv(tmp)
        os.replace(tmp, target)
    return problems
