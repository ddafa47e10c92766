"""corpus/gold/sentiment_gold.csv: every row is a labelled sentence of the corpus article it names."""

from __future__ import annotations

import csv
import re
import shutil

import pandas as pd

from models.registry import LABELS
from tests.conftest import REPO

GOLD = REPO / "corpus" / "gold" / "sentiment_gold.csv"


def _squash(text: str) -> str:
    return " ".join(text.split())


def test_rows_are_labelled_sentences_of_the_articles_they_name(tmp_path):
    from lens.run import ingest
    from nlp.pipeline import analysis_text

    rows = list(csv.DictReader(GOLD.open(encoding="utf-8", newline="")))
    assert [int(r["n"]) for r in rows] == list(range(len(rows))) and len(rows) == 240
    assert {r["label"] for r in rows} == set(LABELS)
    assert {r["confidence"] for r in rows} == {"high", "low"}
    keys = [re.sub(r"\W+", " ", r["text"].lower()).strip() for r in rows]
    assert len(set(keys)) == len(keys)  # no sentence twice
    assert all(len(r["text"].split()) >= 8 for r in rows)

    corpus = tmp_path / "corpus"
    shutil.copytree(REPO / "corpus", corpus, ignore=shutil.ignore_patterns("gold", "prices"))
    ingest([str(corpus)], tmp_path / "out")
    articles = pd.read_parquet(tmp_path / "out" / "articles.parquet").set_index("article_id")
    for row in rows:
        article = articles.loc[row["article_id"]]
        body = _squash(analysis_text(article.title, article.text))  # what the pipeline splits
        assert _squash(row["text"]) in body, (row["n"], row["text"][:60])
