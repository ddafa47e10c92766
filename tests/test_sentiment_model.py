"""The real bundled sentiment model (``finance-minilm``): obvious cases, robustness, CLI round trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import spacy
import typer
from typer.testing import CliRunner

from lens import cli_sentiment
from models.registry import BUNDLED_DIR, LABELS, load_sentiment_model
from nlp.sentiment import SentimentModel, article_sentiment, entity_sentiment, sentence_rows

pytestmark = pytest.mark.slow

NEGATIVE = [
    "The company issued a profit warning and now expects full-year operating profit to fall sharply.",
    "Net sales decreased by 18 % and the pre-tax loss widened to EUR 12.4 mn.",
    "Shares plunged 20 % after the company cut its guidance and announced 1,200 layoffs.",
]
POSITIVE = [
    "The group posted record profit for 2024 as net sales rose 25 % to EUR 1.2 bn.",
    "Operating profit increased to EUR 31.5 mn from EUR 22.1 mn a year earlier.",
    "The company won a EUR 300 mn order and raised its full-year outlook.",
]
NEUTRAL = [
    "The annual general meeting will be held in Helsinki on 12 April.",
    "The company is headquartered in Espoo, Finland, and employs about 2,000 people.",
]


@pytest.fixture(scope="module")
def model() -> SentimentModel:
    return SentimentModel("finance-minilm", device="cpu")


def test_artefact_is_small_and_holds_only_the_delta():
    files = [p for p in BUNDLED_DIR.iterdir() if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= 25 * 1024 * 1024
    assert (BUNDLED_DIR / "MODEL_CARD.md").is_file()
    meta = json.loads((BUNDLED_DIR / "lens_sentiment.json").read_text())
    assert meta["labels"] == list(LABELS) and meta["base"] == "all-MiniLM-L6-v2"


def test_obvious_sentences_get_the_obvious_label(model):
    probs = model.predict(NEGATIVE + POSITIVE + NEUTRAL)
    labels = [LABELS[i] for i in probs.argmax(axis=1)]
    assert labels == ["negative"] * 3 + ["positive"] * 3 + ["neutral"] * 2
    scores = probs[:, 2] - probs[:, 0]
    assert scores[:3].max() < -0.5 and scores[3:6].min() > 0.5


def test_cpu_fast_forms_agree_with_fp32():
    from nlp.sentiment import cpu_has_bf16_matmul

    texts = NEGATIVE + POSITIVE + NEUTRAL
    exact = SentimentModel("finance-minilm", device="cpu", precision="fp32").predict(texts)
    # bf16 rounds the weights; int8 rounds weights to 255 levels and inputs to 128, which moves
    # these probabilities by up to 0.05 (99.5% of 400 FPB held-out labels stay, bench/sentiment.py)
    tolerance = {"int8": 0.1, "bf16": 0.05}
    for form in ["int8"] + (["bf16"] if cpu_has_bf16_matmul() else []):
        quick = SentimentModel("finance-minilm", device="cpu", precision=form).predict(texts)
        assert (quick.argmax(1) == exact.argmax(1)).all(), form
        np.testing.assert_allclose(quick, exact, atol=tolerance[form], err_msg=form)


def test_without_bf16_only_weights_whose_int8_form_was_measured_run_in_int8(monkeypatch, tmp_path):
    import shutil

    from models import registry
    from nlp import sentiment as sentiment_mod

    monkeypatch.setattr(sentiment_mod, "cpu_has_bf16_matmul", lambda: False)
    # the bundled model's int8 form was measured on the held-out rows (MODEL_CARD.md): int8
    assert SentimentModel("finance-minilm", device="cpu").precision == "int8"
    # the same weights run in int8 wherever their folder is
    shutil.copytree(BUNDLED_DIR, tmp_path / "copy")
    assert SentimentModel(str(tmp_path / "copy"), device="cpu").precision == "int8"
    # and what was measured is the weights, not the name: other listed weights leave it fp32
    monkeypatch.setattr(registry, "INT8_CHECKED", frozenset({"0123456789ab"}))
    assert SentimentModel("finance-minilm", device="cpu").precision == "fp32"
    assert SentimentModel("finance-minilm", device="cpu", precision="int8").precision == "int8"  # asked for


def assert_odd_inputs_scored(model: SentimentModel) -> None:
    """Empty, emoji-only, 50,000-character and non-English texts each get a result, in one batch."""
    texts = ["", "   ", "🚀🚀📈💰", "x" * 50_000, "Der Umsatz stieg im dritten Quartal deutlich.",
             "腾讯第三季度利润大幅增长", "Nokia " * 10_000, "Profit rose."]
    result = model.score(texts)
    assert not result.errors
    assert np.isfinite(result.probs).all()
    np.testing.assert_allclose(result.probs.sum(axis=1), 1, atol=1e-3)
    assert result.truncated.tolist() == [False] * 3 + [True, False, False, True, False]


def test_odd_inputs_get_results_not_a_crashed_batch(model):
    assert_odd_inputs_scored(model)


def test_adapter_is_merged_into_plain_weights_at_load_time():
    loaded = load_sentiment_model("finance-minilm")
    names = [name for name, _ in loaded.model.named_modules()]
    assert not any("lora" in name for name in names)  # no adapter indirection left at inference
    assert loaded.strip_urls and loaded.label_columns == (0, 1, 2) and loaded.max_length == 128


def test_a_folder_written_by_the_training_script_loads_by_its_path(tmp_path):
    import shutil

    folder = tmp_path / "my-run"
    shutil.copytree(BUNDLED_DIR, folder)  # what train_sentiment.py --out writes
    mine, bundled = load_sentiment_model(str(folder)), load_sentiment_model("finance-minilm")
    assert mine.name == mine.origin == str(folder)
    batch = NEGATIVE[:1] + POSITIVE[:1]
    kwargs = {"device": "cpu", "precision": "fp32"}
    np.testing.assert_allclose(SentimentModel(mine, **kwargs).predict(batch),
                               SentimentModel(bundled, **kwargs).predict(batch), atol=1e-5)


def test_links_are_removed_before_scoring(model):
    plain = "Operating profit rose to EUR 31.5 mn from EUR 22.1 mn."
    with_links = plain + " https://t.co/bd0xbFGjkT www.example.com/report"
    np.testing.assert_allclose(model.predict([with_links]), model.predict([plain]), atol=1e-6)


def test_spacy_pipeline_scores_sentences_entities_and_articles():
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("lens_sentiment", config={"model": "finance-minilm", "device": "auto", "batch_size": 64})
    text = f"{POSITIVE[0]} {NEUTRAL[0]} {NEGATIVE[0]}"
    doc = next(nlp.pipe([text, NEUTRAL[1]]))
    rows = sentence_rows(doc)
    assert [r["label"] for r in rows] == ["positive", "neutral", "negative"]
    assert entity_sentiment(doc, [doc[0:2]]) > 0.5  # "The group" is in the positive sentence
    assert article_sentiment(doc, [1.0, 1.0, 10.0]) < article_sentiment(doc, [10.0, 1.0, 1.0])


def test_jsonl_round_trip_through_the_cli(tmp_path: Path):
    app = typer.Typer()
    cli_sentiment.register(app)
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    items = [{"id": f"n{i}", "text": t} for i, t in enumerate(NEGATIVE)] + [
        {"id": f"p{i}", "text": t} for i, t in enumerate(POSITIVE)
    ]
    source.write_text("\n".join(json.dumps(item) for item in items) + "\n{broken\n")
    result = CliRunner().invoke(app, ["sentiment", "--input", str(source), "--output", str(out)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in records] == [item["id"] for item in items]
    assert [r["label"] for r in records] == ["negative"] * 3 + ["positive"] * 3
    assert "in.jsonl:7:" in result.stderr

    single = CliRunner().invoke(app, ["sentiment", POSITIVE[1]])
    assert json.loads(single.stdout)["label"] == "positive"


def test_eval_sentiment_on_a_labelled_csv(tmp_path: Path):
    app = typer.Typer()
    cli_sentiment.register(app)
    data = tmp_path / "gold.csv"
    rows = [(t, "negative") for t in NEGATIVE] + [(t, "positive") for t in POSITIVE] + [(t, "neutral") for t in NEUTRAL]
    data.write_text("text,label\n" + "".join(f'"{t}",{label}\n' for t, label in rows))
    result = CliRunner().invoke(app, ["eval-sentiment", "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["accuracy"] == 1.0 and report["confusion"] == [[3, 0, 0], [0, 2, 0], [0, 0, 3]]


def test_analyze_runs_both_transformers_at_the_precision_asked_for(tmp_path):
    # `auto` picks int8, bf16 or fp16 by machine; fp32 is a choice on every CPU, so asking for it
    # must reach the sentiment component and the catalyst encoder alike (one instance, one
    # vector space: the stored vectors say which precision made them).
    import duckdb

    from lens.cli import app
    from nlp.pipeline import PipelineConfig, build_pipeline

    nlp = build_pipeline(PipelineConfig(device="cpu", precision="fp32", n_process=1))
    scorer = nlp.get_pipe("lens_sentiment").model
    encoder = nlp.get_pipe("lens_catalysts").encoder
    assert scorer.precision == "fp32" and encoder.precision == "fp32"
    assert encoder.vector_space == scorer.vector_space

    (tmp_path / "news.txt").write_text(
        "Alibaba shares rose 5% on Tuesday after the company released a new reasoning model.\n"
    )
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["analyze", str(tmp_path / "news.txt"), "--out", str(out),
                                      "--device", "cpu", "--precision", "fp32"])  # fmt: skip
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(out / "lens.duckdb"), read_only=True) as con:
        spaces = {row[0] for row in con.execute("SELECT DISTINCT space FROM sentence_vectors").fetchall()}
    assert spaces and all(space.endswith("/fp32") for space in spaces)

    wrong = CliRunner().invoke(app, ["analyze", "--out", str(out), "--precision", "int4"])
    assert wrong.exit_code == 2 and "--precision 'int4'" in wrong.output
