"""Interactive charts of the report (plotly). Every string that comes from an article is
HTML-escaped before it enters a hover label, because plotly renders a subset of HTML there."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

# One colour per catalyst family, so markers read the same in every chart.
FAMILY_COLOURS = {
    "technology": "#7b3fe4", "trade": "#d62728", "policy": "#1f77b4", "geopolitics": "#8c564b",
    "corporate": "#2ca02c", "markets": "#ff7f0e",
}
LAYOUT = dict(template="plotly_white", margin=dict(l=50, r=20, t=50, b=40), hovermode="closest",
              font=dict(family="system-ui, -apple-system, Segoe UI, sans-serif", size=12))


def esc(value, limit: int | None = None) -> str:
    text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
    if limit and len(text) > limit:
        text = text[: limit - 1] + "…"
    return html.escape(text)


def family(catalyst_type: str) -> str:
    return catalyst_type.split(".", 1)[0]


def _wrap(text: str, width: int = 90) -> str:
    words, lines, line = text.split(), [], ""
    for w in words:
        if len(line) + len(w) + 1 > width and line:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    lines.append(line)
    return "<br>".join(lines)


def price_chart(ticker: str, price: pd.Series, moves: pd.DataFrame, events: pd.DataFrame) -> go.Figure:
    """Price normalised to 100 with significant moves and timeline events as markers.
    `events` has one row per event placed on this ticker: session, catalyst_type, title,
    event_date, n_articles, evidence (first sentence)."""
    norm = 100 * price / price.iloc[0]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=norm.index, y=norm.values, mode="lines", name=ticker,
                             line=dict(color="#333", width=1.6),
                             hovertemplate="%{x|%Y-%m-%d}<br>%{y:.1f}<extra></extra>"))
    if not moves.empty:
        for sign, symbol, colour, label in ((1, "triangle-up", "#2ca02c", "up move"), (-1, "triangle-down", "#d62728", "down move")):
            sub = moves[np.sign(moves.abnormal_ret) == sign]
            if sub.empty:
                continue
            days = pd.to_datetime(sub.date)
            y = norm.reindex(days, method="nearest").to_numpy()
            texts = [_wrap(esc(e)) for e in sub.explanation]
            fig.add_trace(go.Scatter(x=days, y=y, mode="markers", name=label,
                                     marker=dict(symbol=symbol, size=12, color=colour, line=dict(width=1, color="white")),
                                     text=texts, hovertemplate="%{text}<extra></extra>", customdata=sub.ticker,
                                     meta="move"))
    if not events.empty:
        lo = float(norm.min())
        for fam, sub in events.groupby(events.catalyst_type.map(family)):
            days = pd.to_datetime(sub.session)
            texts = [
                f"<b>{esc(r.catalyst_type)}</b> · {esc(r.event_date)}<br>{esc(r.title, 110)}<br>"
                f"{int(r.n_articles)} articles, {int(r.n_sources)} sources<br><i>{_wrap(esc(r.evidence_text, 260))}</i>"
                for r in sub.itertuples()
            ]
            fig.add_trace(go.Scatter(x=days, y=np.full(len(sub), lo * 0.96), mode="markers", name=f"{fam} events",
                                     marker=dict(symbol="diamond", size=9, color=FAMILY_COLOURS.get(fam, "#777"), opacity=0.85),
                                     text=texts, hovertemplate="%{text}<extra></extra>", meta="event"))
    fig.update_layout(title=f"{ticker} (normalised to 100) — moves and catalysts", height=420,
                      legend=dict(orientation="h", y=-0.15), **LAYOUT)
    return fig


def timeline_chart(events: pd.DataFrame) -> go.Figure:
    ev = events.dropna(subset=["event_date"]).copy()
    ev["size"] = 8 + 6 * np.sqrt(ev.n_articles.astype(float))
    texts = [
        f"<b>{esc(r.title, 110)}</b><br>{esc(r.event_date)} · {int(r.n_articles)} articles, {int(r.n_sources)} sources"
        f"<br>tone {'' if pd.isna(r.sentiment) else f'{r.sentiment:+.2f}'}"
        for r in ev.itertuples()
    ]
    fig = go.Figure(go.Scatter(
        x=pd.to_datetime(ev.event_date), y=ev.catalyst_type, mode="markers", text=texts,
        hovertemplate="%{text}<extra></extra>",
        marker=dict(size=ev["size"], color=ev.sentiment.fillna(0), colorscale="RdYlGn", cmin=-1, cmax=1,
                    line=dict(width=0.5, color="#444"), colorbar=dict(title="tone")),
    ))
    fig.update_layout(title="Catalyst timeline (size: articles, colour: tone)", height=120 + 28 * ev.catalyst_type.nunique(),
                      **LAYOUT)
    return fig


def sentiment_index_chart(daily: pd.DataFrame, volume: pd.Series) -> go.Figure:
    """`daily`: date × entity mean tone (7-day smoothed); `volume`: articles per day."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=volume.index, y=volume.values, name="articles / day", marker_color="#d0d7de",
                         hovertemplate="%{x|%Y-%m-%d}: %{y} articles<extra></extra>"), secondary_y=True)
    for column in daily.columns:
        fig.add_trace(go.Scatter(x=daily.index, y=daily[column], mode="lines", name=esc(column), connectgaps=True,
                                 hovertemplate=f"{esc(column)} %{{x|%Y-%m-%d}}: %{{y:+.2f}}<extra></extra>"))
    fig.update_layout(title="Sentiment index by entity (7-day mean tone) and article volume", height=380, **LAYOUT)
    fig.update_yaxes(title_text="tone", range=[-1, 1], secondary_y=False)
    fig.update_yaxes(title_text="articles", secondary_y=True, showgrid=False)
    return fig
