"""PNG versions of the main charts (for slides and the README), drawn with matplotlib so no
browser is needed to make them. They follow the interactive charts: same colours, same period."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from ..atomic import replacing  # noqa: E402
from .charts import FAMILY_COLOURS, OTHER_COLOUR, family  # noqa: E402

DPI = 110


def price_png(ticker: str, price: pd.Series, moves: pd.DataFrame, events: pd.DataFrame, target: Path) -> Path:
    norm = 100 * price / price.iloc[0]
    families = sorted(events.catalyst_type.map(family).unique(), reverse=True) if not events.empty else []
    if families:
        fig, (ax, strip) = plt.subplots(2, 1, sharex=True, figsize=(10, 3.8 + 0.22 * len(families)), dpi=DPI,
                                        layout="constrained",
                                        gridspec_kw=dict(height_ratios=[3.4, 0.22 * len(families) + 0.15]))
    else:
        fig, ax = plt.subplots(figsize=(10, 3.8), dpi=DPI, layout="constrained")
    ax.plot(norm.index, norm.values, color="#333", lw=1.3, label=ticker)
    for sign, marker, colour in ((1, "^", "#2ca02c"), (-1, "v", "#d62728")):
        sub = moves[np.sign(moves.abnormal_ret) == sign] if not moves.empty else moves
        if len(sub):
            days = pd.to_datetime(sub.date)
            ax.scatter(days, norm.reindex(days, method="nearest"), marker=marker, s=60, color=colour, zorder=3,
                       edgecolors="white", linewidths=0.6, label="up move" if sign > 0 else "down move")
    ax.set_title(f"{ticker} — price normalised to 100, significant moves and catalysts", fontsize=11, loc="left")
    ax.set_ylabel("first day = 100", fontsize=9)
    ax.grid(alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="best", fontsize=8, frameon=True, framealpha=0.85)
    if families:
        for fam, sub in events.groupby(events.catalyst_type.map(family)):
            strip.scatter(pd.to_datetime(sub.session), np.full(len(sub), families.index(fam)), marker="D", s=22,
                          color=FAMILY_COLOURS.get(fam, OTHER_COLOUR), alpha=0.85)
        strip.set_yticks(range(len(families)), families, fontsize=8)
        strip.set_ylim(-0.6, len(families) - 0.4)
        strip.grid(axis="x", alpha=0.3)
        strip.spines[["top", "right"]].set_visible(False)
    _save(fig, target)
    return target


def timeline_png(events: pd.DataFrame, target: Path,
                 window: tuple[pd.Timestamp, pd.Timestamp] | None = None) -> Path:
    """Events of the news period by type; colour is tone when the run scored it, else family."""
    ev = events.dropna(subset=["event_date"]).assign(when=lambda f: pd.to_datetime(f.event_date))
    hidden = 0
    if window is not None:
        inside = ev.when.between(window[0], window[1])
        hidden, ev = int((~inside).sum()), ev[inside]
    types = sorted(ev.catalyst_type.unique(), key=lambda t: (family(t), t), reverse=True)
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.32 * max(1, len(types))), dpi=DPI)
    sizes = 20 + 25 * ev.n_articles.astype(float)
    rows = [types.index(t) for t in ev.catalyst_type]
    if ev.sentiment.notna().any():
        points = ax.scatter(ev.when, rows, s=sizes, c=ev.sentiment.fillna(0), cmap="RdYlGn", vmin=-1, vmax=1,
                            edgecolors="#444", linewidths=0.4)
        fig.colorbar(points, ax=ax, label="tone", fraction=0.03)
        title = "Catalyst timeline (size: articles, colour: tone)"
    else:
        colours = [FAMILY_COLOURS.get(family(t), OTHER_COLOUR) for t in ev.catalyst_type]
        ax.scatter(ev.when, rows, s=sizes, c=colours, alpha=0.75, edgecolors="#444", linewidths=0.4)
        present = sorted({family(t) for t in types})
        handles = [Line2D([], [], marker="o", ls="", color=FAMILY_COLOURS.get(f, OTHER_COLOUR), label=f)
                   for f in present]
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=len(present),
                  fontsize=8, frameon=False)
        title = "Catalyst timeline (size: articles, colour: family; no tone scored in this run)"
    if hidden:
        title += f"\n{hidden} events dated outside the news period are not shown"
    ax.set_yticks(range(len(types)), types, fontsize=8)
    ax.set_ylim(-0.7, len(types) - 0.3)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    _save(fig, target)
    return target


def _save(fig, target: Path) -> None:
    """Save through a temp file (its name hides the extension, so the format is named)."""
    with replacing(target) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
