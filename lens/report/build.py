"""Build `OUT/report.html` (one self-contained file: plotly's JavaScript inlined), the PNGs of the
main charts, and `annotated_moves.md`, from the tables a run wrote into OUT."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jinja2
import pandas as pd
from plotly.offline import get_plotlyjs

from market.prices import PriceSet
from nlp.events import date_label, evidence_article

from ..atomic import replacing, write_text
from ..timeline_view import md_cell
from . import charts, narratives_section, static

TEMPLATES = Path(__file__).parent / "templates"
PREFERRED_TICKERS = ("CQQQ", "QQQM")
TOP_ENTITIES = 6
# Chart period around the news: enough before to see the run-up, enough after to see the reaction.
CHART_MARGIN_BEFORE = pd.Timedelta(days=45)
CHART_MARGIN_AFTER = pd.Timedelta(days=30)


@dataclass
class ReportResult:
    html: Path
    pngs: list[Path]
    size_bytes: int


def _read(out: Path, name: str) -> pd.DataFrame:
    path = out / f"{name}.parquet"
    return pd.read_parquet(path) if path.exists() and path.stat().st_size > 0 else pd.DataFrame()


def choose_tickers(placements: pd.DataFrame, moves: pd.DataFrame, prices: PriceSet, limit: int = 4) -> list[str]:
    """CQQQ and QQQM when priced, then the tickers the timeline touches most."""
    chosen = [t for t in PREFERRED_TICKERS if t in prices.frames]
    if not placements.empty:
        counts = placements.ticker.value_counts()
        for t in sorted(counts.index, key=lambda t: (-counts[t], t)):
            if t in prices.frames and t not in chosen:
                chosen.append(t)
    return chosen[:limit]


def news_window(articles: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The period the charts show: the news dates with room before (the run-up a catalyst
    explains) and after (the reaction). Prices and events outside it stay in the tables."""
    if articles.empty or not articles.published_at.notna().any():
        return None
    days = pd.to_datetime(articles.published_at.dropna(), utc=True).dt.tz_convert(None).dt.normalize()
    return days.min() - CHART_MARGIN_BEFORE, days.max() + CHART_MARGIN_AFTER


def build_report(out: Path, prices: PriceSet, placements: pd.DataFrame, meta: dict, k: float = 2.5) -> ReportResult:
    articles, entities = _read(out, "articles"), _read(out, "entities")
    events, moves = _read(out, "events"), _read(out, "moves")
    by_type = _read(out, "event_study_by_type")
    ev_lookup = events.set_index("event_id") if not events.empty else events
    window = news_window(articles)

    price_charts, pngs = [], []
    for ticker in choose_tickers(placements, moves, prices):
        price = prices.price(ticker)
        if window is not None:
            price = price[(price.index >= window[0]) & (price.index <= window[1])]
        if price.empty:
            continue
        tm = moves[moves.ticker == ticker] if not moves.empty else pd.DataFrame(columns=["date", "abnormal_ret", "explanation", "ticker"])
        tm = tm[pd.to_datetime(tm.date).between(price.index[0], price.index[-1])]
        te = _ticker_events(ticker, placements, ev_lookup)
        te = te[pd.to_datetime(te.session).between(price.index[0], price.index[-1])] if not te.empty else te
        price_charts.append(charts.price_chart(ticker, price, tm, te).to_html(full_html=False, include_plotlyjs=False))
        pngs.append(static.price_png(ticker, price, tm, te, out / f"chart_{_file_safe(ticker)}.png"))
    timeline_html, off_window = "", 0
    if not events.empty:
        timeline_html = charts.timeline_chart(events, window).to_html(full_html=False, include_plotlyjs=False)
        pngs.append(static.timeline_png(events, out / "chart_timeline.png", window))
        if window is not None:
            dates = pd.to_datetime(events.event_date.dropna())
            off_window = int((~dates.between(window[0], window[1])).sum())
    daily, volume = sentiment_index(articles, entities)
    has_tone = _has_tone(entities, events)
    if not daily.empty:
        sentiment_html = charts.sentiment_index_chart(daily, volume, window).to_html(full_html=False, include_plotlyjs=False)
    elif not volume.empty:
        sentiment_html = charts.volume_chart(volume, window).to_html(full_html=False, include_plotlyjs=False)
    else:
        sentiment_html = ""

    urls = dict(zip(articles.article_id, articles.url, strict=False)) if not articles.empty else {}
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    move_rows = _move_rows(moves, ev_lookup, urls)
    html = env.get_template("report.html.j2").render(
        run_name=meta.get("run_name", out.name),
        facts=_facts(articles, events, moves, meta),
        k=k,
        plotly_js=get_plotlyjs(),
        price_charts=price_charts,
        timeline_chart=timeline_html,
        off_window=off_window,
        window=(window[0].date(), window[1].date()) if window is not None else None,
        sentiment_chart=sentiment_html,
        has_tone=has_tone,
        moves=move_rows,
        n_unexplained=sum(1 for m in move_rows if not m["attributed"]),
        events=_event_rows(events),
        study=_study_rows(by_type),
        narrative=narratives_section.build(out, window),
        data_problems=_data_problem_rows(prices),
    )
    target = out / "report.html"
    with replacing(target) as tmp:
        tmp.write_text(html, encoding="utf-8")
    write_moves_markdown(moves, out / "annotated_moves.md")
    for stale in set(out.glob("chart_*.png")) - set(pngs):  # a ticker charted by an earlier build
        stale.unlink()
    return ReportResult(target, pngs, target.stat().st_size)


