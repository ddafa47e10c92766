"""Interactive charts of the report (plotly). Every string that comes from an article is
HTML-escaped before it enters a hover label, because plotly renders a subset of HTML there."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from nlp.events import date_label

# One colour per catalyst family, so markers read the same in every chart.
FAMILY_COLOURS = {
    "technology": "#7b3fe4", "trade": "#d62728", "policy": "#1f77b4", "geopolitics": "#8c564b",
    "corporate": "#2ca02c", "markets": "#ff7f0e",
}
OTHER_COLOUR = "#777"
ONE_DAY_MS = 86_400_000  # bar width on a date axis, so daily bars touch
LEGEND_GAP_PX = 44  # room for two-line date tick labels ("Jan 12" over "2025")
PRICE_PANEL_PX = 340  # height of a price panel; the event strip under it adds 22 px per family
LAYOUT = dict(template="plotly_white", margin=dict(l=50, r=20, t=50, b=40), hovermode="closest",
              font=dict(family="system-ui, -apple-system, Segoe UI, sans-serif", size=12),
              hoverlabel=dict(align="left", font_size=12))


def legend_below(height: int) -> dict:
    """A horizontal legend under the x-axis tick labels, so it never covers data (plotly places
    legends in fractions of the plot area; this converts a fixed gap in pixels)."""
    plot_px = height - LAYOUT["margin"]["t"] - LAYOUT["margin"]["b"]
    return dict(orientation="h", yanchor="top", y=-LEGEND_GAP_PX / plot_px, x=0, font_size=11)


def esc(value, limit: int | None = None) -> str:
    text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
    if limit and len(text) > limit:
        text = text[: limit - 1] + "…"
    return html.escape(text)


def family(catalyst_type: str) -> str:
    return catalyst_type.split(".", 1)[0]


def family_colour(catalyst_type: str) -> str:
    return FAMILY_COLOURS.get(family(catalyst_type), OTHER_COLOUR)


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
    """Price normalised to 100 with significant moves as triangles on the line and, in a strip
    underneath sharing the date axis, timeline events as diamonds in one lane per catalyst family.
    `events` has one row per event placed on this ticker: session, catalyst_type, title,
    event_date, n_articles, n_sources, evidence_text (best sentence)."""
    norm = 100 * price / price.iloc[0]
    families = sorted(events.catalyst_type.map(family).unique(), reverse=True) if not events.empty else []
    strip_px = 22 * len(families) + 16 if families else 0
    height = PRICE_PANEL_PX + strip_px
    fig = make_subplots(rows=2 if families else 1, cols=1, shared_xaxes=True, vertical_spacing=0.03,
                        row_heights=[PRICE_PANEL_PX, strip_px] if families else None)
    # The line takes no hover: in "closest" mode plotly ranks a line point at the cursor ahead of
    # a marker drawn over it, so a hoverable line would hide the attribution of the move beneath.
    fig.add_trace(go.Scatter(x=norm.index, y=norm.values, mode="lines", name=ticker,
                             line=dict(color="#333", width=1.6), hoverinfo="skip"), row=1, col=1)
    if not moves.empty:
        for sign, symbol, colour, label in ((1, "triangle-up", "#2ca02c", "up move"), (-1, "triangle-down", "#d62728", "down move")):
            sub = moves[np.sign(moves.abnormal_ret) == sign]
            if sub.empty:
                continue
            days = pd.to_datetime(sub.date)
            y = norm.reindex(days, method="nearest").to_numpy()
            texts = [f"<b>{esc(ticker)} {day:%Y-%m-%d}</b> · index {level:.1f}<br>{_wrap(esc(e))}"
                     for day, level, e in zip(days, y, sub.explanation, strict=True)]
            fig.add_trace(go.Scatter(x=days, y=y, mode="markers", name=label,
                                     marker=dict(symbol=symbol, size=12, color=colour, line=dict(width=1, color="white")),
                                     text=texts, hovertemplate="%{text}<extra></extra>", customdata=sub.ticker,
                                     meta="move"), row=1, col=1)
    for fam, sub in events.groupby(events.catalyst_type.map(family)) if families else ():
        texts = [
            f"<b>{esc(r.catalyst_type)}</b> · {esc(date_label(r.event_date, getattr(r, 'date_precision', None)))}"
            f"<br>{_wrap(esc(r.title, 110))}<br>"
            f"{int(r.n_articles)} articles, {int(r.n_sources)} sources<br><i>{_wrap(esc(r.evidence_text, 260))}</i>"
            for r in sub.itertuples()
        ]
        fig.add_trace(go.Scatter(x=pd.to_datetime(sub.session), y=[fam] * len(sub), mode="markers", name=f"{fam} events",
                                 marker=dict(symbol="diamond", size=9, color=FAMILY_COLOURS.get(fam, OTHER_COLOUR),
                                             opacity=0.85, line=dict(width=0.5, color="white")),
                                 text=texts, hovertemplate="%{text}<extra></extra>", meta="event", showlegend=False),
                      row=2, col=1)
    fig.update_layout(title=dict(text=f"<b>{esc(ticker)}</b> — price normalised to 100, significant moves and catalysts",
                                 font_size=15),
                      height=height, legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0,
                                                 font_size=11, bgcolor="rgba(255,255,255,0)"),
                      **(LAYOUT | dict(margin=dict(l=60, r=20, t=72, b=36))))
    fig.update_yaxes(title_text="first day = 100", title_font_size=11, row=1, col=1)
    if families:
        fig.update_yaxes(categoryorder="array", categoryarray=families, tickfont_size=10, showgrid=False,
                         range=[-0.6, len(families) - 0.4], fixedrange=True, row=2, col=1)
        fig.update_xaxes(showgrid=True, row=2, col=1)
    return fig


def timeline_chart(events: pd.DataFrame, window: tuple[pd.Timestamp, pd.Timestamp] | None = None) -> go.Figure:
    """Events by catalyst type over time, sized by article count; coloured by tone when the run
    scored sentiment, else by catalyst family (a colour scale of empty tones would be a lie).
    `window` sets the initial x-range (the news period); events outside it stay in the figure,
    reachable with plotly's autoscale button."""
    ev = events.dropna(subset=["event_date"]).copy()
    ev["when"] = pd.to_datetime(ev.event_date)
    ev["size"] = 8 + 6 * np.sqrt(ev.n_articles.astype(float))
    has_tone = ev.sentiment.notna().any()
    texts = [
        f"<b>{_wrap(esc(r.title, 110), 70)}</b><br>{esc(r.catalyst_type)} · {esc(date_label(r.event_date, getattr(r, 'date_precision', None)))}"
        f"<br>{int(r.n_articles)} articles, {int(r.n_sources)} sources"
        + ("" if pd.isna(r.sentiment) else f"<br>tone {r.sentiment:+.2f}")
        for r in ev.itertuples()
    ]
    ev["text"] = texts
    # Types grouped by family, first type at the top.
    types = sorted(ev.catalyst_type.unique(), key=lambda t: (family(t), t), reverse=True)
    fig = go.Figure()
    if has_tone:
        fig.add_trace(go.Scatter(
            x=ev.when, y=ev.catalyst_type, mode="markers", text=ev.text, hovertemplate="%{text}<extra></extra>",
            showlegend=False,
            marker=dict(size=ev["size"], color=ev.sentiment.fillna(0), colorscale="RdYlGn", cmin=-1, cmax=1,
                        line=dict(width=0.5, color="#444"), colorbar=dict(title="tone", thickness=12)),
        ))
        title = "Catalyst timeline — size: articles, colour: tone"
    else:
        for fam, sub in ev.groupby(ev.catalyst_type.map(family)):
            fig.add_trace(go.Scatter(
                x=sub.when, y=sub.catalyst_type, mode="markers", name=fam, text=sub.text,
                hovertemplate="%{text}<extra></extra>",
                marker=dict(size=sub["size"], color=FAMILY_COLOURS.get(fam, OTHER_COLOUR), opacity=0.75,
                            line=dict(width=0.5, color="#444")),
            ))
        title = "Catalyst timeline — size: articles, colour: catalyst family (no tone scored in this run)"
    height = 150 + 26 * len(types)
    fig.update_layout(title=dict(text=title, font_size=15), height=height, legend=legend_below(height), **LAYOUT)
    fig.update_yaxes(categoryorder="array", categoryarray=types, automargin=True, ticksuffix="  ")
    if window is not None:
        fig.update_xaxes(range=[window[0], window[1]])
    return fig


