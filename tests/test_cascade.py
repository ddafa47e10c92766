"""The sentiment cascade: the accurate model's answer exactly where the fast one is unsure.

Two tiny random BERTs with the real all-MiniLM tokenizer stand in for the bundled models (the
real cascade is in tests/test_sentiment_mpnet.py, ``-m slow``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel

from models import registry
from models.registry import (
    LoadedSentimentModel,
    SentimentModelError,
    load_sentiment_model,
    mean_pool_classifier,
)
from nlp.cascade import CascadeModel, top_two_margin
from nlp.sentiment import SentimentModel

TEXTS = [
    "Operating profit rose to EUR 31.5 mn.", "The company cut 300 jobs.", "The meeting is in April.",
    "Shares fell 4% after the warning.", "Orders doubled in the quarter.", "Net sales were flat.",
    "The bank raised its rating to buy.", "Losses widened on weak demand.",
]


def tiny_scorer(tokenizer, tmp_path, seed: int, vectors: bool = False, compiled: bool = False, layers: int = 1,
                precision: str = "fp32") -> SentimentModel:  # fmt: skip
    torch.manual_seed(seed)
    folder = tmp_path / f"enc{seed}"
    BertModel(BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=layers, num_attention_heads=2,
                         intermediate_size=64), add_pooling_layer=False).save_pretrained(folder)
    torch.manual_seed(seed)
    classifier = mean_pool_classifier(str(folder), vectors=vectors).eval()
    with torch.no_grad():  # a sharper head than the random one, so the margins spread out
        classifier.classifier.weight.mul_(40)
    loaded = LoadedSentimentModel(name=f"tiny{seed}", model=classifier, tokenizer=tokenizer, label_columns=(0, 1, 2),
                                  max_length=16, origin="test", vector_space=f"tiny{seed}@0" if vectors else None)
    return SentimentModel(loaded, device="cpu", precision=precision, batch_size=4, compiled=compiled)


@pytest.fixture
def pair(tokenizer, tmp_path):
    return tiny_scorer(tokenizer, tmp_path, 0, vectors=True), tiny_scorer(tokenizer, tmp_path, 1)


def test_unsure_rows_take_the_accurate_models_answer_and_the_rest_keep_the_fast_one(pair):
    fast, accurate = pair
    alone_fast, alone_accurate = fast.predict(TEXTS), accurate.predict(TEXTS)
    margin = top_two_margin(alone_fast)
    threshold = float(np.median(margin))
    unsure = margin < threshold
    assert 0 < unsure.sum() < len(TEXTS)
    cascade = CascadeModel("c", fast, accurate, threshold)
    probs = cascade.predict(TEXTS)
    np.testing.assert_allclose(probs[unsure], alone_accurate[unsure], atol=1e-5)
    np.testing.assert_allclose(probs[~unsure], alone_fast[~unsure], atol=1e-6)
    assert cascade.n_second == unsure.sum() and cascade.n_scored == len(TEXTS)


def test_a_threshold_of_zero_is_the_fast_model_and_above_one_the_accurate_model(pair):
    fast, accurate = pair
    np.testing.assert_allclose(CascadeModel("c", fast, accurate, 0.0).predict(TEXTS), fast.predict(TEXTS), atol=1e-6)
    np.testing.assert_allclose(CascadeModel("c", fast, accurate, 1.01).predict(TEXTS), accurate.predict(TEXTS),
                               atol=1e-5)


def test_vectors_come_from_the_fast_pass_for_every_row_and_bad_items_stay_errors(pair):
    fast, accurate = pair
    cascade = CascadeModel("c", fast, accurate, 1.01)  # every valid row gets a second opinion
    assert cascade.vector_space == fast.vector_space == "tiny0@0/fp32"
    items = [*TEXTS[:3], None, TEXTS[3]]
    result = cascade.score(items, vectors=True)
    assert set(result.errors) == {3} and np.isnan(result.probs[3]).all()
    np.testing.assert_allclose(result.vectors, fast.score(items, vectors=True).vectors, atol=1e-6)
    np.testing.assert_allclose(result.probs[[0, 1, 2, 4]], accurate.predict([*TEXTS[:3], TEXTS[3]]), atol=1e-5)
    assert cascade.n_second == 4


def test_a_cascade_name_is_not_a_single_model(monkeypatch):
    monkeypatch.setitem(registry.CASCADES, "two-step", ("finance-minilm", "finance-mpnet", 0.5))
    with pytest.raises(SentimentModelError, match="two-step is a cascade of two models"):
        load_sentiment_model("two-step")


def test_the_threshold_is_only_fitted_for_models_trained_on_one_split(tmp_path, monkeypatch):
    from models import fit_cascade

    args = {"holdout_frac": 0.15, "split_seed": 20240601, "val_frac": 0.1, "mix": "fpb:2,tfns", "stage2_mix": None}
    # b weighs the same sources otherwise: the same rows; c trains on fpb alone, d held out other rows
    for name, digest, mix in (("a", "d1", "fpb:2,tfns"), ("b", "d1", "fpb,tfns:0.5"), ("c", "d1", "fpb:2"),
                              ("d", "d2", "fpb:2,tfns")):
        (tmp_path / name).mkdir()
        meta = {"holdout_digest": digest, "train_args": {**args, "mix": mix}}
        (tmp_path / name / "lens_sentiment.json").write_text(json.dumps(meta))
        monkeypatch.setitem(registry.BUNDLED, name, tmp_path / name)
    monkeypatch.setattr(fit_cascade, "BUNDLED", registry.BUNDLED)
    assert fit_cascade.split_args("a", "b")["sources"] == ["fpb", "tfns"]
    for other in ("c", "d"):
        with pytest.raises(SystemExit, match="trained on different splits"):
            fit_cascade.split_args("a", other)


def test_second_opinions_run_in_small_batches_on_the_cpu_and_the_models_own_on_a_gpu(pair):
    from types import SimpleNamespace

    from nlp.cascade import SECOND_PASS_BATCH, second_pass_batch

    _, accurate = pair
    assert accurate.batch_size == 4 and second_pass_batch(accurate) == SECOND_PASS_BATCH == 16
    on_gpu = SimpleNamespace(device=torch.device("cuda"), batch_size=256)  # the two attributes it reads
    assert second_pass_batch(on_gpu) == 256
