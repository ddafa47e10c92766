"""The knowledge base: bundled content, lookups, and one-line errors on bad data."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlp.kb import KINDS, KnowledgeBaseError, load_kb, normalize_ticker

# Tickers of the price files the demo and the attribution stage read (../shared/data/prices).
PRICED_TICKERS = [
    "CQQQ",
    "QQQM",
    "QQQ",
    "KWEB",
    "FXI",
    "MCHI",
    "ASHR",
    "SPY",
    "BABA",
    "BIDU",
    "TCEHY",
    "NVDA",
    "JD",
    "PDD",
    "NTES",
    "BYDDY",
    "TSLA",
    "1810.HK",
    "SMH",
    "^HSI",
    "^NDX",
]

MARKETS_YAML = """
markets:
  XNYS: {name: NYSE, suffix: null, calendar: XNYS, timezone: America/New_York, benchmark: null,
         exchange_codes: [NYSE]}
"""


@pytest.fixture(scope="module")
def kb():
    return load_kb()


def write_kb(folder: Path, entities_yaml: str, extra: str = "") -> Path:
    (folder / "markets.yaml").write_text(MARKETS_YAML + extra, encoding="utf-8")
    (folder / "entities.yaml").write_text("entities:\n" + entities_yaml, encoding="utf-8")
    return folder


def load_error(folder: Path) -> str:
    with pytest.raises(KnowledgeBaseError) as info:
        load_kb(folder)
    message = str(info.value)
    assert "\n" not in message
    return message


# ── bundled content ──────────────────────────────────────────────────────────────────
def test_bundled_kb_has_at_least_150_entities_of_every_kind(kb):
    assert len(kb) >= 150
    assert {e.kind for e in kb} == set(KINDS)


def test_every_priced_ticker_resolves_to_an_entity(kb):
    missing = [t for t in PRICED_TICKERS if kb.by_ticker(t) is None]
    assert missing == []


def test_priced_tickers_link_to_the_expected_ids(kb):
    ids = {t: kb.by_ticker(t).id for t in ("BABA", "TCEHY", "1810.HK", "^HSI", "^NDX", "BYDDY")}
    assert ids == {
        "BABA": "alibaba",
        "TCEHY": "tencent",
        "1810.HK": "xiaomi",
        "^HSI": "hang_seng",
        "^NDX": "nasdaq_100",
        "BYDDY": "byd",
    }


def test_one_ticker_per_listing(kb):
    assert kb["alibaba"].tickers == ("BABA", "9988.HK")
    assert kb["tencent"].tickers == ("TCEHY", "0700.HK")
    assert kb["byd"].tickers == ("BYDDY", "1211.HK", "002594.SZ")


def test_private_companies_have_no_tickers(kb):
    for entity_id in ("huawei", "deepseek", "bytedance", "moonshot", "zhipu", "unitree", "openai"):
        assert kb[entity_id].kind == "company"
        assert kb[entity_id].tickers == ()


def test_every_fund_and_index_has_holdings(kb):
    empty = [e.id for e in kb if e.kind in ("fund", "index") and not kb.holdings_of(e.id)]
    assert empty == []


def test_every_listed_entity_has_a_market_and_its_tickers_one(kb):
    for entity in kb:
        for ticker in entity.tickers:
            assert kb.market_for(ticker) is not None, (entity.id, ticker)


# ── holdings and related tickers ─────────────────────────────────────────────────────
def test_holdings_tie_tencent_to_cqqq_and_kweb(kb):
    funds = {f.id for f in kb.funds_holding("tencent")}
    assert {"cqqq", "kweb"} <= funds


def test_fund_tracking_an_index_inherits_its_holdings(kb):
    assert kb["qqqm"].tracks == "nasdaq_100"
    assert "nvidia" in kb.holdings_of("qqqm")
    assert "qqqm" in {f.id for f in kb.funds_holding("nvidia")}


def test_related_tickers_are_own_tickers_first_then_funds_and_indexes(kb):
    related = kb.related_tickers("tencent")
    assert related[:2] == ["TCEHY", "0700.HK"]
    assert {"CQQQ", "KWEB", "^HSI"} <= set(related)
    assert len(related) == len(set(related))


def test_people_and_products_reach_the_tickers_of_their_affiliation(kb):
    assert kb["liang_wenfeng"].affiliation == "deepseek"
    assert kb["deepseek_r1"].affiliation == "deepseek"
    assert kb.related_tickers("jack_ma")[:2] == ["BABA", "9988.HK"]
    assert kb.related_tickers("deepseek_r1") == []  # DeepSeek is private


def test_unknown_entity_has_no_related_tickers(kb):
    assert kb.related_tickers("no_such_entity") == []
    assert kb.funds_holding("no_such_entity") == []


# ── lookups ──────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize(
    "written,entity_id",
    [
        ("BABA", "alibaba"),
        ("$baba", "alibaba"),
        ("9988.HK", "alibaba"),
        ("700.HK", "tencent"),
        ("00700.hk", "tencent"),
        ("600519.SH", "kweichow_moutai"),
        ("^hsi", "hang_seng"),
    ],
)
def test_by_ticker_accepts_the_ways_news_writes_tickers(kb, written, entity_id):
    assert kb.by_ticker(written).id == entity_id


def test_normalize_ticker_pads_hong_kong_codes():
    assert normalize_ticker("$700.hk") == "0700.HK"
    assert normalize_ticker("09988.HK") == "9988.HK"


@pytest.mark.parametrize(
    "alias,entity_id",
    [
        ("alibaba", "alibaba"),
        ("Tencent’s", "tencent"),
        ("Alibaba's", "alibaba"),
        ("阿里巴巴", "alibaba"),
        ("腾讯", "tencent"),
        ("深度求索", "deepseek"),
        ("Pinduoduo", "pdd"),
        ("Temu", "pdd"),
        ("KraneShares CSI China Internet ETF", "kweb"),
        ("Federal Reserve", "federal_reserve"),
        ("People’s Bank of China", "pboc"),
        ("Lan Fo’an", "lan_foan"),
    ],
)
def test_by_alias_is_case_and_apostrophe_insensitive(kb, alias, entity_id):
    assert kb.by_alias(alias).id == entity_id


def test_alias_context_rejects_a_match_by_its_neighbours(kb):
    china = kb["china"]
    assert china.rejects("Beijing", "in", "on")
    assert not china.rejects("Beijing", None, "'s")
    assert not china.rejects("China", "in", None)
    assert kb["us_treasury"].rejects("Treasury", "10-year", "yields")


def test_alias_preference_decides_a_shared_alias(kb):
    assert {e.id for e in kb.candidates("BIS")} == {"bis", "bank_for_international_settlements"}
    assert kb.by_alias("BIS").id == "bis"


def test_unknown_lookups_return_none(kb):
    assert kb.get("nope") is None
    assert kb.by_ticker("ZZZZZ") is None
    assert kb.by_alias("Zorblatt Industries") is None


# ── markets and benchmarks ───────────────────────────────────────────────────────────
@pytest.mark.parametrize(
    "ticker,market,benchmark",
    [
        ("BABA", "XNYS", "QQQM"),  # Chinese tech ADR → Nasdaq-100 fund
        ("9988.HK", "XHKG", "^HSI"),  # its Hong Kong line → the market's default
        ("CQQQ", "XNYS", "QQQM"),  # China-tech ETF
        ("NVDA", "XNAS", "SPY"),  # US tech → market default
        ("TCEHY", "XNYS", "QQQM"),  # OTC ADR on the New York calendar
        ("XIACY", "XNYS", "SPY"),  # secondary OTC line of a Hong Kong company
        ("1810.HK", "XHKG", "^HSI"),
        ("002594.SZ", "XSHE", "000300.SS"),
        ("SPY", "XNYS", None),  # the benchmark itself
        ("^HSI", "XHKG", None),
    ],
)
def test_market_and_benchmark_of_a_ticker(kb, ticker, market, benchmark):
    assert kb.market_for(ticker) == market
    assert kb.benchmark_for(ticker) == benchmark


def test_shenzhen_uses_the_shanghai_trading_calendar(kb):
    assert kb.calendar_for("002594.SZ") == "XSHG"


def test_unknown_ticker_market_comes_from_its_suffix_only(kb):
    assert kb.market_for("1234.HK") == "XHKG"
    assert kb.benchmark_for("1234.HK") == "^HSI"
    assert kb.market_for("ZZZZZ") is None
    assert kb.benchmark_for("ZZZZZ") is None


@pytest.mark.parametrize(
    "exchange,symbol,ticker,entity_id",
    [
        ("NASDAQ", "GOOG", "GOOG", "alphabet"),
        ("NYSE", "BABA", "BABA", "alibaba"),
        ("HKEX", "9988", "9988.HK", "alibaba"),
        ("HKEX", "700", "0700.HK", "tencent"),
        ("NYSE Arca", "CQQQ", "CQQQ", "cqqq"),
        ("HEL", "RTRKS", "RTRKS", None),
        ("HKEX", "1234", "1234.HK", None),
    ],
)
def test_exchange_notation_resolves_to_a_ticker(kb, exchange, symbol, ticker, entity_id):
    resolved, entity = kb.resolve_exchange_symbol(exchange, symbol)
    assert resolved == ticker
    assert (entity.id if entity else None) == entity_id


def test_kb_is_parsed_once_per_process():
    assert load_kb() is load_kb()


# ── validation ───────────────────────────────────────────────────────────────────────
def test_duplicate_id_names_both_files(tmp_path):
    write_kb(tmp_path, "  - {id: acme, name: Acme, kind: company}\n")
    (tmp_path / "more.yaml").write_text("entities:\n  - {id: acme, name: Acme 2, kind: company}\n")
    message = load_error(tmp_path)
    assert "more.yaml" in message and "'acme'" in message and "duplicate id" in message
    assert "entities.yaml" in message


def test_unknown_holding_id_is_an_error_naming_the_fund(tmp_path):
    write_kb(
        tmp_path,
        "  - {id: acme, name: Acme, kind: company}\n"
        "  - {id: fund_a, name: Fund A, kind: fund, holdings: [acme, tencnet]}\n",
    )
    message = load_error(tmp_path)
    assert "entities.yaml" in message and "'fund_a'" in message and "'tencnet'" in message


def test_alias_claimed_by_two_entities_needs_a_preference(tmp_path):
    entities = (
        "  - {id: acme, name: Acme, kind: company, aliases: [Roadrunner]}\n"
        "  - {id: acme_labs, name: Acme Labs, kind: company, aliases: [roadrunner]}\n"
    )
    write_kb(tmp_path, entities)
    message = load_error(tmp_path)
    assert "'acme_labs'" in message and "roadrunner" in message and "alias_preferences" in message

    write_kb(tmp_path, entities, extra="alias_preferences:\n  Roadrunner: acme_labs\n")
    kb = load_kb(tmp_path)
    assert kb.by_alias("ROADRUNNER").id == "acme_labs"


def test_ticker_listed_by_two_entities_is_an_error(tmp_path):
    write_kb(
        tmp_path,
        "  - {id: acme, name: Acme, kind: company, tickers: [ACME], market: XNYS}\n"
        "  - {id: acme2, name: Acme 2, kind: company, tickers: [ACME], market: XNYS}\n",
    )
    assert "ticker ACME is also listed by 'acme'" in load_error(tmp_path)


@pytest.mark.parametrize(
    "entity,fragment",
    [
        ("{id: Acme, name: Acme, kind: company}", "lowercase snake case"),
        ("{id: acme, name: Acme, kind: firm}", "kind 'firm'"),
        ("{id: acme, name: Acme, kind: company, aliasses: [A]}", "unknown field(s) ['aliasses']"),
        ("{id: acme, name: Acme, kind: company, tickers: [ACME]}", "no market"),
        ("{id: acme, name: Acme, kind: company, tickers: [acme], market: XNYS}", "canonical form"),
        (
            "{id: acme, name: Acme, kind: company, tickers: [ACME], market: XNYS, benchmark: SPY}",
            "benchmark 'SPY'",
        ),
        ("{id: acme, name: Acme, kind: company, holdings: [x]}", "only funds and indexes"),
        ("{id: acme, name: Acme, kind: person, affiliation: nobody}", "unknown entity 'nobody'"),
        ("{id: acme, name: Acme, kind: company, aliases: [true]}", "non-text item True"),
        (
            "{id: acme, name: Acme, kind: company, aliases: [{text: A, before: [in]}]}",
            "needs `text`",
        ),
    ],
)
def test_bad_entity_gives_one_line_naming_file_and_entity(tmp_path, entity, fragment):
    write_kb(tmp_path, f"  - {entity}\n")
    message = load_error(tmp_path)
    assert str(tmp_path / "entities.yaml") in message
    assert fragment in message


def test_invalid_yaml_names_the_file_and_line(tmp_path):
    write_kb(tmp_path, "  - {id: acme, name: Acme, kind: company\n")
    message = load_error(tmp_path)
    assert "entities.yaml" in message and "line" in message and "not valid YAML" in message


def test_missing_kb_folder_is_a_clear_error(tmp_path):
    assert "knowledge base not found" in load_error(tmp_path / "nowhere")


def test_governments_are_countries_agencies_and_their_officials(kb):
    acting = kb.governments()
    assert acting["china"] == "CN" and acting["pboc"] == "CN" and acting["federal_reserve"] == "US"
    assert acting["xi_jinping"] == "CN" and acting["jerome_powell"] == "US"  # through their agency
    assert "jack_ma" not in acting and "alibaba" not in acting  # a founder acts for his company
