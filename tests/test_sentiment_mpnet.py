"""The accurate bundled sentiment models over all-mpnet-base-v2 from the ``mpnet`` extra
(``finance-mpnet``, and ``finance-mpnet6`` on its first 6 layers): their size, obvious cases, the
FinBERT bar on held-out FPB rows, the pipeline taking sentence vectors from the MiniLM when the
tone comes from them, and ``finance-cascade``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from models.registry import BUNDLED, LABELS, load_sentiment_model
from nlp.sentiment import SentimentModel, shared_sentiment_model

pytestmark = pytest.mark.slow

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sentiment"

CLEAR = {
    "negative": "The company issued a profit warning and now expects full-year operating profit to fall sharply.",
    "neutral": "The annual general meeting will be held in Helsinki on 12 April.",
    "positive": "Operating profit increased to EUR 31.5 mn from EUR 22.1 mn a year earlier.",
}


@pytest.fixture(scope="module")
def model() -> SentimentModel:
    return SentimentModel("finance-mpnet", device="cpu")


def test_the_bundled_models_together_stay_under_25_mb_and_ship_adapters_only():
    files = [p for folder in BUNDLED.values() for p in folder.iterdir() if p.is_file()]
    assert len(BUNDLED) == 3 and sum(p.stat().st_size for p in files) <= 25 * 1024 * 1024
    for name in ("finance-mpnet", "finance-mpnet6"):
        meta = json.loads((BUNDLED[name] / "lens_sentiment.json").read_text())
        assert meta["base"] == "all-mpnet-base-v2" and meta["format"] == "peft-lora"
        assert meta["labels"] == list(LABELS)


def test_obvious_sentences_get_the_obvious_label(model):
    probs = model.predict(list(CLEAR.values()))
    assert [LABELS[i] for i in probs.argmax(axis=1)] == list(CLEAR)
    assert model.vector_space is None  # its vectors are mpnet's: the catalysts read the MiniLM's


def test_without_bf16_it_runs_in_int8_and_keeps_the_fp32_labels(monkeypatch):
    from nlp import sentiment as sentiment_mod

    texts = list(CLEAR.values())
    exact = SentimentModel("finance-mpnet", device="cpu", precision="fp32").predict(texts)
    monkeypatch.setattr(sentiment_mod, "cpu_has_bf16_matmul", lambda: False)
    monkeypatch.setattr(sentiment_mod, "_x86_64", lambda: True)
    quick = SentimentModel("finance-mpnet", device="cpu")
    assert quick.precision == "int8"  # its int8 form was measured on the held-out rows (MODEL_CARD.md)
    probs = quick.predict(texts)
    assert (probs.argmax(1) == exact.argmax(1)).all()
    np.testing.assert_allclose(probs, exact, atol=0.1)


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data/sentiment is absent")
def test_fpb_held_out_rows_clear_the_finbert_bar(model):
    # The issue's bar is FinBERT's published FPB figures (accuracy 0.86, macro-F1 0.84); these are
    # the rows every training run holds out (seed and share of models/train_sentiment.py).
    from sklearn.metrics import accuracy_score, f1_score

    from models.train_sentiment import load_splits

    held = load_splits(DATA, ["fpb"])["fpb"][1]
    predicted = [LABELS[i] for i in model.predict(held["text"].tolist()).argmax(axis=1)]
    assert len(held) > 500
    assert accuracy_score(held["label"], predicted) >= 0.86
    assert f1_score(held["label"], predicted, average="macro") >= 0.84


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data/sentiment is absent")
def test_the_cascade_asks_the_accurate_model_about_a_minority_and_gains_on_held_out_rows():
    from sklearn.metrics import accuracy_score

    from models.train_sentiment import load_splits

    cascade = shared_sentiment_model("finance-cascade", device="cpu")
    fast = shared_sentiment_model("finance-minilm", device="cpu")
    assert cascade.fast is fast and cascade.vector_space == fast.vector_space  # one MiniLM, one vector space
    held = load_splits(DATA, ["fpb"])["fpb"][1]
    texts, gold = held["text"].tolist(), held["label"].tolist()

    def accuracy(probs) -> float:
        return accuracy_score(gold, [LABELS[i] for i in probs.argmax(axis=1)])

    fast_probs = fast.predict(texts)
    asked_before, scored_before = cascade.n_second, cascade.n_scored  # the instance is shared
    probs = cascade.predict(texts)
    asked = cascade.n_second - asked_before
    # the threshold sends a fifth of the validation mix, fewer of these well-formed news sentences,
    # to the accurate model; where it did not look, the fast answer stands
    changed = ~np.isclose(probs, fast_probs, atol=1e-6).all(axis=1)
    assert 0.05 < asked / (cascade.n_scored - scored_before) < 0.2 and changed.sum() <= asked
    # the accurate model is right 4 points more often (MODEL_CARD.md); a share of that must show
    assert accuracy(probs) >= accuracy(fast_probs) + 0.01


def test_analyze_with_it_scores_tone_and_keeps_the_minilm_vectors(tmp_path):
    import duckdb

    from lens.cli import app

    (tmp_path / "news.txt").write_text(f"{CLEAR['positive']} {CLEAR['negative']}\n")
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["analyze", str(tmp_path / "news.txt"), "--out", str(out),
                                      "--device", "cpu", "--sentiment-model", "finance-mpnet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(out / "lens.duckdb"), read_only=True) as con:
        labels = dict(con.execute("SELECT text, label FROM sentences").fetchall())
        spaces = {row[0] for row in con.execute("SELECT DISTINCT space FROM sentence_vectors").fetchall()}
    assert labels[CLEAR["positive"]] == "positive" and labels[CLEAR["negative"]] == "negative"
    minilm = load_sentiment_model("finance-minilm").vector_space
    assert spaces and all(space.startswith(minilm) for space in spaces)


def test_the_sentiment_command_takes_the_cascade_by_name():
    import typer

    from lens import cli_sentiment

    app = typer.Typer()
    cli_sentiment.register(app)
    result = CliRunner().invoke(app, ["sentiment", CLEAR["negative"], "--sentiment-model", "finance-cascade"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["label"] == "negative"


def test_on_hand_labelled_corpus_sentences_it_beats_the_fast_model_clearly(model):
    # corpus/gold/sentiment_gold.csv was labelled by reading, without any model's output; on
    # that macro and policy news the accurate model was 11 points ahead (its card): a model that
    # loaded wrongly, or lost its adapter, would fall back to the MiniLM's level or below
    import sys

    from lens.cli_sentiment import read_labelled_csv
    from tests.conftest import REPO

    rows = read_labelled_csv(REPO / "corpus" / "gold" / "sentiment_gold.csv", sys.stderr)
    texts, labels = rows.texts, rows.labels
    truth = np.array(labels)
    assert len(texts) == 240
    fast = shared_sentiment_model("finance-minilm", device="cpu")
    accurate = (model.predict(texts).argmax(axis=1) == truth).mean()
    assert accurate >= 0.68 and accurate >= (fast.predict(texts).argmax(axis=1) == truth).mean() + 0.05


# -- finance-mpnet6: the first 6 layers ---------------------------------------------------------


@pytest.fixture(scope="module")
def shallow() -> SentimentModel:
    return SentimentModel("finance-mpnet6", device="cpu")


def test_the_shallow_model_runs_six_layers_and_gets_obvious_sentences_right(shallow):
    assert len(shallow.model.encoder.encoder.layer) == 6  # half the base's 12: half the time
    probs = shallow.predict(list(CLEAR.values()))
    assert [LABELS[i] for i in probs.argmax(axis=1)] == list(CLEAR)
    assert shallow.vector_space is None


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data/sentiment is absent")
def test_the_shallow_model_clears_the_issues_bars_on_held_out_rows(shallow):
    # FinBERT's published FPB figures (accuracy 0.86, macro-F1 0.84) and the issue's TFNS bar
    # (weighted-F1 0.80), on the rows every training run holds out
    from sklearn.metrics import accuracy_score, f1_score

    from models.train_sentiment import load_splits

    held = load_splits(DATA, ["fpb", "tfns"])
    fpb, tfns = held["fpb"][1], held["tfns"][1]
    on_fpb = [LABELS[i] for i in shallow.predict(fpb["text"].tolist()).argmax(axis=1)]
    on_tfns = [LABELS[i] for i in shallow.predict(tfns["text"].tolist()).argmax(axis=1)]
    assert len(fpb) > 500 and len(tfns) > 1500
    assert accuracy_score(fpb["label"], on_fpb) >= 0.86
    assert f1_score(fpb["label"], on_fpb, average="macro") >= 0.84
    assert f1_score(tfns["label"], on_tfns, average="weighted") >= 0.80


def test_without_bf16_the_shallow_model_stays_in_fp32(monkeypatch):
    # its int8 form lost 0.52 points of FPB accuracy (MODEL_CARD.md), more than the issue's 0.5
    from nlp import sentiment as sentiment_mod

    monkeypatch.setattr(sentiment_mod, "cpu_has_bf16_matmul", lambda: False)
    monkeypatch.setattr(sentiment_mod, "_x86_64", lambda: True)
    assert SentimentModel("finance-mpnet6", device="cpu").precision == "fp32"
