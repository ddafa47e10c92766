"""Knowledge base: companies, funds, indexes, agencies, people, places and products.

The YAML files under ``models/kb/`` (schema in ``models/kb/README.md``) are parsed and validated
once per process by :func:`load_kb`. Lookups go by id, ticker and alias; fund and index
``holdings`` tie a company to the instruments that move with it, so news about Tencent reaches
CQQQ, KWEB and ^HSI.

Bad data stops the load with one :class:`KnowledgeBaseError` line naming the file, the entity and
the fix — never a traceback from deep inside the pipeline.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "KINDS",
    "AliasContext",
    "Entity",
    "KnowledgeBase",
    "KnowledgeBaseError",
    "Market",
    "alias_key",
    "benchmark_for",
    "default_kb_path",
    "load_kb",
    "market_for",
    "normalize_ticker",
]

KINDS = ("company", "fund", "index", "person", "agency", "country", "product")
HOLDING_KINDS = ("fund", "index")
AFFILIATED_KINDS = ("person", "product")

_ENTITY_FIELDS = {
    "id",
    "name",
    "kind",
    "country",
    "sector",
    "aliases",
    "cased_aliases",
    "tickers",
    "market",
    "benchmark",
    "holdings",
    "tracks",
    "affiliation",
    "not_followed_by",
    "note",
}
_FILE_KEYS = {"entities", "markets", "alias_preferences", "ambiguous_tickers", "unsuffixed_market"}
_MARKET_FIELDS = {"name", "suffix", "calendar", "timezone", "benchmark", "exchange_codes"}

_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
# Yahoo-style symbols: BABA, GOOGL, BRK-B, 0700.HK, 002594.SZ, ^HSI, HSTECH.HK.
_TICKER_RE = re.compile(r"^\^?[A-Z0-9][A-Z0-9\-]{0,11}(\.[A-Z]{1,2})?$")
_HK_CODE_RE = re.compile(r"^(\d{1,5})\.HK$")
_POSSESSIVE_RE = re.compile(r"(?:'s|')$")
# libyaml's safe loader parses the knowledge base about ten times faster than the pure-Python one.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class KnowledgeBaseError(ValueError):
    """The knowledge base cannot be loaded; the message is one line naming file, entity and fix."""


@dataclass(frozen=True)
class Market:
    """A trading venue (ISO 10383 MIC) and the conventions tied to it."""

    code: str
    name: str
    suffix: str | None
    calendar: str
    timezone: str
    benchmark: str | None
    exchange_codes: tuple[str, ...]


@dataclass(frozen=True)
class AliasContext:
    """Neighbouring words that cancel one alias: "Beijing" after "in" is the city, not the state."""

    text: str
    not_preceded_by: frozenset[str] = frozenset()
    not_followed_by: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Entity:
    """One canonical thing the news can talk about."""

    id: str
    name: str
    kind: str
    country: str | None = None
    sector: str | None = None
    aliases: tuple[str, ...] = ()
    cased_aliases: tuple[str, ...] = ()
    tickers: tuple[str, ...] = ()
    market: str | None = None
    benchmark: str | None = None
    holdings: tuple[str, ...] = ()
    tracks: str | None = None
    affiliation: str | None = None
    not_followed_by: frozenset[str] = frozenset()
    alias_contexts: tuple[AliasContext, ...] = ()
    note: str | None = None
    source: str = ""

    @property
    def listed(self) -> bool:
        return bool(self.tickers)

    def rejects(self, text: str, previous_word: str | None, next_word: str | None) -> bool:
        """Whether the words around a match of this entity say it is something else.

        ``previous_word`` and ``next_word`` are the lower-case neighbouring tokens (None at the
        edges): "Treasury" before "yields" is the bond market; "Beijing" after "in" is a place.
        """
        if next_word is not None and next_word in self.not_followed_by:
            return True
        key = alias_key(text)
        for context in self.alias_contexts:
            if alias_key(context.text) == key:
                return (previous_word is not None and previous_word in context.not_preceded_by) or (
                    next_word is not None and next_word in context.not_followed_by
                )
        return False

    @property
    def surface_forms(self) -> tuple[str, ...]:
        """The name and every alias, in file order, without duplicates."""
        return tuple(dict.fromkeys((self.name, *self.aliases, *self.cased_aliases)))


def alias_key(text: str) -> str:
    """Normalise a surface form for case-insensitive comparison ("Tencent’s " → "tencent's")."""
    text = unicodedata.normalize("NFKC", text).replace("\u2019", "'").replace("\u2018", "'")
    return " ".join(text.split()).casefold()


def normalize_ticker(text: str) -> str:
    """Canonical Yahoo-style form of a ticker as written in news.

    "$baba" → "BABA", "700.HK" → "0700.HK" (Hong Kong codes have four digits), "600519.SH" →
    "600519.SS". The result is not checked against the knowledge base.
    """
    ticker = text.strip().lstrip("$").upper()
    if ticker.endswith(".SH"):
        ticker = ticker[:-3] + ".SS"
    hk = _HK_CODE_RE.match(ticker)
    if hk:
        ticker = f"{int(hk.group(1)):04d}.HK"
    return ticker


def default_kb_path() -> Path:
    """The bundled knowledge base: the ``kb`` folder of the ``models`` package."""
    import models

    return Path(models.__file__).resolve().parent / "kb"


class KnowledgeBase:
    """Validated entities with lookups by id, ticker and alias. Build it with :func:`load_kb`."""

    def __init__(
        self,
        entities: Iterable[Entity],
        markets: Mapping[str, Market],
        *,
        unsuffixed_market: str = "XNYS",
        ambiguous_tickers: Iterable[str] = (),
        alias_preferences: Mapping[str, str] | None = None,
    ) -> None:
        self._entities: dict[str, Entity] = {}
        for entity in entities:
            if entity.id in self._entities:
                first = self._entities[entity.id].source
                _fail(
                    entity.source, entity.id, f"duplicate id (first defined in {first}); rename one"
                )
            self._entities[entity.id] = entity
        self.markets: dict[str, Market] = dict(markets)
        self.unsuffixed_market = unsuffixed_market
        self.ambiguous_tickers = frozenset(ambiguous_tickers)
        self._suffix_market = {m.suffix: m.code for m in self.markets.values() if m.suffix}
        self._exchange_market = {
            alias_key(code): m.code for m in self.markets.values() for code in m.exchange_codes
        }
        self._by_ticker: dict[str, str] = {}
        self._alias_claims: dict[str, list[str]] = {}
        self._by_alias: dict[str, str] = {}
        self._validate_fields()
        self._index_tickers()
        self._index_aliases(alias_preferences or {})
        self._validate_references()
        self._holders = self._index_holders()
        self._governments: dict[str, str] | None = None  # built on first use (governments())

    # ── construction ───────────────────────────────────────────────────────────────
    def _validate_fields(self) -> None:
        for e in self._entities.values():
            if e.tickers and e.market is None:
                _fail(
                    e.source,
                    e.id,
                    "has tickers but no market; add `market:` (e.g. XNYS, XNAS, XHKG)",
                )
            if e.market is not None and e.market not in self.markets:
                _fail(
                    e.source,
                    e.id,
                    f"unknown market {e.market!r}; use one of {sorted(self.markets)}",
                )
            if e.tickers:
                primary = self._suffix_market_of(e.tickers[0])
                if primary is not None and primary != e.market:
                    _fail(
                        e.source,
                        e.id,
                        f"market {e.market} does not match its first ticker "
                        f"{e.tickers[0]} ({primary}); list the primary listing first",
                    )
            if (e.holdings or e.tracks) and e.kind not in HOLDING_KINDS:
                _fail(e.source, e.id, f"a {e.kind} has no holdings; only funds and indexes do")
            if e.affiliation and e.kind not in AFFILIATED_KINDS:
                _fail(e.source, e.id, f"a {e.kind} has no affiliation; only people and products do")
            if e.benchmark and not e.tickers:
                _fail(e.source, e.id, "has a benchmark but no tickers; remove `benchmark:`")

    def _index_tickers(self) -> None:
        for e in self._entities.values():
            for ticker in e.tickers:
                if not _TICKER_RE.match(ticker) or normalize_ticker(ticker) != ticker:
                    _fail(
                        e.source,
                        e.id,
                        f"ticker {ticker!r} is not in canonical form "
                        f"(write it as {normalize_ticker(ticker)!r}, Yahoo style)",
                    )
                owner = self._by_ticker.get(ticker)
                if owner is not None and owner != e.id:
                    _fail(
                        e.source,
                        e.id,
                        f"ticker {ticker} is also listed by {owner!r}; a ticker names one entity",
                    )
                self._by_ticker[ticker] = e.id

    def _index_aliases(self, preferences: Mapping[str, str]) -> None:
        for e in self._entities.values():
            for form in e.surface_forms:
                claims = self._alias_claims.setdefault(alias_key(form), [])
                if e.id not in claims:
                    claims.append(e.id)
                # An upper-case alias that is another entity's ticker: "$X" and "X" would disagree.
                owner = self._by_ticker.get(form)
                if form.isupper() and owner is not None and owner != e.id:
                    _fail(
                        e.source,
                        e.id,
                        f"alias {form!r} is the ticker of {owner!r}; remove the alias",
                    )
        prefs = {alias_key(k): v for k, v in preferences.items()}
        for key, claimants in self._alias_claims.items():
            if len(claimants) == 1:
                self._by_alias[key] = claimants[0]
                continue
            winner = prefs.get(key)
            if winner is None:
                entity = self._entities[claimants[1]]
                other = self._entities[claimants[0]]
                _fail(
                    entity.source,
                    entity.id,
                    f"alias {key!r} is also claimed by {other.id!r} ({other.source}); remove it "
                    f"from one, or add `{key}: <id>` under alias_preferences in markets.yaml",
                )
            if winner not in claimants:
                _fail(
                    "alias_preferences",
                    winner,
                    f"is preferred for alias {key!r} but does not claim it ({claimants} do)",
                )
            self._by_alias[key] = winner
        for key, winner in prefs.items():
            if len(self._alias_claims.get(key, ())) < 2:
                _fail(
                    "alias_preferences",
                    winner,
                    f"alias {key!r} is not claimed by two entities; remove the preference",
                )

    def _validate_references(self) -> None:
        for e in self._entities.values():
            for held in e.holdings:
                if held not in self._entities:
                    _fail(
                        e.source,
                        e.id,
                        f"holdings names unknown entity {held!r}; fix the id or add that entity",
                    )
                if held == e.id:
                    _fail(e.source, e.id, "holds itself; remove it from holdings")
            if len(set(e.holdings)) != len(e.holdings):
                _fail(e.source, e.id, "lists a holding twice; remove the duplicate")
            if e.tracks is not None:
                tracked = self._entities.get(e.tracks)
                if tracked is None or tracked.kind != "index":
                    _fail(
                        e.source,
                        e.id,
                        f"tracks {e.tracks!r}, which is not an index in the "
                        "knowledge base; fix the id or add the index",
                    )
            if e.affiliation is not None:
                target = self._entities.get(e.affiliation)
                if target is None:
                    _fail(
                        e.source,
                        e.id,
                        f"affiliation names unknown entity {e.affiliation!r}; "
                        "fix the id or add that entity",
                    )
                if target.kind in AFFILIATED_KINDS:
                    _fail(
                        e.source,
                        e.id,
                        f"affiliation {e.affiliation!r} is a {target.kind}; "
                        "point it at the company or body behind it",
                    )
            if e.benchmark is not None and e.benchmark not in self._by_ticker:
                _fail(
                    e.source,
                    e.id,
                    f"benchmark {e.benchmark!r} is not a ticker in the knowledge "
                    "base; add the benchmark's entity or pick another",
                )
        for m in self.markets.values():
            if m.benchmark is not None and m.benchmark not in self._by_ticker:
                _fail(
                    "markets",
                    m.code,
                    f"benchmark {m.benchmark!r} is not a ticker in the "
                    "knowledge base; add its entity or set it to null",
                )
        if self.unsuffixed_market not in self.markets:
            _fail("markets", self.unsuffixed_market, "unsuffixed_market is not a known market")

    def _index_holders(self) -> dict[str, list[str]]:
        holders: dict[str, list[str]] = {}
        for e in self._entities.values():
            for held in self.holdings_of(e.id):
                holders.setdefault(held, []).append(e.id)
        return holders

    # ── lookups ────────────────────────────────────────────────────────────────────
    def __len__(self) -> int:
        return len(self._entities)

    def __iter__(self) -> Iterator[Entity]:
        return iter(self._entities.values())

    def __contains__(self, entity_id: object) -> bool:
        return entity_id in self._entities

    def __getitem__(self, entity_id: str) -> Entity:
        return self._entities[entity_id]

    def get(self, entity_id: str | None) -> Entity | None:
        """The entity with this id, or None."""
        return self._entities.get(entity_id) if entity_id else None

    def by_ticker(self, ticker: str) -> Entity | None:
        """The entity listed under this ticker ("$baba", "700.HK" and "BABA" all work), or None."""
        return self.get(self._by_ticker.get(normalize_ticker(ticker)))

    def by_alias(self, text: str) -> Entity | None:
        """The entity a surface form names, case-insensitively; possessives are ignored."""
        key = alias_key(text)
        entity_id = self._by_alias.get(key) or self._by_alias.get(
            _POSSESSIVE_RE.sub("", key).strip()
        )
        return self.get(entity_id)

    def candidates(self, text: str) -> list[Entity]:
        """Every entity that claims this surface form (more than one only for preferred aliases)."""
        return [self._entities[i] for i in self._alias_claims.get(alias_key(text), ())]

    def governments(self) -> dict[str, str]:
        """Entity id -> country code of the state it acts for: countries, agencies, and people
        affiliated with an agency ("xi_jinping" -> CN through the CCP; "jack_ma", affiliated
        with Alibaba, acts for no state)."""
        if self._governments is not None:
            return self._governments
        acting = {}
        for e in self:
            agency = self.get(e.affiliation) if e.kind == "person" else None
            if e.country and (e.kind in ("country", "agency") or (agency is not None and agency.kind == "agency")):
                acting[e.id] = e.country
        self._governments = acting
        return acting

    def acting_country(self, entity_ids: Iterable[str]) -> str | None:
        """The one state whose officials or agencies act in a story ("Trump pauses tariffs for
        all but China": US, not the China it names), else the one country it names; None when
        the actors, or the countries, belong to more than one state, or there are none."""
        governments = self.governments()
        ids = [i for i in entity_ids if i in governments]
        actors = {governments[i] for i in ids if self[i].kind != "country"}
        states = actors or {governments[i] for i in ids}
        return next(iter(states)) if len(states) == 1 else None

    def of_kind(self, kind: str) -> list[Entity]:
        return [e for e in self._entities.values() if e.kind == kind]

    def holdings_of(self, entity_id: str) -> tuple[str, ...]:
        """Constituent ids of a fund or index: its own list, else the index it tracks."""
        e = self._entities.get(entity_id)
        if e is None:
            return ()
        if e.holdings:
            return e.holdings
        if e.tracks is not None:
            return self._entities[e.tracks].holdings
        return ()

    def funds_holding(self, entity_id: str) -> list[Entity]:
        """Funds whose main holdings include the entity (directly or through a tracked index)."""
        return [
            self._entities[i]
            for i in self._holders.get(entity_id, ())
            if self._entities[i].kind == "fund"
        ]

    def indexes_holding(self, entity_id: str) -> list[Entity]:
        """Indexes and baskets whose main constituents include the entity."""
        return [
            self._entities[i]
            for i in self._holders.get(entity_id, ())
            if self._entities[i].kind == "index"
        ]

    def related_tickers(self, entity_id: str) -> list[str]:
        """The entity's own tickers, then those of the funds and indexes that hold it.

        A person or product has no tickers of its own: it reaches those of its affiliation
        (Jack Ma → BABA, 9988.HK, then CQQQ, KWEB...).
        """
        e = self._entities.get(entity_id)
        if e is None:
            return []
        if e.kind in AFFILIATED_KINDS:
            return self.related_tickers(e.affiliation) if e.affiliation else []
        related = list(e.tickers)
        for holder in (*self.funds_holding(entity_id), *self.indexes_holding(entity_id)):
            related.extend(holder.tickers)
        return list(dict.fromkeys(related))

    def market_for(self, ticker: str) -> str | None:
        """MIC code of the market a ticker trades on, or None when it cannot be told.

        A suffix names the market (".HK" → XHKG). A ticker without one is the entity's primary
        listing on its ``market``, or else a US over-the-counter ADR (``unsuffixed_market``).
        """
        ticker = normalize_ticker(ticker)
        by_suffix = self._suffix_market_of(ticker)
        if by_suffix is not None:
            return by_suffix
        e = self.by_ticker(ticker)
        if e is None:
            return None
        if ticker == e.tickers[0] or self.markets[e.market].suffix is None:
            return e.market
        return self.unsuffixed_market

    def calendar_for(self, ticker: str) -> str | None:
        """The exchange_calendars name of the ticker's trading calendar, or None."""
        market = self.market_for(ticker)
        return self.markets[market].calendar if market else None

    def benchmark_for(self, ticker: str) -> str | None:
        """Default benchmark ticker for abnormal returns, or None (the ticker is its own market).

        The entity's ``benchmark`` applies to its listings on its own ``market``; other listings use
        their market's default (a Hong Kong line of a US-listed ADR is measured against ^HSI).
        """
        ticker = normalize_ticker(ticker)
        market = self.market_for(ticker)
        if market is None:
            return None
        e = self.by_ticker(ticker)
        if e is not None and e.benchmark is not None and market == e.market:
            benchmark = e.benchmark
        else:
            benchmark = self.markets[market].benchmark
        return None if benchmark == ticker else benchmark

    def market_for_exchange(self, exchange_code: str) -> str | None:
        """MIC code for an exchange as newswires name it ("NYSE Arca" → XNYS, "HKEX" → XHKG)."""
        return self._exchange_market.get(alias_key(exchange_code))

    def resolve_exchange_symbol(self, exchange_code: str, symbol: str) -> tuple[str, Entity | None]:
        """Resolve an exchange notation ("HKEX: 9988", "HEL: RTRKS") to (ticker, entity or None).

        Known listings resolve to the knowledge-base ticker. An unknown symbol comes back as
        written, except a bare number, which gets its market suffix because a number alone names
        nothing ("HKEX: 1234" → "1234.HK").
        """
        symbol = symbol.strip().upper()
        market = self.market_for_exchange(exchange_code)
        suffix = self.markets[market].suffix if market else None
        candidates = [normalize_ticker(symbol + suffix), symbol] if suffix else [symbol]
        for ticker in candidates:
            e = self.by_ticker(ticker)
            if e is not None:
                return normalize_ticker(ticker), e
        if suffix and symbol.isdigit():
            return normalize_ticker(symbol + suffix), None
        return symbol, None

    def _suffix_market_of(self, ticker: str) -> str | None:
        if "." not in ticker:
            return None
        return self._suffix_market.get(ticker[ticker.rindex(".") :])


# ── loading ───────────────────────────────────────────────────────────────────────
def load_kb(path: str | Path | None = None) -> KnowledgeBase:
    """Load and validate the knowledge base at ``path`` (a folder of YAML files or one file).

    ``None`` means the bundled ``models/kb``. Results are cached per resolved path, so the YAML is
    parsed once per process however many components ask for it.
    """
    resolved = Path(path).expanduser().resolve() if path is not None else default_kb_path()
    return _load_cached(str(resolved))


@functools.lru_cache(maxsize=8)
def _load_cached(path: str) -> KnowledgeBase:
    return _load(Path(path))


def _load(path: Path) -> KnowledgeBase:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
        if not files:
            raise KnowledgeBaseError(f"{path}: no .yaml files in the knowledge-base folder")
    elif path.is_file():
        files = [path]
    else:
        raise KnowledgeBaseError(f"{path}: knowledge base not found; pass a folder of YAML files")

    entities: list[Entity] = []
    markets: dict[str, Market] = {}
    preferences: dict[str, str] = {}
    ambiguous: list[str] = []
    unsuffixed = "XNYS"
    for file in files:
        data = _read_yaml(file)
        unknown = set(data) - _FILE_KEYS
        if unknown:
            raise KnowledgeBaseError(
                f"{file}: unknown top-level key(s) {sorted(unknown)}; "
                f"allowed are {sorted(_FILE_KEYS)}"
            )
        for i, raw in enumerate(_as_list(data.get("entities"), file, "entities")):
            entities.append(_parse_entity(raw, file, i))
        for code, raw in _as_mapping(data.get("markets"), file, "markets").items():
            markets[code] = _parse_market(code, raw, file)
        for alias, winner in _as_mapping(
            data.get("alias_preferences"), file, "alias_preferences"
        ).items():
            preferences[str(alias)] = str(winner)
        ambiguous.extend(_str_list(data.get("ambiguous_tickers"), file, "ambiguous_tickers", None))
        if "unsuffixed_market" in data:
            unsuffixed = str(data["unsuffixed_market"])
    if not markets:
        markets = _FALLBACK_MARKETS
    return KnowledgeBase(
        entities,
        markets,
        unsuffixed_market=unsuffixed,
        ambiguous_tickers=ambiguous,
        alias_preferences=preferences,
    )


def _read_yaml(file: Path) -> dict[str, Any]:
    try:
        data = yaml.load(file.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise KnowledgeBaseError(f"{file}:{where} not valid YAML ({reason})") from None
    except OSError as exc:
        raise KnowledgeBaseError(f"{file}: cannot read ({exc.strerror})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise KnowledgeBaseError(f"{file}: expected a mapping with an `entities:` list at the top")
    return data


def _parse_entity(raw: Any, file: Path, index: int) -> Entity:
    if not isinstance(raw, dict):
        raise KnowledgeBaseError(f"{file}: entity #{index + 1} is not a mapping of fields")
    entity_id = raw.get("id")
    label = entity_id if isinstance(entity_id, str) else f"#{index + 1}"
    if not isinstance(entity_id, str) or not _ID_RE.match(entity_id):
        _fail(file, label, "needs an `id` in lowercase snake case (e.g. alibaba, jd_com)")
    unknown = set(raw) - _ENTITY_FIELDS
    if unknown:
        _fail(
            file,
            entity_id,
            f"unknown field(s) {sorted(unknown)}; allowed are {sorted(_ENTITY_FIELDS)}",
        )
    kind = raw.get("kind")
    if kind not in KINDS:
        _fail(file, entity_id, f"kind {kind!r} is not one of {list(KINDS)}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        _fail(file, entity_id, "needs a `name`")

    def opt_str(field: str) -> str | None:
        value = raw.get(field)
        if value is not None and not isinstance(value, str):
            _fail(file, entity_id, f"`{field}` must be a string, got {value!r} (quote it in YAML)")
        return value

    def str_tuple(field: str) -> tuple[str, ...]:
        return tuple(_str_list(raw.get(field), file, field, entity_id))

    def words(value: Any, field: str) -> frozenset[str]:
        return frozenset(w.lower() for w in _str_list(value, file, field, entity_id))

    contexts: list[AliasContext] = []

    def alias_list(field: str) -> tuple[str, ...]:
        """Aliases as plain text, or as {text, not_preceded_by, not_followed_by} mappings."""
        value = raw.get(field)
        if not isinstance(value, list):
            return str_tuple(field)
        texts = []
        for item in value:
            if isinstance(item, dict):
                unknown_keys = set(item) - {"text", "not_preceded_by", "not_followed_by"}
                if unknown_keys or not isinstance(item.get("text"), str):
                    _fail(
                        file,
                        entity_id,
                        f"`{field}` entry {item!r} needs `text` and may have only "
                        "`not_preceded_by` and `not_followed_by`",
                    )
                contexts.append(
                    AliasContext(
                        item["text"].strip(),
                        words(item.get("not_preceded_by"), f"{field}.not_preceded_by"),
                        words(item.get("not_followed_by"), f"{field}.not_followed_by"),
                    )
                )
                texts.append(item["text"].strip())
            else:
                texts.extend(_str_list([item], file, field, entity_id))
        return tuple(texts)

    return Entity(
        id=entity_id,
        name=name.strip(),
        kind=kind,
        country=opt_str("country"),
        sector=opt_str("sector"),
        aliases=alias_list("aliases"),
        cased_aliases=alias_list("cased_aliases"),
        tickers=str_tuple("tickers"),
        market=opt_str("market"),
        benchmark=opt_str("benchmark"),
        holdings=str_tuple("holdings"),
        tracks=opt_str("tracks"),
        affiliation=opt_str("affiliation"),
        not_followed_by=words(raw.get("not_followed_by"), "not_followed_by"),
        alias_contexts=tuple(contexts),
        note=opt_str("note"),
        source=str(file),
    )


def _parse_market(code: str, raw: Any, file: Path) -> Market:
    if not isinstance(raw, dict):
        _fail(file, code, "market entry must be a mapping of fields")
    unknown = set(raw) - _MARKET_FIELDS
    if unknown:
        _fail(
            file,
            code,
            f"unknown market field(s) {sorted(unknown)}; allowed are {sorted(_MARKET_FIELDS)}",
        )
    for field in ("name", "calendar", "timezone"):
        if not isinstance(raw.get(field), str):
            _fail(file, code, f"market needs a string `{field}`")
    return Market(
        code=code,
        name=raw["name"],
        suffix=raw.get("suffix"),
        calendar=raw["calendar"],
        timezone=raw["timezone"],
        benchmark=raw.get("benchmark"),
        exchange_codes=tuple(_str_list(raw.get("exchange_codes"), file, "exchange_codes", code)),
    )


def _as_list(value: Any, file: Path, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise KnowledgeBaseError(f"{file}: `{field}` must be a list")
    return value


def _as_mapping(value: Any, file: Path, field: str) -> dict[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise KnowledgeBaseError(f"{file}: `{field}` must be a mapping")
    return value


def _str_list(value: Any, file: Path | str, field: str, owner: str | None) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        _fail(file, owner, f"`{field}` must be a list")
    for item in value:
        if not isinstance(item, str) or not item.strip():
            _fail(file, owner, f"`{field}` has a non-text item {item!r} (quote it in YAML)")
    return [item.strip() for item in value]


def _fail(file: Path | str, entity_id: str | None, reason: str) -> None:
    where = f"{file}: entity {entity_id!r}" if entity_id is not None else str(file)
    raise KnowledgeBaseError(f"{where}: {reason}")


# Used when a custom knowledge base ships no markets.yaml: the US venues only.
_FALLBACK_MARKETS = {
    "XNYS": Market(
        "XNYS",
        "New York Stock Exchange",
        None,
        "XNYS",
        "America/New_York",
        None,
        ("NYSE", "NYSE Arca", "NYSEARCA", "OTC", "OTCMKTS"),
    ),
    "XNAS": Market("XNAS", "Nasdaq", None, "XNAS", "America/New_York", None, ("NASDAQ",)),
}


# ── module-level conveniences on the bundled knowledge base ───────────────────────
def market_for(ticker: str) -> str | None:
    """MIC code of a ticker's market in the bundled knowledge base (KnowledgeBase.market_for)."""
    return load_kb().market_for(ticker)


def benchmark_for(ticker: str) -> str | None:
    """Default benchmark of a ticker in the bundled knowledge base (KnowledgeBase.benchmark_for)."""
    return load_kb().benchmark_for(ticker)
