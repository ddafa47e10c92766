"""The market stage in one call: prices + timeline → moves annotated with their likely catalyst,
and the event study. Records in, records out; the caller does the I/O."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from nlp.events import evidence_article
from nlp.kb import KnowledgeBase

from .attribution import AttributionConfig, explain, score_candidates
from .eventstudy import STUDY_COLUMNS, by_catalyst_type, event_study_one
from .exposure import exposures
from .moves import (
    AbnormalReturns,
    MoveConfig,
    abnormal_returns,
    compute_abnormal,
    move_row,
    relative_returns,
    significant_moves,
)
from .prices import PriceSet
from .timing import SessionCalendar, calendar_for, country_timezone

DEFAULT_PAIRS = (("CQQQ", "QQQM"), ("KWEB", "SPY"))


@dataclass
class MarketResult:
    moves: pd.DataFrame
    event_study: pd.DataFrame
    by_type: pd.DataFrame
    placements: pd.DataFrame  # event × ticker → session, relevance
    skipped: list[str] = field(default_factory=list)  # one line per (event, ticker) left out
    attribute_day: object = None  # (ticker, date) → annotated move dict, for any day (evaluation)


@dataclass
class TickerContext:
    ticker: str
    calendar: SessionCalendar
    index: pd.DatetimeIndex  # the ticker's own price dates


def place_events(events: pd.DataFrame, prices: PriceSet, kb: KnowledgeBase) -> tuple[pd.DataFrame, list[str], dict[str, TickerContext]]:
    """Every (event, touched ticker) with the session it counts for, by the timing rule."""
    priced = set(prices.tickers)
    contexts = {
        t: TickerContext(t, calendar_for(t, prices.frames[t].index, kb.calendar_for(t)), prices.frames[t].index)
        for t in prices.tickers
    }
    rows, skipped = [], []
    first_price = min((ctx.index[0] for ctx in contexts.values() if len(ctx.index)), default=None)
    for ev in events.itertuples(index=False):
        if ev.event_date is None or pd.isna(ev.event_date):
            continue
        if first_price is not None and pd.Timestamp(ev.event_date) < first_price:
            skipped.append(f"event {ev.event_id} ({ev.catalyst_type}, {pd.Timestamp(ev.event_date).date()}): "
                           f"before the price history, which starts {first_price.date()}")
            continue
        precise = ev.date_basis == "publication" and ev.event_time is not None and not pd.isna(ev.event_time)
        when = pd.Timestamp(ev.event_time).to_pydatetime() if precise else pd.Timestamp(ev.event_date).date()
        # a day the texts name is the day where the acting state is (see market.timing)
        origin = None if precise else country_timezone(kb.acting_country(list(ev.entity_ids)))
        for ticker, level in exposures(list(ev.entity_ids), kb, priced).items():
            ctx = contexts[ticker]
            session = ctx.calendar.place(when, precise) if precise else ctx.calendar.place_day_of(when, origin)
            if session is None:
                skipped.append(f"{ev.event_id} on {ticker}: {ev.event_date} is past the ticker's calendar")
                continue
            pos = ctx.index.searchsorted(session)
            if pos >= len(ctx.index):
                skipped.append(f"{ev.event_id} on {ticker}: no prices on or after {session.date()}")
                continue
            reported = ctx.calendar.reported_session(when) if precise else None
            reported_idx = int(ctx.index.searchsorted(reported)) if reported is not None else int(pos)
            rows.append({"event_id": ev.event_id, "ticker": ticker, "relevance": level,
                         "session": ctx.index[pos], "session_idx": int(pos), "reported_idx": min(reported_idx, int(pos))})
    columns = ["event_id", "ticker", "relevance", "session", "session_idx", "reported_idx"]
    return pd.DataFrame(rows, columns=columns), skipped, contexts


def annotate_market(
    prices: PriceSet,
    events: pd.DataFrame,
    kb: KnowledgeBase,
    move_config: MoveConfig | None = None,
    attribution_config: AttributionConfig | None = None,
    pairs: tuple[tuple[str, str], ...] = DEFAULT_PAIRS,
    evidence_urls: dict[str, str] | None = None,
    on_progress=None,
    news_span: tuple | None = None,
) -> MarketResult:
    """`on_progress(done, total)` is called as the event study advances (its longest step).
    `news_span` (first, last publication day of the run's articles) marks the moves no article
    could explain (`in_news_window`), so that they are not counted as failures to explain."""
    move_config = move_config or MoveConfig()
    attribution_config = attribution_config or AttributionConfig()
    benchmark_of = {t: move_config.benchmarks.get(t, kb.benchmark_for(t)) for t in prices.tickers}
    abnormal = compute_abnormal(prices, benchmark_of, move_config)
    placements, skipped, contexts = place_events(events, prices, kb)  # price-file problems are the caller's

    # ---- moves of each ticker (and relative-performance views) + attribution
    ev_by_id = events.set_index("event_id") if not events.empty else events
    move_frames = [significant_moves(ar, move_config) for ar in abnormal.values()]
    for a, b in pairs:
        if a in prices.frames and b in prices.frames:
            rel = AbnormalReturns(f"{a}-{b}", None, abnormal_returns(relative_returns(prices, (a, b)), None, move_config))
            move_frames.append(significant_moves(rel, move_config))
    moves = pd.concat([m for m in move_frames if not m.empty], ignore_index=True) if move_frames else pd.DataFrame()
    annotated = [attribute_move(m, placements, ev_by_id, contexts, attribution_config, evidence_urls, news_span)
                 for m in moves.to_dict("records")]
    moves = pd.DataFrame(annotated)

    # ---- event study over every placement
    study_rows = []
    for n, p in enumerate(placements.itertuples(index=False), 1):
        if on_progress is not None and (n % 50 == 0 or n == len(placements)):
            on_progress(n, len(placements))
        ar = abnormal[p.ticker]
        bench = prices.returns(ar.benchmark) if ar.benchmark else None
        row, reason = event_study_one(prices.returns(p.ticker), bench, p.session, move_config)
        if row is None:
            skipped.append(f"event study {p.event_id} on {p.ticker}: {reason}")
            continue
        study_rows.append({"event_id": p.event_id, "ticker": p.ticker, "relevance": p.relevance,
                           "catalyst_type": ev_by_id.loc[p.event_id, "catalyst_type"], **row})
    study = pd.DataFrame(study_rows, columns=STUDY_COLUMNS)

    def attribute_day(ticker: str, day) -> dict | None:
        frame = abnormal[ticker].frame if ticker in abnormal else None
        stamp = pd.Timestamp(day)
        if frame is None or stamp not in frame.index or pd.isna(frame.loc[stamp, "z"]):
            return None
        r = frame.loc[stamp]
        move = move_row(abnormal[ticker], stamp, stamp, 1, "day", r["ret"], r["ar"], r["z"], r)
        return attribute_move(move, placements, ev_by_id, contexts, attribution_config, evidence_urls, news_span)

    by_type = by_catalyst_type(study) if not study.empty else pd.DataFrame()
    return MarketResult(moves, study, by_type, placements, skipped, attribute_day)


def attribute_move(move: dict, placements: pd.DataFrame, events: pd.DataFrame, contexts: dict[str, TickerContext],
                   config: AttributionConfig, evidence_urls: dict[str, str] | None = None,
                   news_span: tuple | None = None) -> dict:
    ticker = move["ticker"].split("-")[0]  # a relative view is explained through its first leg
    ctx = contexts.get(ticker)
    candidates = []
    start_idx = end_idx = 0
    if ctx is not None:
        start_idx = int(ctx.index.searchsorted(pd.Timestamp(move["start_date"])))
        end_idx = int(ctx.index.searchsorted(pd.Timestamp(move["date"])))
    in_news = True
    if ctx is not None and news_span is not None:
        # an event can explain the move if it is placed on a session in [start - window, end]:
        # does that span meet the sessions the articles were published on?
        first_idx = int(ctx.index.searchsorted(pd.Timestamp(news_span[0])))
        last_idx = int(ctx.index.searchsorted(pd.Timestamp(news_span[1]), side="right")) - 1
        in_news = end_idx >= first_idx and start_idx - config.window <= last_idx
    if ctx is not None and not placements.empty:
        near = placements[(placements.ticker == ticker) & (placements.session_idx >= start_idx - config.window)
                          & (placements.reported_idx <= end_idx)]
        for p in near.itertuples(index=False):
            ev = events.loc[p.event_id]
            # An after-close report of the move's own day counts as of that day.
            after_close = p.session_idx > end_idx
            session_idx = p.reported_idx if after_close else p.session_idx
            candidates.append({
                "event_id": p.event_id, "catalyst_type": ev.catalyst_type, "title": ev.title,
                "event_date": ev.event_date, "date_precision": ev.get("date_precision"),
                # its date (UTC) can be the next day: explain says it is a report of that session
                "after_close_of": str(ctx.index[p.reported_idx].date()) if after_close else None,
                "session_idx": session_idx, "relevance": p.relevance,
                "n_articles": int(ev.n_articles), "n_sources": int(ev.n_sources),
                "n_mentions": int(ev.n_mentions),
                "direction": ev.direction, "sentiment": ev.sentiment,
                "evidence_text": list(ev.evidence)[0] if ev.evidence is not None and len(ev.evidence) else "",
                "url": (evidence_urls or {}).get(evidence_article(ev)),
            })
    move_ctx = {**move, "start_idx": start_idx, "end_idx": end_idx}
    in_news = in_news or bool(candidates)  # an event its texts date before their publication can still be near
    told = {"in_news_window": in_news}  # what explain says of a move with no candidate
    if news_span is not None:
        told.update(news_from=str(pd.Timestamp(news_span[0]).date()), news_to=str(pd.Timestamp(news_span[1]).date()))
    ranked = score_candidates(move_ctx, candidates, config)[: config.top_n]
    best = ranked[0] if ranked and ranked[0]["score"] >= config.threshold else None
    return {
        **move,
        "in_news_window": in_news,
        "top_event_id": best["event_id"] if best else None,
        "top_catalyst_type": best["catalyst_type"] if best else None,
        "attribution_score": float(ranked[0]["score"]) if ranked else None,
        "explanation": explain({**move, **told}, ranked[0] if ranked else None, config.threshold),
        "candidates": [
            {k: (float(c[k]) if isinstance(c[k], float | np.floating) else c[k])
             for k in ("event_id", "catalyst_type", "score", "proximity", "relevance", "type_weight", "intensity",
                      "agreement")}
            for c in ranked
        ],
    }
