"""The report's narrative section: a stacked area chart of weekly attention, a tone heat map
(narrative × week) and the lead-lag table, from the narrative tables of a run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

from .charts import LAYOUT, esc, legend_below

TOP = 12  # narratives drawn one by one; the rest are summed as "other narratives"
PALETTE = qualitative.Dark24


def _read(out: Path, name: str) -> pd.DataFrame:
    path = out / f"{name}.parquet"
    return pd.read_parquet(path) if path.exists() and path.stat().st_size > 0 else pd.DataFrame()


def build(out: Path, window=None) -> dict:
    """Template context: `attention_chart`, `tone_chart` (HTML fragments), `narratives` and
    `leadlag` rows, `n_tests`; an empty dict when the run has no narratives."""
    narratives, daily, leadlag = _read(out, "narratives"), _read(out, "narrative_daily"), _read(out, "narrative_leadlag")
    if narratives.empty or daily.empty:
        return {}
    weekly = daily[daily.freq == "week"].copy()
    weekly["date"] = pd.to_datetime(weekly.date)
    names = {r.narrative_id: f"{r.narrative_id} {r.label}" for r in narratives.itertuples()}
    order = narratives.sort_values("size", ascending=False).narrative_id.tolist()
    context = {
        "attention_chart": attention_chart(weekly, order, names, window).to_html(full_html=False, include_plotlyjs=False),
        "tone_chart": tone_heatmap(weekly, order, names, window).to_html(full_html=False, include_plotlyjs=False),
        "narratives": _narrative_rows(narratives, order),
        "leadlag": _leadlag_rows(leadlag, names),
        "n_tests": int(leadlag.granger_p.notna().sum() + leadlag.reverse_p.notna().sum()) if not leadlag.empty else 0,
    }
    return context


def attention_chart(weekly: pd.DataFrame, order: list[str], names: dict, window=None) -> go.Figure:
    """Each narrative's smoothed share of the week's relevant sentences, stacked; shifts found
    by the change-point test are marked on the narrative's band."""
    table = weekly.pivot_table(index="date", columns="narrative_id", values="attention_smooth").fillna(0.0)
    shown = [n for n in order if n in table.columns][:TOP]
    rest = [n for n in table.columns if n not in shown]
    fig = go.Figure()
    base = np.zeros(len(table))
    for i, nid in enumerate(shown):
        values = table[nid].to_numpy()
        fig.add_trace(go.Scatter(
            x=table.index, y=100 * values, mode="lines", stackgroup="attention", name=esc(names[nid], 48),
            line=dict(width=0.5, color=PALETTE[i % len(PALETTE)]),
            hovertemplate=f"{esc(names[nid], 60)}<br>%{{x|%Y-%m-%d}}: %{{y:.0f}}% of relevant sentences<extra></extra>",
        ))
        shifts = weekly[(weekly.narrative_id == nid) & weekly.attention_shift.notna()]
        if not shifts.empty:
            tops = base + values
            at = table.index.get_indexer(shifts.date)
            fig.add_trace(go.Scatter(
                x=shifts.date, y=100 * tops[at], mode="markers", showlegend=False,
                marker=dict(symbol=["triangle-up" if d > 0 else "triangle-down" for d in shifts.attention_shift],
                            size=9, color=PALETTE[i % len(PALETTE)], line=dict(width=1, color="#222")),
                hovertemplate=[f"{esc(names[nid], 60)}: attention shift {100 * d:+.0f} pts from %{{x|%Y-%m-%d}}<extra></extra>"
                               for d in shifts.attention_shift],
            ))
        base = base + values
    if rest:
        fig.add_trace(go.Scatter(x=table.index, y=100 * table[rest].sum(axis=1), mode="lines", stackgroup="attention",
                                 name="other narratives", line=dict(width=0.5, color="#c8ccd0"),
                                 hovertemplate="other narratives %{x|%Y-%m-%d}: %{y:.0f}%<extra></extra>"))
    height = 440
    fig.update_layout(title=dict(text="Share of attention by narrative (weekly, 3-week trailing mean; triangles: shifts)",
                                 font_size=15), height=height, legend=legend_below(height), **LAYOUT)
    fig.update_yaxes(title_text="% of relevant sentences", rangemode="tozero")
    if window is not None:
        fig.update_xaxes(range=[window[0], window[1]])
    return fig


def tone_heatmap(weekly: pd.DataFrame, order: list[str], names: dict, window=None) -> go.Figure:
    """Mean sentence tone per narrative and week (blank: the narrative had no sentence)."""
    table = weekly.pivot_table(index="narrative_id", columns="date", values="tone", dropna=False)
    rows = [n for n in order if n in table.index]
    table = table.reindex(rows)
    fig = go.Figure(go.Heatmap(
        z=table.to_numpy(), x=table.columns, y=[esc(names[n], 40) for n in rows], zmin=-1, zmax=1,
        colorscale="RdYlGn", colorbar=dict(title="tone", thickness=12), hoverongaps=False,
        hovertemplate="%{y}<br>week of %{x|%Y-%m-%d}: tone %{z:+.2f}<extra></extra>",
    ))
    height = 140 + 26 * len(rows)
    fig.update_layout(title=dict(text="Tone by narrative and week (mean sentence sentiment)", font_size=15),
                      height=height, **LAYOUT)
    fig.update_yaxes(autorange="reversed", automargin=True, ticksuffix="  ")
    if window is not None:
        fig.update_xaxes(range=[window[0], window[1]])
    return fig


def _narrative_rows(narratives: pd.DataFrame, order: list[str]) -> list[dict]:
    rows = []
    for n in narratives.set_index("narrative_id").loc[order].reset_index().itertuples():
        evidence = list(n.evidence)[0] if n.evidence is not None and len(n.evidence) else ""
        urls = list(n.evidence_urls) if n.evidence_urls is not None else []
        url = urls[0] if urls and isinstance(urls[0], str) and urls[0].startswith(("http://", "https://")) else None
        rows.append({
            "id": n.narrative_id, "label": n.label, "terms": ", ".join(list(n.terms)[:6]), "size": n.size,
            "articles": n.n_articles, "tone": "" if pd.isna(n.tone) else f"{n.tone:+.2f}", "trend": n.trend,
            "entities": ", ".join(list(n.entities)[:4]), "catalysts": ", ".join(list(n.catalyst_types)[:3]),
            "evidence": evidence, "url": url,
        })
    return rows


def _leadlag_rows(leadlag: pd.DataFrame, names: dict, limit: int = 12) -> list[dict]:
    if leadlag.empty:
        return []
    tested = leadlag.dropna(subset=["granger_p"])  # strongest evidence in either direction first
    tested = tested.assign(best_q=tested[["granger_q", "reverse_q"]].min(axis=1)).sort_values("best_q").head(limit)
    return [{
        "narrative": names.get(r.narrative_id, r.narrative_id), "pair": r.pair, "signal": r.signal, "n": r.n_obs,
        "lag": "" if pd.isna(r.best_lag) else f"{int(r.best_lag):+d}",
        "corr": "" if pd.isna(r.corr_best) else f"{r.corr_best:+.2f}",
        "p": f"{r.granger_p:.3f}", "q": f"{r.granger_q:.3f}",
        "reverse_p": "" if pd.isna(r.reverse_p) else f"{r.reverse_p:.3f}",
        "reverse_q": "" if pd.isna(r.reverse_q) else f"{r.reverse_q:.3f}", "caveat": r.caveat,
    } for r in tested.itertuples()]
