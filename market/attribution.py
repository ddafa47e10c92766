"""Move → ranked candidate catalysts, with every part of the score kept.

For a significant move of a ticker ending on session t, the candidates are the timeline events
placed (by the timing rule, in the ticker's own market) on a session in [start − window, t],
where start is the first session of the move (t for a one-day move). Each candidate gets

    proximity   1 on the move's first session (or inside a multi-day move), decaying by half per
                session before it
    relevance   direct 1.0 · holding 0.8 · country 0.5 — how the event's entities touch the ticker
    intensity   log(1 + articles) and independent sources, relative to the busiest candidate
                cause (not to reports of the move itself), at most 1
    agreement   does the event's direction/tone have the move's sign? 1 agree, 0.5 unclear, 0 not

score = relevance × type weight × (w_p·proximity + w_i·intensity + w_a·agreement), so an event
that does not touch the ticker cannot win on volume alone. The type weight encodes that some
catalyst types describe the market's behaviour rather than cause it: "stocks posted their best
day since 2008" (markets.momentum) or "investors poured money into KWEB" (markets.fund_flows)
are reports of the move, so they rank below a policy, trade, technology or corporate event of
the same days. Below `threshold` a move stays "unexplained"
rather than being pinned on a weak catalyst.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

RELEVANCE = {"direct": 1.0, "holding": 0.8, "country": 0.5}


@dataclass
class AttributionConfig:
    window: int = 3  # sessions before the move's first session
    w_proximity: float = 0.35
    w_intensity: float = 0.3
    w_agreement: float = 0.35
    threshold: float = 0.35
    top_n: int = 5
    type_weights: dict[str, float] = field(default_factory=lambda: {
        "markets.momentum": 0.35, "markets.fund_flows": 0.5, "markets.valuation": 0.6,
    })


def event_sign(direction: float | None, sentiment: float | None) -> int:
    """+1 / −1 / 0: the tone of the evidence sentences first, the taxonomy's direction cue second.

    The sentiment model reads the whole sentence, so it catches what keyword cues miss: a rate
    cut that came with a hawkish outlook, a stimulus briefing that disappointed. Where the tone
    is mild the cue decides."""
    if sentiment is not None and not pd.isna(sentiment) and abs(sentiment) >= 0.25:
        return 1 if sentiment > 0 else -1
    if direction is not None and not pd.isna(direction) and abs(direction) >= 0.25:
        return 1 if direction > 0 else -1
    return 0


def score_candidates(move: dict, candidates: list[dict], config: AttributionConfig) -> list[dict]:
    """`move`: ticker, ret, abnormal_ret, start_idx, end_idx (session positions).
    `candidates`: events with session_idx, relevance (level), n_articles, n_sources, n_mentions (optional, breaks ties),
    direction, sentiment. Returns the candidates with score parts, best first."""
    if not candidates:
        return []
    # Coverage is measured against the busiest candidate cause: reports of the move itself
    # (types weighted below 1, such as "best day since 2008") are often the most covered
    # events of the days, and they would otherwise dilute the coverage of what caused it.
    causes = [c for c in candidates if config.type_weights.get(c["catalyst_type"], 1.0) >= 1.0] or candidates
    max_articles = max(c["n_articles"] for c in causes)
    max_sources = max(c["n_sources"] for c in causes)
    move_sign = 1 if move["abnormal_ret"] > 0 else -1
    scored = []
    for c in candidates:
        lag = move["start_idx"] - c["session_idx"]  # sessions before the move's first day
        proximity = 1.0 if lag <= 0 else 0.5 ** lag
        relevance = RELEVANCE[c["relevance"]]
        intensity = min(1.0, 0.5 * math.log1p(c["n_articles"]) / math.log1p(max_articles) + 0.5 * (
            c["n_sources"] / max_sources if max_sources else 0.0))
        sign = event_sign(c.get("direction"), c.get("sentiment"))
        agreement = 0.5 if sign == 0 else (1.0 if sign == move_sign else 0.0)
        type_weight = config.type_weights.get(c["catalyst_type"], 1.0)
        score = relevance * type_weight * (config.w_proximity * proximity + config.w_intensity * intensity
                                           + config.w_agreement * agreement)
        scored.append({**c, "proximity": proximity, "relevance_weight": relevance, "type_weight": type_weight,
                       "intensity": intensity, "agreement": agreement, "score": score})
    # Scores saturate (a direct, same-day event with the most coverage scores 1): ties go to
    # the event more articles report, then the one they say more about, before the id decides.
    return sorted(scored, key=lambda c: (-c["score"], -c["n_articles"], -c.get("n_mentions", 0), c["event_id"]))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _day(value, precision=None) -> str:
    """An event's date for a sentence; "2025-04-01, dated to the month" where its texts say only
    "in April" (nlp/events.py: date_precision), so that nobody reads the day as stated."""
    if value is None or pd.isna(value):
        return "undated"
    day = str(pd.Timestamp(value).date())
    return f"{day}, dated to the {precision}" if isinstance(precision, str) and precision != "day" else day


def explain(move: dict, best: dict | None, threshold: float) -> str:
    """The move in one sentence and its most likely catalyst, or why it has none: outside the
    news the run read (`in_news_window` False, and no event near it), no event placed near it,
    or a best candidate under `threshold` (with its score, which a table rounds)."""
    verb = "rose" if move["ret"] > 0 else "fell"
    span = (f"on {move['date']}" if move["n_sessions"] == 1
            else f"over {move['n_sessions']} sessions to {move['date']}")
    benchmark = move.get("benchmark")
    # what the abnormal return is measured against: a market factor (SPY, QQQM, ^HSI) or a
    # ticker whose benchmark has no prices is measured against its own history (market/moves.py)
    against = benchmark if isinstance(benchmark, str) and benchmark else "its own history"
    measured = f" against {against}" if "benchmark" in move else ""
    figures = f"(abnormal {move['abnormal_ret']:+.1%}{measured}, z {move['zscore']:+.1f})"
    if (move["ret"] > 0) != (move["abnormal_ret"] > 0):
        # the cause is sought for the abnormal move, whose sign can differ from the price's (a
        # high-beta stock that fell less than its benchmark implied): say so, or the sentence
        # reads "fell ... most likely <a positive catalyst>"
        figures = (f"but {'rose' if move['abnormal_ret'] > 0 else 'fell'} against "
                   f"{against if measured else 'its benchmark'} (abnormal {move['abnormal_ret']:+.1%}, "
                   f"z {move['zscore']:+.1f})")  # fmt: skip
    head = f"{move['ticker']} {verb} {abs(move['ret']):.1%} {span} {figures}"
    if best is None and move.get("in_news_window") is False:
        first, last = move.get("news_from"), move.get("news_to")
        dates = f" (its articles run from {first} to {last})" if first and last else ""
        return f"{head}: outside the news this run read{dates}, so nothing to attribute it to."
    if best is None:
        return f"{head}: unexplained — no catalyst of the corpus is placed near it."
    if best["score"] < threshold:
        # cut, not rounded, to 3 places: 0.3496 must not read 0.350 beside a bar of 0.35
        return (f"{head}: unexplained — the best candidate, {best['catalyst_type']} "
                f"({_day(best['event_date'], best.get('date_precision'))}), scores "
                f"{math.floor(best['score'] * 1000) / 1000:.3f}, under the "
                f"{threshold:.2f} an attribution needs.")  # fmt: skip
    # the tone word is the sign the score used (event_sign: the tone where it is clear, else the
    # taxonomy's cue), so that it and "against the move" never disagree
    sign = event_sign(best.get("direction"), best.get("sentiment"))
    tone_word = ", positive" if sign > 0 else ", negative" if sign < 0 else ", unclear tone"
    evidence = best.get("evidence_text") or ""
    url = best.get("url") or ""
    link = f" [{url}]" if url.startswith(("http://", "https://")) else ""  # local files have no public link
    # a best candidate whose tone points the other way won on timing and coverage alone: say so,
    # so that the reader weighs it as the weak match it is
    against_move = "; its tone is against the move" if best.get("agreement") == 0 else ""
    when = _day(best["event_date"], best.get("date_precision"))
    if best.get("after_close_of"):
        # published after that session's close (a date in UTC that is already the next day):
        # a report of what moved the market, which the timing rule lets explain that day
        when = f"published {when} UTC, after the {best['after_close_of']} close"
    return (f"{head} — most likely {best['catalyst_type']}: {best['title']} ({when}; "
            f"{_count(best['n_articles'], 'article')}, {_count(best['n_sources'], 'source')}{tone_word}; "
            f"{best['relevance']} link{against_move}). "
            f"Evidence: \u201c{evidence}\u201d{link}")
