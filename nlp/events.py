"""Catalyst mentions from all articles → the dated catalyst timeline (events).

A mention joins an event when it has the same catalyst type, shares entities with it (or
either side names none, or it comes from an article that already put the event on the same
day, or, for a government's decisions, it names another actor of the same government on the
same day: `TimelineConfig.national_types`) and its date lies within a few days of the event's
(within a day when texts date both to the day: Monday's crash and Wednesday's pause are two
events). Mentions dated only roughly (a month, a quarter, "this year", or nothing but the
publication date) do not found events of their own when a precisely dated event of the same
type and entities lies in their interval: they are evidence for that event. Mentions whose
stated year contradicts the rest of the corpus (`year_conflict`) join the nearest matching
event regardless of date, so the timeline keeps the consensus date. Last, an event told by one
article folds into a larger one it would have joined had its mentions come last
(`_absorb_fragments`).

Cost is linear in the number of mentions for a bounded number of events open at once: each
type is swept in date order, and only events whose date is within the join window are
candidates.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pandas as pd

from .timex import PRECISION_RANK, PRECISIONS

EVENT_COLUMNS = (
    "event_id", "catalyst_type", "title", "event_date", "first_seen", "n_mentions", "n_articles",
    "n_sources", "sentiment", "entity_ids", "article_ids", "evidence",
    # beyond DESIGN: what the market stage needs to place and sign an event, and the article of
    # each evidence sentence (for its link)
    "direction", "date_basis", "event_time", "evidence_article_ids",
    # how precisely the texts date the event: day, week, month, quarter or year (event_date is
    # then the start of the span they name), so that a reader does not take "in April" for April 1
    "date_precision",
)


@dataclass
class TimelineConfig:
    join_days: int = 3  # a mention within this many days of an event's date can join it
    # ... but a mention that a text dates to the day joins an event that texts date to a day only
    # within this many: two reports a day apart are one event told from two time zones; two
    # days apart (a crash on Monday, a pause on Wednesday) are two events, which chaining on
    # the running date would otherwise merge.
    day_join_days: int = 1
    max_evidence: int = 3
    # A mention dated only by its publication date refers to something up to this many days
    # before it (news reports the recent past).
    publication_lookback_days: int = 7
    # Types whose events are a government's decisions: two reports of the same days that name
    # different actors of one government ("Xi Jinping chaired the Politburo meeting" and
    # "China's top leaders said") tell one story. (Not regulation: two agencies of one state
    # can act on the same days about different things.)
    national_types: tuple[str, ...] = ("policy.fiscal_stimulus", "policy.monetary_stimulus", "policy.us_monetary")


@dataclass
class _Event:
    catalyst_type: str
    mentions: list[dict] = field(default_factory=list)
    entities: Counter = field(default_factory=Counter)
    governments: Counter = field(default_factory=Counter)  # of its mentions' actors (see `_prepare`)
    anchor: date | None = None  # running consensus date
    day_dated: bool = False  # some text puts it on a day (not a week, not only a publication date)

    def add(self, mention: dict) -> None:
        self.mentions.append(mention)
        self.day_dated = self.day_dated or _votes(mention)
        self.entities.update(mention["entity_ids"])
        self.governments.update(mention["_governments"])
        self.anchor = _consensus(self.mentions) or self.anchor or mention["_start"]


def build_timeline(
    catalysts: pd.DataFrame,
    articles: pd.DataFrame,
    sentence_scores: pd.DataFrame | None = None,
    config: TimelineConfig | None = None,
    governments: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """catalysts: DESIGN catalysts rows (+ optional `flags`); articles: article_id, source,
    title, url, published_at, duplicate_of (+ optional published_precision: "day" where only
    the date is known); sentence_scores: article_id, sent_idx, score; governments: entity id ->
    country code of the state it acts for (`nlp.kb.KnowledgeBase.governments`)."""
    config = config or TimelineConfig()
    if catalysts.empty:
        return pd.DataFrame(columns=list(EVENT_COLUMNS))
    mentions = _prepare(catalysts, articles, sentence_scores, governments or {}, config.national_types)
    events: list[_Event] = []
    for ctype, group in _by_type(mentions):
        precise = [m for m in group if m["_precise"] and not m["_conflict"]]
        rough = [m for m in group if not m["_precise"] and not m["_conflict"]]
        conflicted = [m for m in group if m["_conflict"]]
        typed = _sweep(ctype, precise, config)
        for mention in rough:
            target = _containing_event(typed, mention, config)
            if target is None:
                target = _Event(ctype)
                typed.append(target)
            target.add(mention)
        for mention in conflicted:
            target = _nearest_matching_event(typed, mention)
            if target is None:
                target = _Event(ctype)
                typed.append(target)
            target.add(mention)
        events.extend(_absorb_fragments(typed, config))
    rows = [_event_row(e, config) for e in events if e.mentions]
    frame = pd.DataFrame(rows, columns=list(EVENT_COLUMNS))
    return frame.sort_values(["event_date", "catalyst_type"], na_position="last").reset_index(drop=True)


# ------------------------------------------------------------------ preparation


def _prepare(catalysts: pd.DataFrame, articles: pd.DataFrame, scores: pd.DataFrame | None,
             governments: Mapping[str, str], national_types: tuple[str, ...]) -> list[dict]:
    meta = articles.set_index("article_id")
    root_of = {
        aid: (dup if isinstance(dup, str) and dup else aid)
        for aid, dup in zip(articles.article_id, articles.get("duplicate_of", pd.Series(dtype=object)), strict=False)
    }
    source_of = dict(zip(articles.article_id, articles.source, strict=False))
    score_of = {}
    if scores is not None and not scores.empty:
        score_of = dict(zip(zip(scores.article_id, scores.sent_idx, strict=False), scores.score, strict=False))
    records = []
    for row in catalysts.to_dict("records"):
        start, end = _as_date(row.get("event_start")), _as_date(row.get("event_end"))
        aid = row["article_id"]
        published = meta["published_at"].get(aid) if "published_at" in meta else None
        if start is None and published is not None and not pd.isna(published):
            start = end = pd.Timestamp(published).date()
        flags = row.get("flags")
        flags = list(flags) if flags is not None and not isinstance(flags, float) else []
        entity_ids = row.get("entity_ids")
        entity_ids = [e for e in (list(entity_ids) if entity_ids is not None else []) if e]
        root = root_of.get(aid, aid)
        records.append(
            {
                **row,
                "entity_ids": entity_ids,
                "_governments": sorted({governments[e] for e in entity_ids if e in governments})
                if row.get("catalyst_type") in national_types else [],
                "_start": start,
                "_end": end or start,
                "_precise": _precise(row.get("date_precision"), start, end) and row.get("date_source") != "publication",
                "_conflict": "year_conflict" in flags,
                "_root": root,
                "_source": source_of.get(root, source_of.get(aid)),
                "_published": published,
                # a date without a time reads as midnight UTC, the evening before in New York:
                # not a time to place the event by (see _event_time)
                "_published_day_only": meta["published_precision"].get(aid) == "day" if "published_precision" in meta else False,
                "_score": score_of.get((aid, row.get("sent_idx"))),
                "_title": meta["title"].get(aid) if "title" in meta else None,
                "_url": meta["url"].get(aid) if "url" in meta else None,
            }
        )
    return [r for r in records if r["_start"] is not None or r["_conflict"]]


def _precise(precision: str | None, start: date | None, end: date | None) -> bool:
    """Dated closely enough to found an event: a day, or a week. A part of a month ("at the end
    of August", "in late July": ten or eleven days, which the resolver also calls a week) is
    evidence for the day-dated event inside it, not an event of its own eight days earlier."""
    if precision == "day":
        return True
    return precision == "week" and start is not None and end is not None and (end - start).days <= 6


def _by_type(mentions: list[dict]):
    grouped: dict[str, list[dict]] = defaultdict(list)
    for m in mentions:
        grouped[m["catalyst_type"]].append(m)
    for ctype in sorted(grouped):
        yield ctype, sorted(grouped[ctype], key=lambda m: (m["_start"] or date.max, m["article_id"], m["sent_idx"]))


def _sweep(ctype: str, mentions: list[dict], config: TimelineConfig) -> list[_Event]:
    events: list[_Event] = []
    open_events: list[_Event] = []
    window = timedelta(days=config.join_days)
    day_window = timedelta(days=config.day_join_days)
    for m in mentions:
        open_events = [e for e in open_events if m["_start"] - e.anchor <= window]
        day_dated = _votes(m)
        best, best_overlap = None, -1
        for event in open_events:
            if day_dated and event.day_dated and abs(m["_start"] - event.anchor) > day_window:
                continue
            overlap = _overlap(event, m)
            if overlap is not None and overlap > best_overlap:
                best, best_overlap = event, overlap
        if best is None:
            best = _Event(ctype)
            events.append(best)
            open_events.append(best)
        best.add(m)
    return events


def _overlap(event: _Event, mention: dict, any_day: bool = False) -> int | None:
    """Shared entity count; 0 when either side names none, or when the event holds a mention
    of the same article (or a copy of it) dated the same day (`any_day`: on any day): one
    article's "The Fed cut rates by half a point" and "Powell said the move was not a sign of
    worry" are one story, whoever each sentence names. None when both name entities and share
    none (different stories of the same type on the same days)."""
    if not mention["entity_ids"] or not event.entities:
        return 0
    shared = sum(1 for e in set(mention["entity_ids"]) if e in event.entities)
    if shared:
        return shared
    if mention["_start"] == event.anchor and any(g in event.governments for g in mention["_governments"]):
        return 0  # one government's decision of that day, told through different actors of it
    same_story = any(
        m["_root"] == mention["_root"] and (any_day or m["_start"] == mention["_start"]) for m in event.mentions
    )
    return 0 if same_story else None


def _containing_event(events: list[_Event], mention: dict, config: TimelineConfig) -> _Event | None:
    start, end = mention["_start"], mention["_end"]
    if mention.get("date_source") == "publication":
        start = start - timedelta(days=config.publication_lookback_days)
    best, best_key = None, None
    for event in events:
        if event.anchor is None or not (start <= event.anchor <= end):
            continue
        # A mention dated only by its publication (a headline) is evidence for the event its
        # own article dates within the lookback, whoever it names: "China's debt swap leaves
        # stimulus hopes unmet" over "the NPC approved on Friday". A month-dated recap ("the
        # tariff announcement earlier this month") is not: it may be another story.
        published = mention.get("date_source") == "publication"
        overlap = _overlap(event, mention, any_day=published)
        if overlap is None:
            continue
        # ... and an event its own article is already in comes first: "Fourth, subsidies will
        # increase", which names no one, belongs with its article's "Speaking on Saturday, Lan
        # said...", not with the larger event of Tuesday's briefing four days before
        own = published and any(m["_root"] == mention["_root"] for m in event.mentions)
        # ... and, naming no one in common, the one its article puts on the day it was written:
        # "Hang Seng crashes 13% ..." (named: the index) is Monday's crash, which the article
        # dates to Monday, not the larger event of the tariffs it recounts from the Wednesday before
        today = published and any(
            m["_root"] == mention["_root"] and m["_start"] == mention["_start"] for m in event.mentions
        )
        key = (own, overlap, today, len(event.mentions), -abs((end - event.anchor).days))
        if best_key is None or key > best_key:
            best, best_key = event, key
    return best


def _absorb_fragments(events: list[_Event], config: TimelineConfig) -> list[_Event]:
    """Fold an event told by a single article into a larger one it would have joined had its
    mentions come last: the joins above see an event's entities only as far as its mentions so
    far. "After Governor Pan Gongsheng's announcement on Tuesday" founds an event of its own
    when the sweep reaches it before the rough mentions that name Pan join Tuesday's PBoC
    event; a headline dated by its publication founds one when it comes before its article's
    dated body sentence. Joins as a mention would: the same day (a fragment dated by its
    publication: the larger event lies within its lookback), and shared entities or the same
    article. Fragments dated only to a month or a quarter stay as they are."""
    lookback = timedelta(days=config.publication_lookback_days)
    kept = sorted((e for e in events if e.mentions), key=lambda e: len(e.mentions), reverse=True)
    for small in sorted(kept, key=lambda e: len(e.mentions)):
        roots = {m["_root"] for m in small.mentions}
        if len(roots) != 1 or small.anchor is None:
            continue
        published = all(m.get("date_source") == "publication" for m in small.mentions)
        if not published and not all(m["_precise"] for m in small.mentions):
            continue  # "earlier this month", "in the past two weeks": maybe another story
        first = min(m["_start"] for m in small.mentions) - lookback
        last = max(m["_end"] for m in small.mentions)
        best, best_key = None, None
        for big in kept:
            if big is small or len(big.mentions) < len(small.mentions) or big.anchor is None:
                continue
            if published:
                if not (first <= big.anchor <= last):
                    continue
            elif big.anchor != small.anchor:
                continue
            shared = sum(1 for e in small.entities if e in big.entities)
            # (a fragment dated only by its publication may be any decision of the week before)
            shared = shared or (not published and any(g in big.governments for g in small.governments))
            # for a fragment dated by its publication, the article must date the larger event in
            # its text: its own undated sentences may have joined another event of the window
            same_article = any(
                m["_root"] in roots and not (published and m.get("date_source") == "publication") for m in big.mentions
            )
            if not (shared or same_article):
                continue
            key = (shared, same_article, len(big.mentions))
            if best_key is None or key > best_key:
                best, best_key = big, key
        if best is not None:
            for m in small.mentions:
                best.add(m)
            small.mentions = []
    return [e for e in kept if e.mentions]


def _nearest_matching_event(events: list[_Event], mention: dict) -> _Event | None:
    candidates = [(e, _overlap(e, mention)) for e in events if e.anchor is not None]
    candidates = [(e, o) for e, o in candidates if o]  # needs at least one shared entity
    if not candidates:
        return None
    return max(candidates, key=lambda eo: (eo[1], len(eo[0].mentions)))[0]


def _votes(mention: dict) -> bool:
    """The mention's text dates it to a day, with a year that fits the corpus."""
    return mention.get("date_precision") == "day" and mention.get("date_source") != "publication" and not mention["_conflict"]


def _consensus(mentions: list[dict]) -> date | None:
    """The most precise well-supported date: among day-precision explicit/relative mentions,
    the date backed by the most independent sources, then by confidence; ties → earliest.
    Without such mentions, the most precise date of any mention, then the earliest."""
    votes: dict[date, set] = defaultdict(set)
    weight: Counter = Counter()
    for m in mentions:
        if _votes(m):
            votes[m["_start"]].add(m["_source"])
            weight[m["_start"]] += float(m.get("confidence") or 0)
    if not votes:
        # Only rough dates: the most precise of them, then the earliest. A day on which an
        # article appeared bounds the event more closely than the first of a month that some
        # sentence named ("the London talks in June" against a report of June 5).
        dated = [
            (PRECISION_RANK.get(m.get("date_precision"), len(PRECISION_RANK)), m["_start"])
            for m in mentions if m["_start"] is not None and not m["_conflict"]
        ]  # fmt: skip
        return min(dated)[1] if dated else None
    return min(votes, key=lambda d: (-len(votes[d]), -weight[d], d))


# ------------------------------------------------------------------ rows


def _event_row(event: _Event, config: TimelineConfig) -> dict:
    ms = event.mentions
    best = max(ms, key=lambda m: (float(m.get("confidence") or 0), m["_precise"]))
    published = [pd.Timestamp(m["_published"]) for m in ms if m["_published"] is not None and not pd.isna(m["_published"])]
    scored = [(m["_score"], float(m.get("confidence") or 0)) for m in ms if m["_score"] is not None]
    sentiment = (
        sum(s * w for s, w in scored) / sum(w for _, w in scored) if scored and sum(w for _, w in scored) > 0 else None
    )
    ranked = sorted(ms, key=lambda m: (-float(m.get("confidence") or 0), m["_start"] or date.max))
    evidence, evidence_articles, seen = [], [], set()
    for m in ranked:
        if m["evidence"] not in seen:
            evidence.append(m["evidence"])
            evidence_articles.append(m["article_id"])  # where a reader finds that sentence
            seen.add(m["evidence"])
        if len(evidence) == config.max_evidence:
            break
    entity_ids = [e for e, _ in event.entities.most_common()]
    article_ids = sorted({m["article_id"] for m in ms})
    event_date = event.anchor
    # Supported by a dated expression in some text, or only by when articles appeared? In the
    # second case the publication instant is the best time we have (the market timing rule
    # then knows whether it came before or after the close).
    text_dated = any(m["_start"] == event_date and m["_precise"] for m in ms)
    directions = [float(m["direction"]) for m in ms if m.get("direction") is not None and not pd.isna(m.get("direction"))]
    direction = sum(directions) / len(directions) if directions else 0.0
    key = f"{event.catalyst_type}|{event_date}|{','.join(sorted(entity_ids[:3]))}"
    return {
        "event_id": hashlib.sha1(key.encode()).hexdigest()[:12],
        "catalyst_type": event.catalyst_type,
        "title": best["_title"] or best["evidence"][:120],
        "event_date": event_date,
        "first_seen": min(published) if published else None,
        "n_mentions": len(ms),
        "n_articles": len(article_ids),
        "n_sources": len({m["_source"] for m in ms if m["_source"]}),
        "sentiment": sentiment,
        "entity_ids": entity_ids,
        "article_ids": article_ids,
        "evidence": evidence,
        "direction": direction,
        "date_basis": "text" if text_dated else "publication",
        "event_time": None if text_dated else _event_time(ms),
        "evidence_article_ids": evidence_articles,
        "date_precision": _date_precision(ms, event_date),
    }


def _date_precision(mentions: list[dict], event_date: date | None) -> str | None:
    """The finest precision among the mentions that put the event on its date. A mention dated
    by its article's publication counts as a day: that is the day it was known."""
    ranks = [
        PRECISION_RANK.get(m.get("date_precision"), 0)  # none given (NaN, None): the publication day
        for m in mentions if m["_start"] == event_date and not m["_conflict"]
    ]  # fmt: skip
    return PRECISIONS[min(ranks)] if ranks else None


def date_label(event_date, precision: str | None) -> str:
    """An event's date as people should read it: "2025-04-01" for a day, "2025-04-01 (month)"
    when the texts say only "in April" (the span starts that day)."""
    if event_date is None or pd.isna(event_date):
        return ""
    day = str(pd.Timestamp(event_date).date())
    return f"{day} ({precision})" if isinstance(precision, str) and precision != "day" else day


def _event_time(mentions: list[dict]) -> pd.Timestamp | None:
    """When a publication-dated event became known: the first publication instant, unless an
    article known only by its date came out that day or earlier. Then the time of day is unknown
    and the event is placed by its date (market/annotate.py), not before or after a close."""
    exact, dates_only = [], []
    for m in mentions:
        if m["_published"] is None or pd.isna(m["_published"]):
            continue
        (dates_only if m["_published_day_only"] else exact).append(pd.Timestamp(m["_published"]))
    if not exact or (dates_only and min(dates_only).date() <= min(exact).date()):
        return None
    return min(exact)


def evidence_article(event) -> str | None:
    """The article that holds `event`'s first evidence sentence (an events row: a Series or a
    named tuple), for the link shown beside it; None for events stored before it was recorded."""
    ids = getattr(event, "evidence_article_ids", None)
    return str(ids[0]) if ids is not None and len(ids) else None


def _as_date(value) -> date | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return pd.Timestamp(value).date()
    except (ValueError, TypeError):
        return None
