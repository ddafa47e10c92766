"""Event study (MacKinlay 1997): for each timeline event and each ticker it touches, abnormal
returns over [−5, +10] sessions around the event day from a market model estimated on a window
that ends before the event window, CARs over [0,+1], [−1,+1], [0,+5], and their t-tests; then,
per catalyst type, the mean CAR across events (each averaged over its tickers first) with a
t-test across events.

The arithmetic is vectorised: one OLS fit per (event, ticker) via numpy least squares (the
same estimator as statsmodels' OLS, which the tests compare against).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .moves import MoveConfig

WINDOW = (-5, 10)
CARS = {"car_0_1": (0, 1), "car_m1_1": (-1, 1), "car_0_5": (0, 5)}
STUDY_COLUMNS = ["event_id", "ticker", "catalyst_type", "event_day", "relevance", *CARS, "t_stat", "p_value",
                 "n_est", "sigma", "ar_path"]


@dataclass
class MarketModel:
    alpha: float
    beta: float
    sigma: float
    n_est: int


def fit_market_model(ret: np.ndarray, bench: np.ndarray | None) -> MarketModel:
    """OLS of r on [1, r_m] (constant mean when `bench` is None); σ from residuals with the
    model's degrees of freedom."""
    n = len(ret)
    if bench is None:
        resid = ret - ret.mean()
        return MarketModel(float(ret.mean()), 0.0, float(np.sqrt(resid @ resid / (n - 1))), n)
    X = np.column_stack([np.ones(n), bench])
    coef, *_ = np.linalg.lstsq(X, ret, rcond=None)
    resid = ret - X @ coef
    return MarketModel(float(coef[0]), float(coef[1]), float(np.sqrt(resid @ resid / (n - 2))), n)


def event_study_one(
    ret: pd.Series, bench: pd.Series | None, event_day: pd.Timestamp, config: MoveConfig
) -> tuple[dict | None, str | None]:
    """One event on one ticker. `ret`/`bench` are log returns indexed by the ticker's sessions;
    `event_day` must be one of them. Returns (row, None) or (None, reason)."""
    data = pd.DataFrame({"ret": ret})
    if bench is not None:
        data["bench"] = bench.reindex(data.index)
        data = data.dropna()
    if event_day not in data.index:
        return None, f"no price on the event day {event_day.date()}"
    t0 = data.index.get_loc(event_day)
    est_end = t0 + WINDOW[0] - config.gap  # estimation ends `gap` sessions before the window
    est_start = max(0, est_end - config.est_window)
    if est_end - est_start < config.min_est:
        return None, f"only {max(0, est_end - est_start)} sessions of history before the event (need {config.min_est})"
    if t0 + WINDOW[1] >= len(data):
        available = len(data) - 1 - t0
        if available < max(e for _, e in CARS.values()):
            return None, f"only {available} sessions of prices after the event (need 5)"
    est = data.iloc[est_start:est_end]
    model = fit_market_model(est["ret"].to_numpy(), est["bench"].to_numpy() if bench is not None else None)
    lo, hi = max(0, t0 + WINDOW[0]), min(len(data) - 1, t0 + WINDOW[1])
    win = data.iloc[lo : hi + 1]
    expected = model.alpha + (model.beta * win["bench"].to_numpy() if bench is not None else 0.0)
    ar = win["ret"].to_numpy() - expected
    rel = np.arange(lo - t0, hi - t0 + 1)
    row = {"event_day": event_day.date(), "n_est": model.n_est, "sigma": model.sigma,
           "ar_path": dict(zip(rel.tolist(), ar.tolist(), strict=True))}
    for name, (a, b) in CARS.items():
        mask = (rel >= a) & (rel <= b)
        row[name] = float(ar[mask].sum()) if mask.sum() == b - a + 1 else None
    # t-test of CAR[0,+1] against the estimation-window residual variance.
    length = CARS["car_0_1"][1] - CARS["car_0_1"][0] + 1
    t = row["car_0_1"] / (model.sigma * np.sqrt(length)) if model.sigma > 0 and row["car_0_1"] is not None else np.nan
    row["t_stat"] = float(t)
    dof = model.n_est - (2 if bench is not None else 1)
    row["p_value"] = float(2 * stats.t.sf(abs(t), dof)) if np.isfinite(t) else None
    return row, None


def by_catalyst_type(study: pd.DataFrame, car: str = "car_0_1") -> pd.DataFrame:
    """Per catalyst type, the mean CAR across its events, with a t-test across events. An event
    that touches six tickers gives six (event, ticker) pairs that moved together on the same
    days, not six observations: each event's CAR is first averaged over its tickers, then the
    events are compared (clustering by event). A t-test over the pairs had given
    markets.fund_flows p = 0.000 from 74 pairs of 6 events in the demo corpus. n_pairs stays in
    the table for information; a type with one event has no test."""
    rows = []
    for ctype, group in study.dropna(subset=[car]).groupby("catalyst_type"):
        per_event = group.groupby("event_id")[car].mean().to_numpy()
        t, p = (stats.ttest_1samp(per_event, 0.0) if len(per_event) > 1 else (np.nan, np.nan))
        rows.append({
            "catalyst_type": ctype, "n_pairs": len(group), "n_events": len(per_event),
            f"mean_{car}": float(per_event.mean()), "median": float(np.median(per_event)),
            "t_stat": float(t), "p_value": float(p) if np.isfinite(p) else None,
        })
    return pd.DataFrame(rows)