def _file_safe(ticker: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "", ticker)


def _has_tone(entities: pd.DataFrame, events: pd.DataFrame) -> bool:
    return any(not f.empty and "sentiment" in f and f.sentiment.notna().any() for f in (entities, events))


def _ticker_events(ticker: str, placements: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    if placements.empty or events.empty:
        return pd.DataFrame(columns=["session", "catalyst_type", "title", "event_date", "n_articles", "n_sources", "evidence_text"])
    mine = placements[placements.ticker == ticker].merge(events, left_on="event_id", right_index=True)
    mine["evidence_text"] = mine.evidence.map(lambda ev: list(ev)[0] if ev is not None and len(ev) else "")
    return mine


def sentiment_index(articles: pd.DataFrame, entities: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Daily mean tone of the most-mentioned entities (7-day rolling mean over days with news)
    and the number of articles per day. The tone frame is empty when the run scored no sentiment."""
    if articles.empty or not articles.published_at.notna().any():
        return pd.DataFrame(), pd.Series(dtype=float)
    days = articles.set_index("article_id").published_at.dropna().dt.tz_convert(None).dt.normalize()
    volume = days.value_counts().sort_index()
    if entities.empty or "sentiment" not in entities:
        return pd.DataFrame(), volume
    linked = entities.dropna(subset=["entity_id", "sentiment"])
    linked = linked[linked.article_id.isin(days.index)]
    if linked.empty:
        return pd.DataFrame(), volume
    top = linked.drop_duplicates(["article_id", "entity_id"]).entity_id.value_counts().head(TOP_ENTITIES).index
    linked = linked[linked.entity_id.isin(top)].assign(day=lambda f: f.article_id.map(days))
    names = linked.drop_duplicates("entity_id").set_index("entity_id").name
    daily = linked.groupby(["day", "entity_id"]).sentiment.mean().unstack()
    daily = daily.rename(columns=names).rolling(7, min_periods=1).mean()
    return daily, volume


def _facts(articles: pd.DataFrame, events: pd.DataFrame, moves: pd.DataFrame, meta: dict) -> dict:
    dated = articles.published_at.dropna() if not articles.empty else pd.Series(dtype="datetime64[ns, UTC]")
    seconds = meta.get("run_seconds")
    return {
        "articles": len(articles), "dated": len(dated),
        "sources": articles.source.nunique() if not articles.empty else 0,
        "first": dated.min().date() if len(dated) else "—", "last": dated.max().date() if len(dated) else "—",
        "events": len(events), "moves": len(moves),
        "explained": int(moves.top_event_id.notna().sum()) if not moves.empty else 0,
        # moves an article could be about (a run from before the column: all of them)
        "in_news": int(moves.in_news_window.sum()) if "in_news_window" in moves else len(moves),
        "models": meta.get("models") or None, "device": meta.get("device") if meta.get("device") not in (None, "—") else None,
        "run_time": f"{seconds:.0f} s" if seconds is not None else None,
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _move_rows(moves: pd.DataFrame, events: pd.DataFrame, urls: dict) -> list[dict]:
    if moves.empty:
        return []
    rows = []
    for m in moves.sort_values(["date", "ticker"], ascending=[False, True]).itertuples():
        url = None
        if isinstance(m.top_event_id, str) and m.top_event_id in events.index:
            url = urls.get(evidence_article(events.loc[m.top_event_id]))
        rows.append({
            "ticker": m.ticker, "date": m.date, "kind": m.kind if m.n_sessions == 1 else f"{m.n_sessions}-day run",
            "ret": m.ret, "abnormal_ret": m.abnormal_ret, "zscore": m.zscore,
            "top_catalyst_type": m.top_catalyst_type if isinstance(m.top_catalyst_type, str) else None,
            "score": "" if pd.isna(m.attribution_score) else f"{m.attribution_score:.2f}",
            "explanation": m.explanation, "attributed": isinstance(m.top_event_id, str),
            "url": url if url and str(url).startswith(("http://", "https://")) else None,
        })
    return rows


def _event_rows(events: pd.DataFrame) -> list[dict]:
    if events.empty:
        return []
    rows = []
    for e in events.sort_values("event_date", ascending=False).itertuples():
        rows.append({
            "event_date": date_label(e.event_date, getattr(e, "date_precision", None)),
            "catalyst_type": e.catalyst_type, "title": e.title,
            "n_articles": e.n_articles, "n_sources": e.n_sources,
            "tone": "" if pd.isna(e.sentiment) else f"{e.sentiment:+.2f}",
            "entities": ", ".join(list(e.entity_ids)[:6]) if e.entity_ids is not None else "",
            "evidence": list(e.evidence)[0] if e.evidence is not None and len(e.evidence) else "",
        })
    return rows


def _study_rows(by_type: pd.DataFrame) -> list[dict]:
    if by_type.empty:
        return []
    car = next(c for c in by_type.columns if c.startswith("mean_"))
    widest = float(by_type[car].abs().max()) or 1.0
    return [{
        "catalyst_type": s.catalyst_type, "n_events": s.n_events, "n_pairs": s.n_pairs, "mean": getattr(s, car),
        "bar": round(100 * abs(getattr(s, car)) / widest, 1) if pd.notna(getattr(s, car)) else 0,
        "median": s.median, "t": "" if pd.isna(s.t_stat) else f"{s.t_stat:+.2f}",
        "p": "" if s.p_value is None or pd.isna(s.p_value) else f"{s.p_value:.3f}",
    } for s in by_type.sort_values(car).itertuples()]


def _data_problem_rows(prices: PriceSet) -> list[dict]:
    """Price problems, skipped tickers first: the reader learns what the study left out."""
    rows = [{"ticker": "(folder)" if p.ticker == "*" else p.ticker, "outcome": "skipped" if p.fatal else "kept",
             "reason": p.reason, "path": p.path} for p in prices.problems]
    return sorted(rows, key=lambda r: (r["outcome"] != "skipped", r["ticker"]))


def write_moves_markdown(moves: pd.DataFrame, target: Path) -> None:
    lines = ["# Annotated moves", "", "| ticker | date | span | return | AR | z | catalyst | score | explanation |",
             "|---|---|---|---|---|---|---|---|---|"]
    if not moves.empty:
        for m in moves.sort_values(["date", "ticker"]).itertuples():
            # a run ending on a day can sit beside that day's own move: the span tells them apart
            span = "day" if m.n_sessions == 1 else f"{m.n_sessions} sessions from {m.start_date}"
            cells = [m.ticker, str(m.date), span, f"{m.ret:+.1%}", f"{m.abnormal_ret:+.1%}", f"{m.zscore:+.1f}",
                     m.top_catalyst_type if isinstance(m.top_catalyst_type, str) else "—",
                     "" if pd.isna(m.attribution_score) else f"{m.attribution_score:.2f}", m.explanation]
            lines.append("| " + " | ".join(md_cell(c) for c in cells) + " |")
    write_text(target, "\n".join(lines) + "\n")


def write_meta(out: Path, meta: dict) -> None:
    write_text(out / "run_meta.json", json.dumps(meta, indent=2, default=str))


def read_meta(out: Path) -> dict:
    path = out / "run_meta.json"
    return json.loads(path.read_text()) if path.exists() else {}


def recorded_prices(out: Path) -> Path | None:
    """The price folder `lens run` made OUT with (run_meta.json), or None."""
    recorded = read_meta(out).get("prices")
    return Path(recorded) if recorded else None
