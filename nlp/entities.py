"""Knowledge-base entity ruler and linker: the spaCy component ``lens_entities``.

It runs after ``ner`` and links mentions to the knowledge base (``nlp/kb.py``):

* aliases through two ``PhraseMatcher`` s — ``LOWER`` for distinctive names ("deepseek", "NVIDIA"),
  ``ORTH`` for names that are also words ("Meta" but not "meta", "Trump" but not "trump") and for
  all-caps abbreviations ("US", "SEC", "AMD"), which are matched only as written;
* tickers through the same ``ORTH`` matcher: upper-case only, never one-letter or ambiguous ones;
* cashtags (``$BABA``) and exchange notations (``NASDAQ: GOOG``, ``HKEX:9988``, ``HEL: RTRKS``)
  through ``Matcher`` token patterns; an unknown symbol still gives a mention with its ticker and
  ``entity_id=None``;
* Chinese names inside a run of Chinese characters, which the English tokenizer keeps as one token.

Possessives need no patterns: the tokenizer splits "Alibaba's" and "Tencent’s" into name + "'s",
so the name token matches and the span ends before the possessive.

Knowledge-base matches override the statistical NER where they overlap (the small English model
labels Alibaba a GPE and CQQQ an ORG fragment). Statistical ORG and PERSON spans that overlap no
match are linked by exact alias lookup where possible and otherwise kept as unlinked mentions
(``entity_id=None``): an unknown company is "no link", never an error.

Results hang on the document: ``Doc.ents`` (with ``kb_id_``), the span group ``lens_mentions``,
``Span._.entity_id / entity_kind / entity_name / tickers`` and ``Doc._.entity_mentions``;
:func:`entity_rows` turns them into rows of the DESIGN.md entities table.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable
from typing import Any

from spacy.language import Language
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc, Span, Token
from spacy.util import filter_spans

from nlp.kb import Entity, KnowledgeBase, load_kb

from .sentences import sentence_starts

__all__ = ["MENTIONS_KEY", "KnowledgeBaseLinker", "entity_rows", "register_extensions"]

# Name of the span group holding every mention, linked and unlinked. Span groups travel with the
# Doc through to_bytes / nlp.pipe(n_process>1), which plain Python objects on Doc._ would not.
MENTIONS_KEY = "lens_mentions"

# NER label given to knowledge-base spans in Doc.ents, by entity kind.
LABEL_BY_KIND = {
    "company": "ORG",
    "fund": "ORG",
    "index": "ORG",
    "agency": "ORG",
    "person": "PERSON",
    "country": "GPE",
    "product": "PRODUCT",
}
# Statistical labels kept as (possibly unlinked) mentions, with the kind they imply. An unlinked
# ORG may be a company, a bank or a ministry: its kind stays unknown.
STATISTICAL_MENTION_KINDS: dict[str, str | None] = {"ORG": None, "PERSON": "person"}

# Tokens that may follow a company name as part of it ("Alibaba Group Holding Ltd.", "Baidu, Inc.").
CORPORATE_SUFFIXES = frozenset(
    {
        "inc",
        "inc.",
        "incorporated",
        "corp",
        "corp.",
        "corporation",
        "co",
        "co.",
        "company",
        "ltd",
        "ltd.",
        "limited",
        "plc",
        "llc",
        "l.p.",
        "lp",
        "sa",
        "s.a.",
        "ag",
        "se",
        "n.v.",
        "nv",
        "holdings",
        "holding",
        "group",
        "technologies",
        "technology",
    }
)
# Abbreviations of common nouns that the small model tags ORG in headlines ("AI", "ETF"); as
# unlinked mentions they would only be noise.
NOT_NAMES = frozenset({"ai", "ev", "evs", "etf", "etfs", "ipo", "ipos", "gdp", "ceo", "cfo", "ytd"})
_POSSESSIVE_TOKENS = frozenset({"'s", "\u2019s", "'", "\u2019"})
_LEADING_DETERMINERS = frozenset({"the"})

_CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# A cashtag symbol: letters (BABA, baba, BRK.B) or an exchange code with suffix (9988.HK); "$5bn"
# and "$100" are money, not tickers.
_CASHTAG_SYMBOL = r"^(?:[A-Za-z][A-Za-z0-9]{0,5}(?:\.[A-Za-z]{1,2})?|\d{1,6}\.[A-Za-z]{1,2})$"
# A symbol after an exchange code: upper-case, short ("HEL: RTRKS", "HKEX: 0700"); a capitalised
# word ("Nasdaq: Stocks fell") is prose.
_EXCHANGE_SYMBOL = r"^(?:[A-Z][A-Z0-9]{0,5}(?:[.\-][A-Z]{1,2})?|\d{1,6})$"

_CASHTAG = "LENS_CASHTAG"
_EXCHANGE = "LENS_EXCHANGE"


def register_extensions() -> None:
    """Register the Doc/Span attributes this component sets; safe to call from any module."""
    for name in ("entity_id", "entity_kind", "entity_name", "tickers"):
        if not Span.has_extension(name):
            Span.set_extension(name, default=None)
    if not Doc.has_extension("article_id"):
        Doc.set_extension("article_id", default=None)
    if not Doc.has_extension("entity_mentions"):
        Doc.set_extension("entity_mentions", getter=_entity_mentions)


def _entity_mentions(doc: Doc) -> list[Span]:
    return list(doc.spans[MENTIONS_KEY]) if MENTIONS_KEY in doc.spans else []


register_extensions()


@Language.factory(
    "lens_entities",
    default_config={"kb_path": None, "overwrite_ents": True},
    assigns=[
        "doc.ents",
        "doc.spans",
        "span._.entity_id",
        "span._.entity_kind",
        "span._.entity_name",
        "span._.tickers",
    ],
)
def make_lens_entities(
    nlp: Language, name: str, kb_path: str | None, overwrite_ents: bool
) -> KnowledgeBaseLinker:
    return KnowledgeBaseLinker(nlp, name, kb=load_kb(kb_path), overwrite_ents=overwrite_ents)


class KnowledgeBaseLinker:
    """Entity ruler + linker over a :class:`~nlp.kb.KnowledgeBase`. Patterns are built once."""

    def __init__(
        self,
        nlp: Language,
        name: str = "lens_entities",
        *,
        kb: KnowledgeBase,
        overwrite_ents: bool = True,
    ) -> None:
        self.name = name
        self.kb = kb
        self.overwrite_ents = overwrite_ents
        self.lower_matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
        self.orth_matcher = PhraseMatcher(nlp.vocab, attr="ORTH")
        self.notation_matcher = Matcher(nlp.vocab)
        self._cjk_aliases: dict[str, str] = {}
        self._build_patterns(nlp)

    # ── patterns ───────────────────────────────────────────────────────────────────
    def _build_patterns(self, nlp: Language) -> None:
        lower: dict[str, list[str]] = {}
        orth: dict[str, list[str]] = {}
        for entity in self.kb:
            for form in entity.surface_forms:
                if _CJK_RE.search(form):
                    self._cjk_aliases[form.lower()] = entity.id
                    continue
                cased = form in entity.cased_aliases or _is_abbreviation(form)
                target = orth if cased else lower
                target.setdefault(entity.id, []).extend(_written_variants(form, cased=cased))
            for ticker in entity.tickers:
                orth.setdefault(entity.id, []).extend(self._ticker_variants(ticker))
        for matcher, patterns in ((self.lower_matcher, lower), (self.orth_matcher, orth)):
            for entity_id, texts in patterns.items():
                unique = list(dict.fromkeys(texts))
                matcher.add(entity_id, list(nlp.tokenizer.pipe(unique)))

        self.notation_matcher.add(
            _CASHTAG,
            [
                [
                    {"ORTH": "$"},
                    {"TEXT": {"REGEX": _CASHTAG_SYMBOL}},
                ]
            ],
        )
        # One pattern for every exchange code keeps the Matcher to a handful of states per token;
        # an impossible pair of words ("NYSE Markets") is rejected when the code is resolved.
        codes = [code.split() for m in self.kb.markets.values() for code in m.exchange_codes]
        first_words = sorted({words[0].lower() for words in codes})
        second_words = sorted({words[1].lower() for words in codes if len(words) == 2})
        self.notation_matcher.add(
            _EXCHANGE,
            [
                [
                    {"LOWER": {"IN": first_words}},
                    {"LOWER": {"IN": second_words}, "OP": "?"},
                    {"ORTH": ":"},
                    {"TEXT": {"REGEX": _EXCHANGE_SYMBOL}},
                ]
            ],
        )
        # "HKEX:9988" without a space stays one token; a scan of the text finds it faster than a
        # regex predicate evaluated on every token.
        single = sorted({re.escape(w[0]) for w in codes if len(w) == 1}, key=len, reverse=True)
        self._glued_re = re.compile(
            rf"(?<![\w$])(?i:{'|'.join(single)}):[A-Z0-9][A-Z0-9.\-]{{0,9}}\b"
        )

        # Model names with a version glued on stay one token ("Qwen2.5-Max", "Llama-3.1-405B",
        # "GPT-4o-mini"): a product alias followed by a digit or a hyphen inside one token.
        self._versioned: list[tuple[str, bool, str]] = []
        for entity in self.kb.of_kind("product"):
            for form in entity.surface_forms:
                if " " not in form and form[-1:].isalnum() and not _CJK_RE.search(form):
                    cased = form in entity.cased_aliases or _is_abbreviation(form)
                    self._versioned.append((form, cased, entity.id))
        self._versioned.sort(key=lambda item: len(item[0]), reverse=True)
        alternatives = [
            re.escape(f) if cased else f"(?i:{re.escape(f)})" for f, cased, _ in self._versioned
        ]
        self._versioned_re = (
            re.compile(rf"(?<![\w.\-])(?:{'|'.join(alternatives)})(?=[-\d])[\w.\-]*\w")
            if alternatives
            else None
        )

        ordered = sorted(self._cjk_aliases, key=len, reverse=True)
        self._cjk_re = (
            re.compile("|".join(map(re.escape, ordered)), re.IGNORECASE) if ordered else None
        )

    def _ticker_variants(self, ticker: str) -> list[str]:
        if len(ticker) < 2 or ticker in self.kb.ambiguous_tickers:
            return []
        variants = [ticker]
        if ticker.endswith(".HK") and ticker[:-3].isdigit():
            # Hong Kong codes are written "700.HK", "0700.HK" and "00700.HK".
            code = int(ticker[:-3])
            variants += [f"{code}.HK", f"{code:05d}.HK"]
        elif ticker.endswith(".SS"):
            variants.append(ticker[:-3] + ".SH")
        return variants

    # ── component ──────────────────────────────────────────────────────────────────
    def __call__(self, doc: Doc) -> Doc:
        # Tickers of spans that name no entity (an unknown "$XYZ"); linked spans use the KB's.
        unknown_tickers: dict[tuple[int, int], list[str]] = {}
        seen: set[tuple[int, int]] = set()
        candidates: list[Span] = []

        def add(start: int, end: int, entity: Entity | None, tickers: Iterable[str] = ()) -> None:
            if (start, end) in seen:
                return
            seen.add((start, end))
            if entity is None:
                unknown_tickers[(start, end)] = list(tickers)
            label = LABEL_BY_KIND[entity.kind] if entity else "ORG"
            entity_id = entity.id if entity else ""
            candidates.append(
                Span(doc, start, end, label=label, kb_id=entity_id, span_id=entity_id)
            )

        # Order sets priority among equally long spans: notations, exact case, any case, Chinese.
        notations = [(doc.vocab.strings[m], s, e) for m, s, e in self.notation_matcher(doc)]
        if ":" in doc.text:
            for found in self._glued_re.finditer(doc.text):
                span = doc.char_span(found.start(), found.end())
                if span is not None and len(span) == 1:
                    notations.append((_EXCHANGE, span.start, span.end))
        for kind, start, end in notations:
            entity, tickers = self._resolve_notation(doc, kind, start, end)
            if entity is not None or tickers:
                add(start, end, entity, tickers)
        for matcher in (self.orth_matcher, self.lower_matcher):
            for match_id, start, end in matcher(doc):
                entity = self.kb[doc.vocab.strings[match_id]]
                if (entity.not_followed_by or entity.alias_contexts) and entity.rejects(
                    doc[start:end].text,
                    doc[start - 1].lower_ if start > 0 else None,
                    doc[end].lower_ if end < len(doc) else None,
                ):
                    continue  # "Treasury yields" is the bond market, "in Beijing" a place
                add(start, end, entity)
        if self._versioned_re is not None:
            for found in self._versioned_re.finditer(doc.text):
                # The tokenizer may split the version ("Llama-3.1", "-", "405B"): take the whole
                # tokens inside the match, provided the first one starts with the name.
                span = doc.char_span(found.start(), found.end(), alignment_mode="contract")
                if span is None or not len(span) or span.start_char != found.start():
                    continue
                end = span.end
                while end > span.start + 1 and doc[end - 1].is_punct:
                    end -= 1  # "Llama-3.1-405B." can end in a token the period is glued to
                add(span.start, end, self._versioned_product(found.group()))
        if self._cjk_re is not None and _CJK_RE.search(doc.text):
            for token in doc:
                found = _CJK_RE.search(token.text) and self._cjk_re.search(token.text)
                if found:
                    add(token.i, token.i + 1, self.kb[self._cjk_aliases[found.group().lower()]])

        kb_spans = filter_spans(self._with_corporate_suffix(doc, filter_spans(candidates)))
        statistical = [trimmed for ent in doc.ents if (trimmed := _trim(ent)) is not None]
        taken = bytearray(len(doc))
        if self.overwrite_ents:
            for span in kb_spans:
                taken[span.start : span.end] = b"\x01" * len(span)
            statistical = [ent for ent in statistical if not any(taken[ent.start : ent.end])]
        else:
            # The statistical labels win; a match with exactly the same bounds still links.
            by_bounds = {(ent.start, ent.end): ent for ent in statistical}
            for ent in statistical:
                taken[ent.start : ent.end] = b"\x01" * len(ent)
            kept = []
            for span in kb_spans:
                same = by_bounds.pop((span.start, span.end), None)
                if same is not None:
                    kept.append(
                        Span(
                            doc,
                            span.start,
                            span.end,
                            label=same.label_,
                            kb_id=span.kb_id_,
                            span_id=span.kb_id_,
                        )
                    )
                elif not any(taken[span.start : span.end]):
                    kept.append(span)
            kb_spans, statistical = kept, list(by_bounds.values())
        doc.ents = sorted([*statistical, *kb_spans], key=lambda span: span.start)

        mentions: list[Span] = []
        for span in kb_spans:
            entity = self.kb.get(span.kb_id_)
            tickers = entity.tickers if entity else unknown_tickers[(span.start, span.end)]
            _annotate(span, entity, tickers)
            mentions.append(span)
        for ent in statistical:
            if ent.label_ in STATISTICAL_MENTION_KINDS and _looks_like_name(ent):
                _annotate(ent, None, [], kind=STATISTICAL_MENTION_KINDS[ent.label_])
                mentions.append(ent)
        doc.spans[MENTIONS_KEY] = sorted(mentions, key=lambda span: (span.start, span.end))
        return doc

    # ── helpers ────────────────────────────────────────────────────────────────────
    def _resolve_notation(
        self, doc: Doc, kind: str, start: int, end: int
    ) -> tuple[Entity | None, list[str]]:
        if kind == _CASHTAG:
            if doc[start].whitespace_:
                return None, []  # "$ BABA" is not a cashtag
            symbol = doc[end - 1].text
            entity = self.kb.by_ticker(symbol)
            if entity is not None:
                return entity, list(entity.tickers)
            # Lower-case "$abc" that names no listing is more likely prose than a ticker.
            return (
                (None, [symbol.upper()]) if symbol.isupper() or symbol[0].isdigit() else (None, [])
            )
        if end - start == 1:
            exchange, _, symbol = doc[start].text.partition(":")
        else:
            exchange, symbol = doc[start : end - 2].text, doc[end - 1].text
        if self.kb.market_for_exchange(exchange) is None:
            return None, []
        ticker, entity = self.kb.resolve_exchange_symbol(exchange, symbol)
        return entity, list(entity.tickers) if entity is not None else [ticker]

    def _versioned_product(self, text: str) -> Entity:
        lowered = text.lower()
        for form, cased, entity_id in self._versioned:
            prefix = text if cased else lowered
            if prefix.startswith(form if cased else form.lower()):
                return self.kb[entity_id]
        raise AssertionError(f"no product alias starts {text!r}")  # the regex guarantees one

    def _with_corporate_suffix(self, doc: Doc, spans: list[Span]) -> list[Span]:
        """Extend company spans over "Inc.", "Ltd.", ", Inc." so the mention is the full name."""
        extended = []
        for span in spans:
            entity = self.kb.get(span.kb_id_)
            end = span.end
            if entity is not None and entity.kind == "company":
                while end < len(doc):
                    if _is_corporate_suffix(doc[end]):
                        end += 1
                    elif (
                        doc[end].text == ","
                        and end + 1 < len(doc)
                        and _is_corporate_suffix(doc[end + 1])
                    ):
                        end += 2
                    else:
                        break
            if end != span.end:
                span = Span(
                    doc, span.start, end, label=span.label_, kb_id=span.kb_id_, span_id=span.kb_id_
                )
            extended.append(span)
        return extended


def _is_corporate_suffix(token: Token) -> bool:
    # Capitalised only: "Alibaba Group" is a name, "Alibaba's technology unit" is not.
    return token.text[:1].isupper() and token.lower_ in CORPORATE_SUFFIXES


def _is_abbreviation(form: str) -> bool:
    """All-caps forms ("US", "SEC", "R1") are matched only as written: "us" and "sec" are words."""
    letters = [c for c in form if c.isalpha()]
    return bool(letters) and form.isupper() and " " not in form


def _written_variants(form: str, *, cased: bool) -> list[str]:
    """Spellings of one alias: both apostrophes, and for case-sensitive ones the headline caps."""
    variants = [form]
    if "'" in form or "\u2019" in form:
        variants += [form.replace("'", "\u2019"), form.replace("\u2019", "'")]
    if cased and form[:1].isupper() and not form.isupper():
        variants += [v.upper() for v in variants]
    return variants


def _looks_like_name(span: Span) -> bool:
    """Whether an unlinked statistical span is worth keeping as a mention.

    The small model also tags headline fragments ("Rally\n\nCutting-Edge Innovation"), bullets
    and lower-case phrases; a name starts with a capital or a digit and stays on one line.
    """
    text = span.text
    first = text[:1]
    if "\n" in text or not (first.isupper() or first.isdigit()):
        return False
    return text.casefold() not in NOT_NAMES


def _trim(ent: Span) -> Span | None:
    """Drop a leading "the" and a trailing possessive from a statistical span."""
    start, end = ent.start, ent.end
    doc = ent.doc
    while start < end and doc[start].lower_ in _LEADING_DETERMINERS:
        start += 1
    while end > start and doc[end - 1].lower_ in _POSSESSIVE_TOKENS:
        end -= 1
    if start == end:
        return None
    if (start, end) == (ent.start, ent.end):
        return ent
    return Span(doc, start, end, label=ent.label_, kb_id=ent.kb_id_)


def _annotate(
    span: Span, entity: Entity | None, tickers: Iterable[str], kind: str | None = None
) -> None:
    span._.entity_id = entity.id if entity else None
    span._.entity_kind = entity.kind if entity else kind
    span._.entity_name = entity.name if entity else None
    span._.tickers = list(tickers)


def entity_rows(doc: Doc) -> list[dict[str, Any]]:
    """Rows of the entities table (DESIGN.md) for one processed doc, without ``sentiment``.

    ``sent_idx`` is the position of the mention's sentence in ``doc.sents`` (0 when the pipeline
    sets no sentence boundaries); offsets are characters in ``doc.text``.
    """
    mentions = doc._.entity_mentions
    if not mentions:
        return []
    starts = sentence_starts(doc).tolist()
    article_id = doc._.article_id
    rows = []
    for span in mentions:
        rows.append(
            {
                "article_id": article_id,
                "sent_idx": bisect_right(starts, span.start) - 1,
                "start_char": span.start_char,
                "end_char": span.end_char,
                "text": span.text,
                "entity_id": span._.entity_id,
                "name": span._.entity_name,
                "kind": span._.entity_kind,
                "tickers": list(span._.tickers or []),
            }
        )
    return rows
