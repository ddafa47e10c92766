"""Narrative time series: per narrative and day (and week), its share of attention, article and
source counts and mean tone, smoothed; and the shifts, where attention or tone breaks.

Attention is the narrative's share of the period's relevant sentences (nlp/narratives.py says
which count), so a busy news day does not look like a surge of every story at once. Periods
without any relevant sentence have no attention (NaN), not zero: nobody wrote, which is not
the same as a story fading.

Shifts: change points from `ruptures` (breaks in the mean: the least-squares cost, computed by
`KernelCPD` with a linear kernel, which is the same cost solved exactly by penalised dynamic
programming in C — ruptures' pure-Python Pelt took 3 s per daily series over 5,000 articles)
on the raw, unsmoothed series of the periods that have news, with the penalty
`change_penalty × σ² × log(n)` (a BIC-style penalty; σ is estimated robustly from the median
absolute first difference, so the breaks themselves do not inflate it) and segments of at least
`change_min_size` periods. A flagged period is the first of a new segment; `attention_shift` /
`tone_shift` hold the new segment's mean minus the previous one's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .narratives import NarrativeConfig

FREQS = {"day": "D", "week": "W-SUN"}  # weeks run Monday to Sunday, labelled by their Monday
COLUMNS = [
    "narrative_id", "freq", "date", "attention", "n_sentences", "n_articles", "n_sources", "tone",
    "attention_smooth", "tone_smooth", "total_sentences", "attention_shift", "tone_shift",
]


def period_start(days: pd.Series, freq: str) -> pd.Series:
    if freq == "day":
        return days
    return days.dt.to_period(FREQS[freq]).dt.start_time


def narrative_series(assigned: pd.DataFrame, narrative_ids: list[str], config: NarrativeConfig | None = None,
                     freqs: tuple[str, ...] = ("day", "week")) -> pd.DataFrame:
    """`assigned`: relevant sentences with `narrative_id` (None = no narrative), `day`,
    `article_id`, `source`, `score`. One row per narrative × period from the first to the last
    dated relevant sentence, for each of `freqs`."""
    config = config or NarrativeConfig()
    dated = assigned.dropna(subset=["day"])
    if dated.empty or not narrative_ids:
        return pd.DataFrame(columns=COLUMNS)
    frames = []
    for freq in freqs:
        window = config.smooth_days if freq == "day" else config.smooth_weeks
        when = period_start(pd.to_datetime(dated.day), freq)
        start, end = when.min(), when.max()
        periods = pd.date_range(start, end, freq="D" if freq == "day" else "W-MON")
        total = when.value_counts().reindex(periods, fill_value=0)
        for nid in narrative_ids:
            mask = (dated.narrative_id == nid).to_numpy()
            mine = dated[mask].assign(period=when[mask])
            grouped = mine.groupby("period")
            n_sent = grouped.size().reindex(periods, fill_value=0)
            tone_sum = grouped.score.sum(min_count=1).reindex(periods)
            tone_n = grouped.score.count().reindex(periods, fill_value=0)
            frame = pd.DataFrame({
                "narrative_id": nid, "freq": freq, "date": periods,
                "attention": (n_sent / total.where(total > 0)).to_numpy(),
                "n_sentences": n_sent.to_numpy(),
                "n_articles": grouped.article_id.nunique().reindex(periods, fill_value=0).to_numpy(),
                "n_sources": grouped.source.nunique().reindex(periods, fill_value=0).to_numpy(),
                "tone": (tone_sum / tone_n.where(tone_n > 0)).to_numpy(),
                "total_sentences": total.to_numpy(),
            })
            # Trailing windows (no look-ahead): the ratio of sums, so a day with one sentence
            # does not weigh as much as a day with fifty.
            roll_n = n_sent.rolling(window, min_periods=1).sum()
            roll_total = total.rolling(window, min_periods=1).sum()
            frame["attention_smooth"] = (roll_n / roll_total.where(roll_total > 0)).to_numpy()
            roll_tone = tone_sum.fillna(0).rolling(window, min_periods=1).sum()
            roll_tone_n = tone_n.rolling(window, min_periods=1).sum()
            frame["tone_smooth"] = (roll_tone / roll_tone_n.where(roll_tone_n > 0)).to_numpy()
            frame["attention_shift"] = shifts(frame.attention, config)
            frame["tone_shift"] = shifts(frame.tone, config)
            frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    for column in ("n_sentences", "n_articles", "n_sources", "total_sentences"):
        out[column] = out[column].astype("int32")
    return out[COLUMNS]


def change_points(signal: np.ndarray, penalty: float = 3.0, min_size: int = 3) -> list[int]:
    """Indices where a new segment of `signal` starts (L2 cost, penalised; see the module doc)."""
    import ruptures

    signal = np.asarray(signal, dtype=float)
    n = len(signal)
    if n < 2 * min_size:
        return []
    sigma = robust_sigma(signal)
    if sigma == 0:
        return []
    algo = ruptures.KernelCPD(kernel="linear", min_size=min_size, jump=1).fit(signal.reshape(-1, 1))
    ends = algo.predict(pen=penalty * sigma**2 * np.log(n))
    return [int(e) for e in ends[:-1]]  # ruptures lists segment ends; the last is n


def robust_sigma(signal: np.ndarray) -> float:
    """Noise σ from the median absolute first difference (a mean shift adds one big difference,
    which the median ignores); falls back to the standard deviation for mostly-flat series."""
    diffs = np.abs(np.diff(signal))
    sigma = float(np.median(diffs) / (0.6745 * np.sqrt(2))) if len(diffs) else 0.0
    return sigma if sigma > 0 else float(np.std(signal))


def shifts(values: pd.Series, config: NarrativeConfig) -> np.ndarray:
    """Per period: the change in segment mean where a segment starts, NaN elsewhere. Periods
    with no value (no news) are skipped, so breaks are found in the sequence of observed ones."""
    out = np.full(len(values), np.nan)
    observed = np.flatnonzero(values.notna().to_numpy())
    signal = values.to_numpy(dtype=float)[observed]
    starts = change_points(signal, config.change_penalty, config.change_min_size)
    bounds = [0, *starts, len(signal)]
    for k, s in enumerate(starts):
        before = signal[bounds[k] : s].mean()
        after = signal[s : bounds[k + 2]].mean()
        out[observed[s]] = after - before
    return out


def trend(series: pd.DataFrame, narrative_id: str, freq: str = "week", recent: int = 4) -> str:
    """One phrase for `lens narratives`: the latest attention shift if any (rising/fading since
    its date), else the smoothed attention of the last `recent` periods against its mean."""
    mine = series[(series.narrative_id == narrative_id) & (series.freq == freq)].sort_values("date")
    if mine.empty or mine.attention.notna().sum() == 0:
        return "no dated news"
    breaks = mine.dropna(subset=["attention_shift"])
    if not breaks.empty:
        last = breaks.iloc[-1]
        word = "rising" if last.attention_shift > 0 else "fading"
        return f"{word} since {last.date:%Y-%m-%d} ({100 * last.attention_shift:+.0f} pts of attention)"
    overall = mine.attention.mean()
    latest = mine.attention_smooth.dropna().tail(recent).mean()
    if np.isnan(latest) or overall == 0:
        return "steady"
    ratio = latest / overall
    return "above its average lately" if ratio > 1.25 else "below its average lately" if ratio < 0.8 else "steady"
