"""Do narratives move ahead of relative performance? Lead-lag cross-correlations and Granger
causality tests between each narrative's attention and tone and the relative return of a pair
(default CQQQ vs QQQM: Chinese vs US tech; KWEB vs SPY: Chinese internet vs the US market).

Honest by construction:
- the tests use the raw weekly (or daily) series, never the smoothed ones: smoothing windows
  overlap, which makes neighbouring observations share news and overstates significance;
- every Granger p-value is corrected for the number of tests run (Benjamini-Hochberg, over all
  narratives × pairs × signals × directions), and the q-value is shown beside it;
- a test with fewer than `min_obs` periods is not run, and one with under 30 says so.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

FEW_OBSERVATIONS = 30
COLUMNS = [
    "narrative_id", "pair", "signal", "freq", "n_obs", "best_lag", "corr_best", "corr_0",
    "granger_p", "granger_q", "reverse_p", "reverse_q", "caveat",
]


@dataclass
class LeadLagConfig:
    pairs: tuple[str, ...] = ("CQQQ-QQQM", "KWEB-SPY")  # "A-B": the log return of A minus B's
    freq: str = "week"  # "week" or "day"; weekly suits a few hundred articles a year
    max_lag: int = 2  # periods; cross-correlations span -max_lag..+max_lag
    min_obs: int = 12  # fewer periods than this: no test


def parse_pair(pair: str) -> tuple[str, str]:
    left, sep, right = pair.partition("-")
    if not sep or not left or not right:
        raise ValueError(f"lead-lag pair {pair!r}: write it as TICKER-BENCHMARK, e.g. CQQQ-QQQM")
    return left.strip().upper(), right.strip().upper()


def relative_returns(returns_a: pd.Series, returns_b: pd.Series, freq: str) -> pd.Series:
    """Log return of A minus B on the sessions both traded, summed per period (weeks labelled
    by their Monday, as the narrative series are)."""
    both = pd.concat([returns_a, returns_b], axis=1, join="inner").dropna()
    rel = both.iloc[:, 0] - both.iloc[:, 1]
    rel.index = pd.DatetimeIndex(rel.index).normalize()
    if freq == "day":
        return rel
    return rel.groupby(rel.index.to_period("W-SUN").start_time).sum()


def lead_lag(series: pd.DataFrame, relative: dict[str, pd.Series], config: LeadLagConfig | None = None) -> pd.DataFrame:
    """`series`: narrative_series rows (narrative_id, freq, date, attention, tone); `relative`:
    pair → relative return per period. One row per narrative × pair × signal.

    corr_best is the cross-correlation corr(signal_t, return_{t+lag}) of largest magnitude over
    lags -max_lag..+max_lag (best_lag > 0: the narrative moves first). granger_p tests whether
    past values of the signal improve the prediction of the return beyond its own past (F-test,
    `max_lag` lags); reverse_p tests the other way round (returns driving the narrative)."""
    config = config or LeadLagConfig()
    mine = series[series.freq == config.freq]
    rows = []
    for pair, rel in relative.items():
        for nid, frame in mine.groupby("narrative_id", sort=True):
            frame = frame.set_index("date").sort_index()
            # Attention: a period without news is a period without attention (0). Tone: no
            # sentence of the narrative means no opinion in it, scored neutral (0).
            signals = {"attention": frame.attention.fillna(0.0), "tone": frame.tone.fillna(0.0)}
            for name, signal in signals.items():
                joined = pd.concat([signal.rename("x"), rel.rename("y")], axis=1, join="inner").dropna()
                rows.append(_test(nid, pair, name, joined, config))
    out = pd.DataFrame(rows, columns=COLUMNS)
    if out.empty:
        return out
    out["granger_q"] = _bh(out.granger_p, out.reverse_p)[0]
    out["reverse_q"] = _bh(out.granger_p, out.reverse_p)[1]
    out["caveat"] = [_caveat(r, int(out.granger_p.notna().sum() + out.reverse_p.notna().sum())) for r in out.itertuples()]
    return out


def _test(nid: str, pair: str, name: str, joined: pd.DataFrame, config: LeadLagConfig) -> dict:
    row = {"narrative_id": nid, "pair": pair, "signal": name, "freq": config.freq, "n_obs": len(joined),
           "best_lag": None, "corr_best": None, "corr_0": None, "granger_p": None, "reverse_p": None, "caveat": ""}
    if len(joined) < config.min_obs:
        row["caveat"] = f"not tested: {len(joined)} periods with both series (need {config.min_obs})"
        return row
    if joined.x.std() == 0 or joined.y.std() == 0:
        row["caveat"] = "not tested: the signal is constant over the priced periods"
        return row
    corrs = {lag: joined.x.corr(joined.y.shift(-lag)) for lag in range(-config.max_lag, config.max_lag + 1)}
    finite = {lag: c for lag, c in corrs.items() if pd.notna(c)}
    if finite:
        best = max(finite, key=lambda lag: (abs(finite[lag]), -abs(lag)))
        row |= {"best_lag": int(best), "corr_best": float(finite[best]), "corr_0": _float(corrs.get(0))}
    row["granger_p"] = granger_p(joined.y.to_numpy(), joined.x.to_numpy(), config.max_lag)
    row["reverse_p"] = granger_p(joined.x.to_numpy(), joined.y.to_numpy(), config.max_lag)
    return row


def granger_p(effect: np.ndarray, cause: np.ndarray, max_lag: int) -> float | None:
    """p-value of the F-test that `max_lag` lags of `cause` add nothing to an autoregression of
    `effect` (statsmodels' grangercausalitytests, ssr F-test)."""
    from statsmodels.tsa.stattools import grangercausalitytests

    data = np.column_stack([effect, cause]).astype(float)
    if len(data) <= 3 * max_lag + 1:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = grangercausalitytests(data, maxlag=[max_lag])
    except (ValueError, np.linalg.LinAlgError):
        return None  # a degenerate design (e.g. a signal that is all but constant)
    p = result[max_lag][0]["ssr_ftest"][1]
    return float(p) if np.isfinite(p) else None


def _bh(forward: pd.Series, reverse: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Benjamini-Hochberg q-values over every test that ran, both directions together."""
    from statsmodels.stats.multitest import multipletests

    p = pd.concat([forward, reverse], ignore_index=True).astype(float)
    q = pd.Series(np.nan, index=p.index)
    ran = p.notna()
    if ran.any():
        q[ran] = multipletests(p[ran].to_numpy(), method="fdr_bh")[1]
    n = len(forward)
    return q.iloc[:n].set_axis(forward.index), q.iloc[n:].set_axis(reverse.index)


def _caveat(row, n_tests: int) -> str:
    if row.caveat:
        return row.caveat
    unit = "weeks" if row.freq == "week" else "sessions"
    parts = [f"{row.n_obs} {unit}"]
    if row.n_obs < FEW_OBSERVATIONS:
        parts.append("few observations")
    parts.append(f"q: Benjamini-Hochberg over {n_tests} tests")
    parts.append("unsmoothed series (smoothed windows overlap)")
    return "; ".join(parts)


def _float(value) -> float | None:
    return float(value) if value is not None and pd.notna(value) else None
