"""Daily prices: load a folder of per-ticker CSVs, validate them, and compute log returns.

Column names are matched loosely (`Date`, `Adj Close`, `adjclose`...). `adj_close` is preferred
over `close` because dividends and splits would otherwise look like price moves. Every problem
is explained in one line naming the file; a ticker that cannot be used is skipped with its
reason, and the others are still loaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

COLUMN_ALIASES = {
    "date": ("date", "datetime", "timestamp", "time", "day"),
    "open": ("open",),
    "high": ("high",),
    "low": ("low",),
    "close": ("close", "price", "last"),
    "adj_close": ("adj_close", "adjclose", "adj close", "adjusted_close", "adjusted close", "close_adj"),
    "volume": ("volume", "vol"),
}
# A one-day move beyond this (in log terms, about ×2.7 or ÷2.7) on an adjusted series is far
# more likely a split or a bad tick than news; it is reported, and the day is excluded.
SPLIT_LIKE_LOG_RETURN = 1.0
# Gaps longer than this many calendar days between consecutive rows are reported.
GAP_DAYS = 10


@dataclass
class PriceProblem:
    ticker: str
    path: str
    reason: str
    fatal: bool = False
    n_events: int = 0  # timeline events naming a ticker that has no price file (market.coverage)

    def line(self) -> str:
        if not self.fatal:
            return f"{self.path}: {self.reason}"
        return f"{self.path}: {self.reason} — " + ("no prices used" if self.ticker == "*" else "ticker skipped")


@dataclass
class PriceSet:
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    problems: list[PriceProblem] = field(default_factory=list)

    @property
    def tickers(self) -> list[str]:
        return sorted(self.frames)

    def price(self, ticker: str) -> pd.Series:
        return _adjusted(self.frames[ticker])

    def returns(self, ticker: str) -> pd.Series:
        """Daily log returns on the ticker's own sessions (first day dropped)."""
        price = self.price(ticker)
        ret = np.log(price).diff().iloc[1:]
        return ret[~self.frames[ticker].loc[ret.index, "suspect"]]

    def skipped(self) -> dict[str, str]:
        return {p.ticker: p.reason for p in self.problems if p.fatal}


def ticker_from_path(path: Path) -> str:
    return path.stem.upper()


def load_prices(folder: Path, tickers: list[str] | None = None) -> PriceSet:
    folder = Path(folder)
    prices = PriceSet()
    if not folder.is_dir():
        prices.problems.append(PriceProblem("*", str(folder), "no such price folder", fatal=True))
        return prices
    wanted = {t.upper() for t in tickers} if tickers else None
    if not any(folder.glob("*.csv")):
        prices.problems.append(PriceProblem("*", str(folder), "no price files (TICKER.csv) in this folder", fatal=True))
    for path in sorted(folder.glob("*.csv")):
        ticker = ticker_from_path(path)
        if wanted is not None and ticker not in wanted:
            continue
        frame, problems = read_price_file(path, ticker)
        prices.problems.extend(problems)
        if frame is not None:
            prices.frames[ticker] = frame
    if wanted:
        for ticker in sorted(wanted - set(prices.frames) - {p.ticker for p in prices.problems}):
            prices.problems.append(PriceProblem(ticker, str(folder / f"{ticker}.csv"), "no price file", fatal=True))
    return prices


def read_price_file(path: Path, ticker: str | None = None) -> tuple[pd.DataFrame | None, list[PriceProblem]]:
    ticker = ticker or ticker_from_path(path)
    problems: list[PriceProblem] = []

    def problem(reason: str, fatal: bool = False) -> None:
        problems.append(PriceProblem(ticker, str(path), reason, fatal))

    try:
        raw = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        problem(f"not a readable CSV ({type(exc).__name__})", fatal=True)
        return None, problems
    columns = _match_columns(raw.columns)
    if "date" not in columns or not ({"close", "adj_close"} & set(columns)):
        problem(f"needs a date column and a close or adj_close column (found: {', '.join(map(str, raw.columns))})", fatal=True)
        return None, problems
    frame = pd.DataFrame({name: raw[col] for name, col in columns.items()})
    frame["date"] = pd.to_datetime(frame["date"], errors="coerce", utc=False)
    bad_dates = int(frame["date"].isna().sum())
    if bad_dates:
        problem(f"{bad_dates} rows with unreadable dates dropped")
        frame = frame.dropna(subset=["date"])
    frame["date"] = frame["date"].dt.tz_localize(None).dt.normalize() if frame["date"].dt.tz is not None else frame["date"].dt.normalize()
    for name in ("open", "high", "low", "close", "adj_close", "volume"):
        if name in frame:
            frame[name] = pd.to_numeric(frame[name], errors="coerce")
    if not frame["date"].is_monotonic_increasing:
        problem("dates are not in ascending order; sorted")
        frame = frame.sort_values("date", kind="stable")
    dupes = int(frame["date"].duplicated().sum())
    if dupes:
        problem(f"{dupes} duplicated dates; kept the last row of each")
        frame = frame.drop_duplicates("date", keep="last")
    frame = frame.set_index("date")
    price_col = "adj_close" if "adj_close" in frame and frame["adj_close"].notna().any() else "close"
    price = frame["close"] if price_col == "close" else _adjusted(frame)
    invalid = price.isna() | (price <= 0)
    if invalid.all():
        problem("no positive prices", fatal=True)
        return None, problems
    if invalid.any():
        problem(f"{int(invalid.sum())} rows with missing, zero or negative prices dropped")
        frame = frame[~invalid]
        price = price[~invalid]
    if len(frame) < 2:
        problem("fewer than two valid prices", fatal=True)
        return None, problems
    log_ret = np.log(price).diff()
    frame["suspect"] = (log_ret.abs() > SPLIT_LIKE_LOG_RETURN).fillna(False)
    for day in frame.index[frame["suspect"]]:
        problem(f"split-like jump on {day.date()} ({np.expm1(log_ret[day]):+.0%}); that day's return is excluded")
    gaps = frame.index.to_series().diff().dt.days
    for day, gap in gaps[gaps > GAP_DAYS].items():
        # The return into `day` spans the whole gap; read as one day's return it would be a
        # false "move" of this ticker and, for a benchmark, of every ticker measured against it.
        frame.loc[day, "suspect"] = True
        problem(f"{int(gap)}-day gap in the data before {day.date()}; the return across it is excluded")
    if price_col == "close":
        frame["adj_close"] = frame["close"]
    return frame, problems


def _adjusted(frame: pd.DataFrame) -> pd.Series:
    """adj_close, with close filling its holes; a file may carry only one of the two."""
    if "adj_close" not in frame:
        return frame["close"]
    return frame["adj_close"].fillna(frame["close"]) if "close" in frame else frame["adj_close"]


def _match_columns(columns) -> dict[str, str]:
    found: dict[str, str] = {}
    normal = {re.sub(r"[\s_]+", " ", str(c).strip().lower()): c for c in columns}
    for name, aliases in COLUMN_ALIASES.items():
        for alias in aliases:
            key = re.sub(r"[\s_]+", " ", alias)
            if key in normal:
                found[name] = normal[key]
                break
    return found
