"""Attribution quality against a gold file of large moves with known catalysts
(corpus/gold/attribution_gold.csv: ticker, date, catalyst_type, accept, note).

For each gold move, the day is attributed with the same scorer the run uses (whether or not
the move detector flagged it — detection is reported separately), and compared with
- top-1: the winning catalyst type (above the threshold) is the gold type or an accepted one;
- top-3: one of the three best candidates' types is;
- naive baseline: the catalyst type mentioned most often in articles published during the
  three days before the move and the move's own day.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd


@dataclass
class GoldMove:
    ticker: str
    day: date
    catalyst_type: str
    accept: frozenset[str]
    note: str

    @property
    def correct(self) -> frozenset[str]:
        return self.accept | {self.catalyst_type}


def load_gold(path: Path) -> list[GoldMove]:
    frame = pd.read_csv(path, dtype=str).fillna("")
    return [
        GoldMove(r.ticker, date.fromisoformat(r.date), r.catalyst_type,
                 frozenset(filter(None, r.accept.split("|"))), r.note)
        for r in frame.itertuples(index=False)
    ]


def naive_type(day: date, catalysts: pd.DataFrame, published: pd.Series) -> str | None:
    """Most-mentioned catalyst type in articles published in [day − 3, day] (UTC days)."""
    window = published[(published >= day - timedelta(days=3)) & (published <= day)]
    counts = Counter(catalysts[catalysts.article_id.isin(window.index)].catalyst_type)
    if not counts:
        return None
    top = max(counts.values())
    return sorted(t for t, n in counts.items() if n == top)[0]


@dataclass
class AttributionScores:
    n: int
    detected: int
    top1: int
    top3: int
    naive: int
    rows: list[dict]

    def lines(self) -> list[str]:
        def share(k: int) -> str:
            return f"{k}/{self.n} = {k / self.n:.3f}" if self.n else "n/a"

        return [
            f"gold moves               {self.n}",
            f"flagged as significant   {share(self.detected)}",
            f"top-1 attribution        {share(self.top1)}",
            f"top-3 attribution        {share(self.top3)}",
            f"naive baseline (top-1)   {share(self.naive)}  (most-mentioned catalyst of the previous three days)",
        ]


def evaluate_attribution(
    gold: list[GoldMove],
    attribute_day: Callable[[str, date], dict | None],
    moves: pd.DataFrame,
    catalysts: pd.DataFrame,
    articles: pd.DataFrame,
) -> AttributionScores:
    published = pd.Series(
        pd.to_datetime(articles.published_at, utc=True).dt.date.to_numpy(), index=articles.article_id
    ).dropna()
    rows = []
    for g in gold:
        flagged = not moves.empty and bool(
            ((moves.ticker == g.ticker) & (pd.to_datetime(moves.start_date).dt.date <= g.day)
             & (pd.to_datetime(moves.date).dt.date >= g.day)).any()
        )
        annotated = attribute_day(g.ticker, g.day)
        ranked = [c["catalyst_type"] for c in (annotated or {}).get("candidates", [])]
        top = annotated.get("top_catalyst_type") if annotated else None
        naive = naive_type(g.day, catalysts, published)
        rows.append({
            "ticker": g.ticker, "date": g.day, "gold": g.catalyst_type, "accept": sorted(g.accept), "flagged": flagged,
            "predicted": top, "top3": ranked[:3], "naive": naive,
            "top1_ok": top in g.correct, "top3_ok": bool(set(ranked[:3]) & g.correct),
            "naive_ok": naive in g.correct,
            "explanation": annotated.get("explanation") if annotated else "no abnormal return for this day",
        })
    return AttributionScores(
        n=len(rows), detected=sum(r["flagged"] for r in rows), top1=sum(r["top1_ok"] for r in rows),
        top3=sum(r["top3_ok"] for r in rows), naive=sum(r["naive_ok"] for r in rows), rows=rows,
    )
