"""nlp/evaluate.py: the scores against the gold file, and its dev/test halves."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from nlp.evaluate import evaluate, gold_half, load_gold
from tests.conftest import REPO


def article(aid: str, types=(), entities=()) -> dict:
    return {"article_id": aid, "entities": list(entities),
            "catalysts": [{"type": t, "event_date": "2025-01-20"} for t in types]}


def test_the_halves_split_the_gold_file_and_stay_put_when_articles_are_added():
    gold = load_gold(REPO / "corpus" / "gold" / "nlp_gold.jsonl")
    dev, test = gold_half(gold, "dev"), gold_half(gold, "test")
    ids = lambda rows: {g["article_id"] for g in rows}  # noqa: E731
    assert ids(dev) & ids(test) == set() and ids(dev) | ids(test) == ids(gold)
    assert min(len(dev), len(test)) >= len(gold) // 3  # both halves big enough to score
    more = gold + [article(f"new-{i}") for i in range(20)]
    assert ids(gold_half(more, "dev")) & ids(gold) == ids(dev)  # old articles keep their half
    with pytest.raises(ValueError, match="half 'train'"):
        gold_half(gold, "train")


def test_a_stated_half_pins_an_article_whatever_its_id():
    # ids of local files changed once (they had been hashed from the file's path): the articles
    # tuned on stay dev and the ones scored only stay test
    ids = [f"a{i}" for i in range(40)]
    by_hash = {aid: gold_half([article(aid)], "dev") != [] for aid in ids}
    flipped = [{**article(aid), "half": "test" if by_hash[aid] else "dev"} for aid in ids]
    assert {g["article_id"] for g in gold_half(flipped, "dev")} == {a for a in ids if not by_hash[a]}
    assert {g["article_id"] for g in gold_half(flipped, "test")} == {a for a in ids if by_hash[a]}
    assert 0 < sum(by_hash.values()) < len(ids)  # both halves occur without the field


def test_the_shipped_gold_file_states_each_articles_half():
    gold = load_gold(REPO / "corpus" / "gold" / "nlp_gold.jsonl")
    assert all(g.get("half") in ("dev", "test") for g in gold)


def test_catalyst_typing_counts_article_type_pairs():
    gold = [article("a", ["trade.tariffs", "policy.fiscal_stimulus"]), article("b", ["trade.tariffs"])]
    catalysts = pd.DataFrame({
        "article_id": ["a", "a", "b", "b"],
        "catalyst_type": ["trade.tariffs", "trade.tariffs", "markets.momentum", "trade.tariffs"],
        "confidence": [0.9, 0.8, 0.7, 0.6],
        "event_start": [pd.Timestamp("2025-01-20"), pd.Timestamp("2025-01-25"), pd.NaT, pd.Timestamp("2025-01-22")],
    })
    events = pd.DataFrame({"catalyst_type": ["trade.tariffs"], "event_date": [date(2025, 1, 21)]})
    entities = pd.DataFrame({"article_id": [], "entity_id": []})
    scores = evaluate(gold, entities, catalysts, events)
    # tp: (a, tariffs), (b, tariffs); fp: (b, momentum); fn: (a, fiscal) — a repeated mention counts once
    assert (scores.catalysts.tp, scores.catalysts.fp, scores.catalysts.fn) == (2, 1, 1)
    # dates: a's most confident tariff mention is on the day, b's two days off
    assert (scores.dated_gold, scores.date_exact, scores.date_within3) == (3, 1, 2)
    assert scores.timeline_within3 == 1 and scores.timeline_gold == 2  # tariffs found, fiscal not


def test_an_articles_date_for_a_type_is_its_best_mention_that_is_not_a_recap():
    gold = [article("a", ["trade.export_controls"])]  # the gold day is 2025-01-20
    catalysts = pd.DataFrame({
        "article_id": ["a", "a"],
        "catalyst_type": ["trade.export_controls"] * 2,
        "confidence": [0.95, 0.6],
        "event_start": [pd.Timestamp("2024-10-01"), pd.Timestamp("2025-01-20")],
        "flags": [["recap"], []],
    })
    events = pd.DataFrame({"catalyst_type": [], "event_date": []})
    entities = pd.DataFrame({"article_id": [], "entity_id": []})
    assert evaluate(gold, entities, catalysts, events).date_exact == 1
    # without the flag the more confident October mention dates the article
    assert evaluate(gold, entities, catalysts.assign(flags=[[], []]), events).date_exact == 0


def test_every_gold_article_is_found_in_the_corpus_read_from_another_folder(tmp_path):
    # `lens eval-nlp` matches the gold to the analysed articles by id: a clone in any folder
    # must give the ids the gold file names
    import shutil

    from lens.run import ingest

    corpus = tmp_path / "elsewhere" / "corpus"
    shutil.copytree(REPO / "corpus", corpus, ignore=shutil.ignore_patterns("gold", "prices"))
    ingest([str(corpus)], tmp_path / "out")
    ids = set(pd.read_parquet(tmp_path / "out" / "articles.parquet").article_id)
    gold = load_gold(REPO / "corpus" / "gold" / "nlp_gold.jsonl")
    assert {g["article_id"] for g in gold} <= ids


def test_eval_nlp_warns_when_gold_articles_are_missing_from_the_run(tmp_path):
    import json

    from typer.testing import CliRunner

    from lens.cli import app

    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(json.dumps(article(a, ["trade.tariffs"])) + "\n" for a in ("a", "b", "c")))
    run = tmp_path / "run"
    run.mkdir()
    pd.DataFrame({"article_id": ["a", "x"]}).to_parquet(run / "articles.parquet")
    pd.DataFrame({"article_id": ["a"], "entity_id": ["nvidia"]}).to_parquet(run / "entities.parquet")
    pd.DataFrame({"article_id": ["a"], "catalyst_type": ["trade.tariffs"], "confidence": [0.9],
                  "event_start": [pd.Timestamp("2025-01-20")]}).to_parquet(run / "catalysts.parquet")
    pd.DataFrame({"catalyst_type": ["trade.tariffs"], "event_date": [date(2025, 1, 20)]}).to_parquet(run / "events.parquet")
    res = CliRunner().invoke(app, ["eval-nlp", "--gold", str(gold), "--out", str(run), "--no-analyse"])
    assert res.exit_code == 0, res.output
    assert "2 gold articles are not in this run" in " ".join(res.output.split())
    assert "(tp 1, fp 0, fn 2)" in res.output  # b and c still count as misses: the figures are not bent
    pd.DataFrame({"article_id": ["a", "b", "c"]}).to_parquet(run / "articles.parquet")
    res = CliRunner().invoke(app, ["eval-nlp", "--gold", str(gold), "--out", str(run), "--no-analyse"])
    assert "not in this run" not in res.output


def test_a_gold_file_without_entities_scores_catalysts_and_says_entities_are_not_annotated():
    gold = [{"article_id": "a", "catalysts": [{"type": "trade.tariffs", "event_date": "2025-01-20"}]}]
    catalysts = pd.DataFrame({"article_id": ["a"], "catalyst_type": ["trade.tariffs"], "confidence": [0.9],
                              "event_start": [pd.Timestamp("2025-01-20")]})  # fmt: skip
    entities = pd.DataFrame({"article_id": ["a"], "entity_id": ["nvidia"]})  # linked, but nobody annotated it
    events = pd.DataFrame({"catalyst_type": ["trade.tariffs"], "event_date": [date(2025, 1, 20)]})
    scores = evaluate(gold, entities, catalysts, events)
    assert scores.entities is None and scores.catalysts.tp == 1
    assert scores.lines()[0] == "entity linking   not annotated in this gold file"
    with_entities = evaluate([gold[0] | {"entities": []}], entities, catalysts, events)
    assert with_entities.entities.fp == 1  # an empty list is an annotation: nothing to link there


def test_the_fresh_sets_name_articles_of_their_own_feeds():
    import xml.etree.ElementTree as ET

    from nlp.catalysts import load_taxonomy

    types = set(load_taxonomy().type_ids)
    folders = sorted((REPO / "bench" / "fresh").glob("set_*"))
    assert [f.name for f in folders][:4] == ["set_a", "set_b", "set_c", "set_d"]
    for folder in folders:
        links = {item.findtext("link") for item in ET.parse(folder / "feed.xml").getroot().iter("item")}
        gold = load_gold(folder / "gold.jsonl")
        assert len(gold) == len(links) and {g["url"] for g in gold} == links
        assert all(c["type"] in types and "entities" not in g for g in gold for c in g["catalysts"])
