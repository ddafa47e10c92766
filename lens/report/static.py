"""PNG versions of the main charts (for slides and the README), drawn with matplotlib so no
browser is needed to make them."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .charts import FAMILY_COLOURS, family  # noqa: E402


def price_png(ticker: str, price: pd.Series, moves: pd.DataFrame, events: pd.DataFrame, target: Path) -> Path:
    norm = 100 * price / price.iloc[0]
    fig, ax = plt.subplots(figsize=(10, 4), dpi=110)
    ax.plot(norm.index, norm.values, color="#333", lw=1.3, label=ticker)
    for sign, marker, colour in ((1, "^", "#2ca02c"), (-1, "v", "#d62728")):
        sub = moves[np.sign(moves.abnormal_ret) == sign] if not moves.empty else moves
        if len(sub):
            days = pd.to_datetime(sub.date)
            ax.scatter(days, norm.reindex(days, method="nearest"), marker=marker, s=60, color=colour, zorder=3,
                       label="up move" if sign > 0 else "down move")
    if not events.empty:
        lo = float(norm.min()) * 0.96
        for fam, sub in events.groupby(events.catalyst_type.map(family)):
            ax.scatter(pd.to_datetime(sub.session), np.full(len(sub), lo), marker="D", s=22,
                       color=FAMILY_COLOURS.get(fam, "#777"), label=f"{fam} events", alpha=0.85)
    ax.set_title(f"{ticker} (normalised to 100) — significant moves and catalysts")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, ncol=3)
    fig.tight_layout()
    fig.savefig(target)
    plt.close(fig)
    return target


def timeline_png(events: pd.DataFrame, target: Path) -> Path:
    ev = events.dropna(subset=["event_date"])
    types = sorted(ev.catalyst_type.unique())
    fig, ax = plt.subplots(figsize=(10, 0.8 + 0.35 * max(1, len(types))), dpi=110)
    points = ax.scatter(pd.to_datetime(ev.event_date), [types.index(t) for t in ev.catalyst_type],
                        s=20 + 25 * ev.n_articles.astype(float), c=ev.sentiment.fillna(0), cmap="RdYlGn",
                        vmin=-1, vmax=1, edgecolors="#444", linewidths=0.4)
    ax.set_yticks(range(len(types)), types, fontsize=8)
    ax.set_title("Catalyst timeline (size: articles, colour: tone)")
    ax.grid(alpha=0.3)
    fig.colorbar(points, ax=ax, label="tone", fraction=0.03)
    fig.tight_layout()
    fig.savefig(target)
    plt.close(fig)
    return target