def sentiment_index_chart(daily: pd.DataFrame, volume: pd.Series,
                          window: tuple[pd.Timestamp, pd.Timestamp] | None = None) -> go.Figure:
    """`daily`: date × entity mean tone (7-day smoothed); `volume`: articles per day."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=volume.index, y=volume.values, name="articles / day", marker_color="#d0d7de", width=ONE_DAY_MS,
                         hovertemplate="%{x|%Y-%m-%d}: %{y} articles<extra></extra>"), secondary_y=True)
    for column in daily.columns:
        fig.add_trace(go.Scatter(x=daily.index, y=daily[column], mode="lines", name=esc(column), connectgaps=True,
                                 hovertemplate=f"{esc(column)} %{{x|%Y-%m-%d}}: %{{y:+.2f}}<extra></extra>"))
    fig.update_layout(title=dict(text="Sentiment index by entity (7-day mean tone) and article volume", font_size=15),
                      height=400, legend=legend_below(400), **LAYOUT)
    fig.update_yaxes(title_text="tone", range=[-1.05, 1.05], secondary_y=False)
    fig.update_yaxes(title_text="articles", secondary_y=True, showgrid=False, rangemode="tozero",
                     dtick=_count_tick(volume), tickformat="d")
    if window is not None:
        fig.update_xaxes(range=[window[0], window[1]])
    return fig


def _count_tick(counts: pd.Series) -> int:
    """A whole-number tick step giving about four ticks, so article counts never read 0.263."""
    return max(1, int(np.ceil(float(counts.max() if len(counts) else 1) / 4)))


def volume_chart(volume: pd.Series, window: tuple[pd.Timestamp, pd.Timestamp] | None = None) -> go.Figure:
    """Articles per day, for runs without sentiment scores."""
    fig = go.Figure(go.Bar(x=volume.index, y=volume.values, name="articles / day", marker_color="#8c959f", width=ONE_DAY_MS,
                           hovertemplate="%{x|%Y-%m-%d}: %{y} articles<extra></extra>"))
    fig.update_layout(title=dict(text="Article volume per day", font_size=15), height=260, **LAYOUT)
    fig.update_yaxes(title_text="articles", rangemode="tozero", dtick=_count_tick(volume), tickformat="d")
    if window is not None:
        fig.update_xaxes(range=[window[0], window[1]])
    return fig
