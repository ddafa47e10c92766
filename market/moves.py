"""Abnormal returns and significant moves.

Abnormal return (AR) of a ticker on day t = its log return minus what its benchmark's return
that day predicts, by a market model r = α + β·r_m + ε estimated by OLS over an estimation
window that ends `gap` sessions before t (default: 120 sessions, ending 10 sessions before).
Early in a price history the window may be shorter, down to `min_est` sessions; `n_est` says
how many were used. A market factor — a ticker that is another's benchmark, or one with no
benchmark (SPY, QQQM, ^HSI) — is measured against its own history (constant-mean model): its
moves are the market's.

A day is a significant move when |AR| ≥ k·σ, σ the residual standard deviation of the same
estimation window (default k = 2.5). Runs of 2–10 sessions whose cumulative AR clears the same
bar (|CAR| ≥ k·σ·√L) and are not just one big day are reported as multi-day moves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from statsmodels.regression.rolling import RollingOLS

from .prices import PriceSet


@dataclass
class MoveConfig:
    est_window: int = 120
    gap: int = 10
    min_est: int = 60
    k: float = 2.5
    run_lengths: tuple[int, ...] = (2, 3, 4, 5, 6, 7, 8, 9, 10)
    # A run is a move of its own only if no single day carries most of it.
    run_max_day_share: float = 0.6
    benchmarks: dict[str, str | None] = field(default_factory=dict)  # per-ticker overrides


MOVE_COLUMNS = ["ticker", "date", "start_date", "n_sessions", "kind", "ret", "abnormal_ret", "zscore",
                "benchmark", "beta", "n_est"]


@dataclass
class AbnormalReturns:
    """Per-day series for one ticker, aligned on its own sessions."""

    ticker: str
    benchmark: str | None
    frame: pd.DataFrame  # columns: ret, bench_ret, alpha, beta, sigma, n_est, expected, ar, z


def abnormal_returns(ret: pd.Series, bench: pd.Series | None, config: MoveConfig) -> pd.DataFrame:
    """Market-model (or constant-mean, when `bench` is None) abnormal returns of `ret`."""
    shift = config.gap + 1  # parameters estimated up to t-gap-1 are applied to day t
    frame = pd.DataFrame({"ret": ret})
    if bench is not None:
        frame["bench_ret"] = bench.reindex(frame.index)
        frame = frame.dropna()
        exog = np.column_stack([np.ones(len(frame)), frame["bench_ret"].to_numpy()])
        fit = RollingOLS(frame["ret"].to_numpy(), exog, window=config.est_window,
                         min_nobs=config.min_est, expanding=True).fit()
        params = pd.DataFrame(fit.params, index=frame.index, columns=["alpha", "beta"]).shift(shift)
        frame["alpha"], frame["beta"] = params["alpha"], params["beta"]
        frame["sigma"] = pd.Series(np.sqrt(fit.mse_resid), index=frame.index).shift(shift)
        frame["n_est"] = pd.Series(fit.nobs, index=frame.index).shift(shift)
        frame["expected"] = frame["alpha"] + frame["beta"] * frame["bench_ret"]
    else:
        rolling = frame["ret"].rolling(config.est_window, min_periods=config.min_est)
        frame["bench_ret"] = np.nan
        frame["alpha"] = rolling.mean().shift(shift)
        frame["beta"] = np.nan
        frame["sigma"] = rolling.std(ddof=1).shift(shift)
        frame["n_est"] = rolling.count().shift(shift)
        frame["expected"] = frame["alpha"]
    frame["ar"] = frame["ret"] - frame["expected"]
    frame["z"] = frame["ar"] / frame["sigma"]
    return frame


def market_factors(tickers: list[str], benchmark_of: dict[str, str | None]) -> set[str]:
    used = {b for b in benchmark_of.values() if b}
    return {t for t in tickers if t in used or not benchmark_of.get(t)}


def compute_abnormal(prices: PriceSet, benchmark_of: dict[str, str | None], config: MoveConfig) -> dict[str, AbnormalReturns]:
    factors = market_factors(prices.tickers, benchmark_of)
    out = {}
    for ticker in prices.tickers:
        bench = None if ticker in factors else benchmark_of.get(ticker)
        if bench is not None and bench not in prices.frames:
            bench = None  # benchmark has no prices: measured against its own history instead
        series = abnormal_returns(prices.returns(ticker), prices.returns(bench) if bench else None, config)
        out[ticker] = AbnormalReturns(ticker, bench, series)
    return out


def significant_moves(ar: AbnormalReturns, config: MoveConfig) -> pd.DataFrame:
    f = ar.frame.dropna(subset=["z"])
    rows = []
    day_hits = f[f["z"].abs() >= config.k]
    for day, r in day_hits.iterrows():
        rows.append(move_row(ar, day, day, 1, "day", r["ret"], r["ar"], r["z"], r))
    rows += _runs(ar, f, set(day_hits.index), config)
    return pd.DataFrame(rows, columns=MOVE_COLUMNS).sort_values(["date", "kind"]).reset_index(drop=True)


def _runs(ar: AbnormalReturns, f: pd.DataFrame, day_moves: set, config: MoveConfig) -> list[dict]:
    candidates = []
    values = f["ar"].to_numpy()
    rets = f["ret"].to_numpy()
    sigma = f["sigma"].to_numpy()
    index = f.index
    for length in config.run_lengths:
        if len(values) < length:
            continue
        car = np.convolve(values, np.ones(length), "valid")  # car[i] = sum values[i:i+length]
        z = car / (sigma[length - 1:] * np.sqrt(length))
        for i in np.flatnonzero(np.abs(z) >= config.k):
            window = values[i : i + length]
            same_sign = window[np.sign(window) == np.sign(car[i])]
            if same_sign.size and np.abs(same_sign).max() > config.run_max_day_share * abs(car[i]):
                continue  # one day carries the run: that day is the move
            candidates.append((abs(z[i]), i, length, car[i], z[i], rets[i : i + length].sum()))
    taken = np.zeros(len(values), dtype=bool)
    rows = []
    for _, i, length, car, z, ret in sorted(candidates, reverse=True):
        if taken[i : i + length].any():
            continue
        taken[i : i + length] = True
        end = index[i + length - 1]
        rows.append(move_row(ar, index[i], end, length, "run", ret, car, z, f.loc[end]))
    return rows


def move_row(ar: AbnormalReturns, start, end, n, kind, ret, abnormal, z, params) -> dict:
    """One row of the moves table; `ret` is the summed log return, reported as a simple return."""
    return {
        "ticker": ar.ticker, "date": end.date(), "start_date": start.date(), "n_sessions": n, "kind": kind,
        "ret": float(np.expm1(ret)), "abnormal_ret": float(abnormal), "zscore": float(z),
        "benchmark": ar.benchmark, "beta": None if pd.isna(params["beta"]) else float(params["beta"]),
        "n_est": int(params["n_est"]),
    }


def relative_returns(prices: PriceSet, pair: tuple[str, str]) -> pd.Series:
    """Daily log return of A minus B (e.g. CQQQ − QQQM), on their common sessions."""
    a, b = pair
    joined = pd.concat([prices.returns(a), prices.returns(b)], axis=1, join="inner")
    return joined.iloc[:, 0] - joined.iloc[:, 1]
