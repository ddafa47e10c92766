"""Which priced tickers an event's entities touch, and how directly.

    direct    the entity is the instrument (Alibaba → BABA, 9988.HK; KWEB → KWEB)
    holding   the entity is a main holding of the fund or index (Tencent → CQQQ, KWEB)
    country   a government, agency, official or country of the instrument's exposure country
              (PBoC → Chinese ETFs and ADRs; the Federal Reserve → US instruments); a person
              who speaks for a company (Robin Li → Baidu) touches that company as it would
A ticker touched several ways keeps its most direct link.
"""

from __future__ import annotations

from collections.abc import Iterable

from nlp.kb import KnowledgeBase

LEVELS = ("direct", "holding", "country")
MACRO_KINDS = ("agency", "country", "person")


def ticker_countries(kb: KnowledgeBase, tickers: Iterable[str]) -> dict[str, str | None]:
    out = {}
    for t in tickers:
        e = kb.by_ticker(t)
        out[t] = e.country if e is not None else None
    return out


def exposures(entity_ids: Iterable[str], kb: KnowledgeBase, priced: set[str]) -> dict[str, str]:
    """ticker → the most direct level at which the entities touch it (priced tickers only)."""
    found: dict[str, str] = {}
    countries = ticker_countries(kb, sorted(priced))  # sorted: the same row order in every process

    def mark(ticker: str, level: str) -> None:
        if ticker in priced and (ticker not in found or LEVELS.index(level) < LEVELS.index(found[ticker])):
            found[ticker] = level

    for entity_id in entity_ids:
        entity = kb.get(entity_id)
        if entity is None:
            continue
        for t in entity.tickers:
            mark(t, "direct")
        for holder in (*kb.funds_holding(entity_id), *kb.indexes_holding(entity_id)):
            for t in holder.tickers:
                mark(t, "holding")
        company = kb.get(entity.affiliation) if entity.affiliation else None
        company = company if company is not None and company.kind == "company" else None
        if entity.kind in MACRO_KINDS and entity.country and not (entity.kind == "person" and company):
            # an official speaks for the country; a chief executive speaks for the company (below):
            # Robin Li's launch is Baidu's news, not every Chinese ticker's
            for t, country in countries.items():
                if country == entity.country:
                    mark(t, "country")
        if entity.kind in ("product", "person") and company is not None:
            # A model release (DeepSeek R1), or what a founder or chief executive says, is news
            # about the company: its listings and its holders.
            for t in company.tickers:
                mark(t, "direct")
            for holder in kb.funds_holding(company.id):
                for t in holder.tickers:
                    mark(t, "holding")
    return found
