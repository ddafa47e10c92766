"""Sentiment scoring: devices, buckets, truncation, label mapping, spaCy helpers, CLI formats.

A tiny random BERT with the real all-MiniLM tokenizer stands in for the bundled model, so these
run in seconds; tests/test_sentiment_model.py checks the real model (``-m slow``).
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import spacy
import torch
import typer
from transformers import BertConfig, BertForSequenceClassification
from typer.testing import CliRunner

from lens import cli_sentiment
from models.registry import (
    LABELS,
    LoadedSentimentModel,
    SentimentModelError,
    label_columns,
    load_sentiment_model,
)
from nlp import sentiment as sentiment_mod
from nlp.sentiment import (
    PAD_MULTIPLE,
    ROW_MULTIPLE,
    SentimentComponent,
    SentimentModel,
    SentimentResult,
    article_sentiment,
    entity_sentiment,
    pad_rows,
    select_device,
    select_precision,
    sentence_rows,
    sentence_weights,
    sentiment_scores,
    weighted_sentiment,
)


def tiny_classifier(num_labels: int = 3, seed: int = 0) -> BertForSequenceClassification:
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, num_labels=num_labels,
    )
    return BertForSequenceClassification(config).eval()


def tiny_loaded(tokenizer, columns=(0, 1, 2), max_length=16, num_labels=3) -> LoadedSentimentModel:
    return LoadedSentimentModel(
        name="tiny", model=tiny_classifier(num_labels), tokenizer=tokenizer,
        label_columns=columns, max_length=max_length, origin="test",
    )


@pytest.fixture
def tiny_model(tokenizer) -> SentimentModel:
    return SentimentModel(tiny_loaded(tokenizer), device="cpu", precision="fp32", batch_size=4)


def test_a_model_that_keeps_the_base_space_gives_unit_vectors_from_the_same_pass(tokenizer, tiny_model, tmp_path):
    from transformers import BertModel

    from models.registry import mean_pool_classifier

    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64), add_pooling_layer=False).save_pretrained(tmp_path)
    classifier = mean_pool_classifier(str(tmp_path), vectors=True).eval()
    loaded = LoadedSentimentModel(name="tiny", model=classifier, tokenizer=tokenizer, label_columns=(0, 1, 2),
                                  max_length=16, origin="test", vector_space="tiny@0123")
    model = SentimentModel(loaded, device="cpu", precision="fp32", batch_size=4)
    assert model.vector_space == "tiny@0123/fp32"  # the precision is part of the space's name
    texts = ["Profit rose.", "", "Shares fell after the company warned on orders.", 42]
    result = model.score(texts, vectors=True)
    assert result.vectors.shape == (4, 32) and set(result.errors) == {3}
    # a blank text or a bad item has no direction; the others are unit length
    assert (result.vectors[[1, 3]] == 0).all()
    np.testing.assert_allclose(np.linalg.norm(result.vectors[[0, 2]], axis=1), 1.0, atol=1e-5)
    # the map starts at the identity, so a vector is the normalised mean of the token vectors
    with torch.inference_mode():
        hidden = classifier.encoder(**tokenizer(["Profit rose."], return_tensors="pt")).last_hidden_state
    np.testing.assert_allclose(result.vectors[0], torch.nn.functional.normalize(hidden.mean(1), dim=-1)[0], atol=1e-5)
    # asking for the vectors changes no probability
    np.testing.assert_allclose(model.score(texts).probs[[0, 1, 2]], result.probs[[0, 1, 2]])
    # a model trained without --keep-space has no such vectors, and says so
    with pytest.raises(SentimentModelError, match="keep-space"):
        tiny_model.score(["Profit rose."], vectors=True)


# -- batch shapes ---------------------------------------------------------------------------------
def test_pad_rows_repeats_the_last_row_up_to_the_multiple():
    batch = {"input_ids": torch.arange(6).reshape(3, 2), "attention_mask": torch.ones(3, 2)}
    padded, n = pad_rows(batch, 4)
    assert n == 3 and padded["input_ids"].tolist() == [[0, 1], [2, 3], [4, 5], [4, 5]]
    assert padded["attention_mask"].shape == (4, 2)
    same, n = pad_rows({"x": torch.zeros(8, 3)}, 4)
    assert n == 8 and same["x"].shape == (8, 3)


def test_the_model_only_ever_sees_whole_multiples_of_rows_and_the_copies_are_dropped(tokenizer):
    model = SentimentModel(tiny_loaded(tokenizer), device="cpu", precision="fp32", batch_size=64)
    seen = []
    forward = model.model.forward
    model.model.forward = lambda **kw: seen.append(tuple(kw["input_ids"].shape)) or forward(**kw)
    texts = [f"Sales rose {i} percent in quarter {i % 4 + 1}." for i in range(70)] + ["Costs fell."]
    together = model.predict(texts)
    assert together.shape == (71, 3)
    assert seen and all(rows % ROW_MULTIPLE == 0 and width % PAD_MULTIPLE == 0 for rows, width in seen)
    alone = np.vstack([model.predict([t]) for t in texts[-3:]])
    np.testing.assert_allclose(together[-3:], alone, atol=1e-5)


# -- device and precision ------------------------------------------------------------------------
def test_auto_device_prefers_cuda_and_logs_why_once(monkeypatch, caplog):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: "Fake H100")
    monkeypatch.setattr(sentiment_mod, "_announced", set())
    with caplog.at_level(logging.INFO, logger="nlp.sentiment"):
        # every stage of a run asks; the log says it once
        assert all(select_device("auto") == torch.device("cuda") for _ in range(3))
        assert select_device("cuda") == torch.device("cuda")  # what the later stages pass on
        assert select_device("cpu") == torch.device("cpu")
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("device:")]
    assert lines == ["device: cuda (auto: CUDA available (Fake H100))", "device: cpu (forced)"]


def test_auto_device_falls_back_to_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(sentiment_mod, "_mps_available", lambda: True)
    assert select_device("auto") == torch.device("mps")
    monkeypatch.setattr(sentiment_mod, "_mps_available", lambda: False)
    assert select_device(None) == torch.device("cpu")


def test_forced_device_overrides_auto_and_missing_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert select_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SentimentModelError, match="no CUDA GPU"):
        select_device("cuda")
    with pytest.raises(SentimentModelError, match="unknown"):
        select_device("tpu")


def test_on_a_gpu_spacy_gets_the_cores_and_moves_to_the_gpu_only_in_a_single_process(monkeypatch):
    import os

    from nlp import pipeline as pipeline_mod

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: "Fake H100")
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert pipeline_mod.default_n_process("auto") == 8  # GPU: up to 8 spaCy workers
    assert pipeline_mod.default_n_process("cpu") == 4  # CPU: the transformers need cores too
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert pipeline_mod.default_n_process("cuda") == 2

    # The worker processes parse on the CPU: prefer_gpu is asked for only when spaCy stays in
    # the one process. The components (which would need a real
    # GPU) are left out; spaCy itself loads for real.
    asked = []
    monkeypatch.setattr(pipeline_mod.spacy, "prefer_gpu", lambda *a, **k: asked.append(True) or False)
    everything = pipeline_mod.COMPONENTS
    pipeline_mod.build_pipeline(pipeline_mod.PipelineConfig(device="cuda", disable=everything))
    assert asked == []
    pipeline_mod.build_pipeline(pipeline_mod.PipelineConfig(device="cuda", n_process=1, disable=everything))
    assert asked == [True]


def test_precision_is_fp16_on_cuda_bf16_on_amx_cpu_else_fp32(monkeypatch):
    assert select_precision(torch.device("cuda")) == "fp16"
    monkeypatch.setattr(sentiment_mod, "cpu_has_bf16_matmul", lambda: True)
    assert select_precision(torch.device("cpu")) == "bf16"
    assert select_precision(torch.device("cpu"), int8_checked=True) == "bf16"
    monkeypatch.setattr(sentiment_mod, "cpu_has_bf16_matmul", lambda: False)
    assert select_precision(torch.device("cpu")) == "fp32"
    assert select_precision(torch.device("cpu"), "int8") == "int8"
    with pytest.raises(SentimentModelError):
        select_precision(torch.device("cpu"), "fp16")


def test_without_bf16_only_models_whose_int8_form_was_measured_run_in_int8(monkeypatch):
    monkeypatch.setattr(sentiment_mod, "cpu_has_bf16_matmul", lambda: False)
    monkeypatch.setattr(sentiment_mod, "_x86_64", lambda: True)
    assert select_precision(torch.device("cpu"), int8_checked=True) == "int8"
    assert select_precision(torch.device("cpu"), "fp32", int8_checked=True) == "fp32"  # asked for
    monkeypatch.setattr(sentiment_mod, "_x86_64", lambda: False)  # kernels not measured there
    assert select_precision(torch.device("cpu"), int8_checked=True) == "fp32"
    assert select_precision(torch.device("cuda"), int8_checked=True) == "fp16"


# -- label mapping ---------------------------------------------------------------------------------
def test_finbert_label_order_is_normalised():
    # ProsusAI/finbert's config: 0 positive, 1 negative, 2 neutral
    assert label_columns({0: "positive", 1: "negative", 2: "neutral"}) == (1, 2, 0)
    assert label_columns({0: "Bearish", 1: "Bullish", 2: "Neutral"}) == (0, 2, 1)
    assert label_columns({0: "NEGATIVE", 1: "POSITIVE"}) == (0, -1, 1)


def test_generic_or_ambiguous_labels_are_rejected():
    with pytest.raises(SentimentModelError, match="cannot tell"):
        label_columns({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})
    with pytest.raises(SentimentModelError, match="two columns"):
        label_columns({0: "negative", 1: "very negative", 2: "positive"})


def test_probabilities_come_out_in_negative_neutral_positive_order(tokenizer):
    texts = ["Profit fell.", "Sales rose sharply in the quarter."]
    raw = SentimentModel(tiny_loaded(tokenizer), device="cpu", precision="fp32").predict(texts)
    # a model whose column 0 is positive, 1 negative, 2 neutral (FinBERT's order)
    permuted = SentimentModel(
        tiny_loaded(tokenizer, columns=(1, 2, 0)), device="cpu", precision="fp32"
    ).predict(texts)
    np.testing.assert_allclose(permuted, raw[:, [1, 2, 0]], atol=1e-6)


def test_two_class_model_gets_zero_neutral(tokenizer):
    model = SentimentModel(tiny_loaded(tokenizer, columns=(0, -1, 1), num_labels=2), device="cpu", precision="fp32")
    probs = model.predict(["Shares jumped.", "Shares slumped."])
    assert np.all(probs[:, 1] == 0)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-6)


def test_local_folder_model_loads_with_its_own_label_mapping(tmp_path, tokenizer):
    classifier = tiny_classifier()
    classifier.config.id2label = {0: "positive", 1: "negative", 2: "neutral"}
    classifier.config.label2id = {v: k for k, v in classifier.config.id2label.items()}
    classifier.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded = load_sentiment_model(str(tmp_path))
    assert loaded.label_columns == (1, 2, 0)
    assert loaded.origin == str(tmp_path.resolve())


def test_missing_model_is_one_clear_line():
    with pytest.raises(SentimentModelError) as missing_folder:
        load_sentiment_model("./no/such/model")
    assert "no such folder" in str(missing_folder.value)
    with pytest.raises(SentimentModelError) as missing_id:
        load_sentiment_model("lens-test-org/surely-not-cached-model")
    message = str(missing_id.value)
    assert "\n" not in message and "nothing is downloaded" in message
    # transformers calls an offline cache miss a failed connection; none was tried, so none is named
    assert "connect" not in message and "finance-mpnet6" in message


# -- batching and truncation -------------------------------------------------------------------------
def test_batched_scores_match_one_by_one_in_input_order(tiny_model):
    texts = [
        "Operating profit rose to EUR 13.1 mn from EUR 8.7 mn.", "Shares fell.",
        "The company will cut 200 jobs at its plant in Finland as demand weakens sharply this year.",
        "Neutral.", "Net sales were flat.", "Orders grew 12 % in the period, the company said.",
    ]
    together = tiny_model.predict(texts)
    alone = np.vstack([tiny_model.predict([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    np.testing.assert_allclose(together.sum(axis=1), 1, atol=1e-6)


def test_buckets_are_length_sorted_no_bigger_than_batch_size_and_run_longest_first(tiny_model, monkeypatch):
    seen: list[list[int]] = []
    forward = tiny_model._forward
    monkeypatch.setattr(tiny_model, "_forward", lambda rows: seen.append([len(r) for r in rows]) or forward(rows))
    texts = [" ".join(["word"] * n) for n in (9, 1, 5, 12, 3, 7, 2, 11, 4, 6)]
    tiny_model.predict(texts)
    # Cut from the shortest up (the partial bucket holds the longest texts, as it always
    # has: same buckets, same numbers), then run from the longest down, for the heap.
    assert seen == [[n + 2 for n in ns] for ns in ([11, 12], [5, 6, 7, 9], [1, 2, 3, 4])]  # + [CLS], [SEP]


def test_overlong_texts_are_truncated_and_counted_never_dropped(tiny_model, monkeypatch):
    widths: list[int] = []
    forward = tiny_model._forward
    monkeypatch.setattr(tiny_model, "_forward", lambda rows: widths.extend(map(len, rows)) or forward(rows))
    # 30 words: over max_length in tokens but under the character cut, so the tokenizer must tell
    texts = ["short text", "word " * 30, "x" * 50_000, "stock " * 20_000]
    result = tiny_model.score(texts)
    assert result.truncated.tolist() == [False, True, True, True]
    assert result.n_truncated == 3 and tiny_model.n_truncated_total == 3
    assert np.isfinite(result.probs).all()
    assert max(widths) == tiny_model.max_length  # the model never saw more than max_length tokens


def test_text_of_exactly_max_length_tokens_is_not_counted_as_truncated(tiny_model):
    # max_length 16 = [CLS] + 14 words + [SEP]
    result = tiny_model.score([" ".join(["profit"] * 14), " ".join(["profit"] * 15)])
    assert result.truncated.tolist() == [False, True]


def test_non_text_items_get_per_item_errors_and_the_rest_is_scored(tiny_model):
    result = tiny_model.score([None, "Profit rose.", 42, "", "🚀🚀📈", "利润大幅增长", "Der Umsatz stieg."])
    assert set(result.errors) == {0, 2}
    assert "string" in result.errors[0]
    assert np.isnan(result.probs[[0, 2]]).all()
    assert np.isfinite(result.probs[[1, 3, 4, 5, 6]]).all()
    assert result.labels[0] is None and result.labels[1] in LABELS


def test_a_failing_batch_is_retried_item_by_item(tiny_model, monkeypatch):
    forward = tiny_model._forward

    def flaky(rows):
        if len(rows) > 1 or len(rows[0]) > 10:
            raise RuntimeError("out of memory")
        return forward(rows)

    monkeypatch.setattr(tiny_model, "_forward", flaky)
    result = tiny_model.score(["a b", "c d e", "one two three four five six seven eight nine ten"])
    assert list(result.errors) == [2] and "out of memory" in result.errors[2]
    assert np.isfinite(result.probs[:2]).all()


# -- pure arithmetic -----------------------------------------------------------------------------------
def test_score_is_positive_minus_negative():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    np.testing.assert_allclose(sentiment_scores(probs), [-0.6, 0.7])


def test_weighted_sentiment_weighs_by_confidence_and_skips_unscored_rows():
    probs = np.array([[0.8, 0.1, 0.1], [0.25, 0.25, 0.5], [np.nan] * 3])
    # confidences 0.8 and 0.5; scores -0.7 and 0.25
    expected = (0.8 * -0.7 + 0.5 * 0.25) / (0.8 + 0.5)
    assert weighted_sentiment(probs) == pytest.approx(expected)
    assert weighted_sentiment(probs, [1.0, 3.0, 1.0]) == pytest.approx((0.8 * -0.7 + 1.5 * 0.25) / 2.3)
    assert weighted_sentiment(np.full((2, 3), np.nan)) is None
    with pytest.raises(ValueError, match="one per sentence"):
        weighted_sentiment(probs, [1.0, 2.0])


def test_sentence_weights_favour_catalysts_over_entities_over_boilerplate():
    assert sentence_weights(4, entity_sents=[1, 2], catalyst_sents=[2]).tolist() == [1.0, 2.0, 3.0, 1.0]


# -- spaCy component and helpers ------------------------------------------------------------------------
ARTICLE = "Nokia raised its outlook. The weather was mild. Nokia shares fell on the tariff news. Ends here."


@pytest.fixture
def scored_doc():
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    doc = nlp(ARTICLE)
    doc._.sent_probs = np.array(
        [[0.1, 0.1, 0.8], [0.05, 0.9, 0.05], [0.6, 0.2, 0.2], [0.1, 0.8, 0.1]], dtype=np.float32
    )
    return doc


def test_sentence_rows_carry_the_sentences_table_columns(scored_doc):
    rows = sentence_rows(scored_doc)
    assert [r["sent_idx"] for r in rows] == [0, 1, 2, 3]
    assert rows[2]["text"] == "Nokia shares fell on the tariff news."
    assert ARTICLE[rows[2]["start_char"] : rows[2]["end_char"]] == rows[2]["text"]
    assert rows[0]["label"] == "positive" and rows[2]["label"] == "negative"
    assert rows[2]["score"] == pytest.approx(0.2 - 0.6)
    assert (rows[2]["p_negative"], rows[2]["p_neutral"], rows[2]["p_positive"]) == pytest.approx((0.6, 0.2, 0.2))


def test_entity_sentiment_uses_only_the_sentences_that_mention_it_once_each(scored_doc):
    # "Nokia" in sentence 0; "Nokia" and "shares" both in sentence 2
    nokia = [scored_doc[i : i + 1] for i, t in enumerate(scored_doc) if t.text in ("Nokia", "shares")]
    assert [span.sent.start for span in nokia] == [0, 10, 10]
    expected = (0.8 * 0.7 + 0.6 * -0.4) / (0.8 + 0.6)
    assert entity_sentiment(scored_doc, nokia) == pytest.approx(expected, abs=1e-6)
    assert entity_sentiment(scored_doc, [2]) == pytest.approx(-0.4, abs=1e-6)  # a catalyst's sentence
    assert entity_sentiment(scored_doc, []) is None


def test_article_sentiment_lets_weights_outvote_boilerplate(scored_doc):
    flat = article_sentiment(scored_doc)
    weighted = article_sentiment(scored_doc, sentence_weights(4, catalyst_sents=[2]))
    assert weighted < flat  # the negative catalyst sentence now counts three times


def _fake_result(texts):
    probs = np.array([[0.1, 0.2, 0.7] if "rose" in t else [0.7, 0.2, 0.1] if "fell" in t else [0.1, 0.8, 0.1]
                      for t in texts], dtype=np.float32).reshape(-1, 3)
    return SentimentResult(probs, np.zeros(len(texts), dtype=bool))


class CountingScorer:
    def __init__(self, compiled: bool = False):
        self.calls: list[list[str]] = []
        self.max_length = 128
        self.name = "fake"
        self.device, self.precision, self.compiled = "cpu", "fp32", compiled

    def score(self, texts):
        self.calls.append(list(texts))
        return _fake_result(list(texts))


def test_component_batches_sentences_across_docs():
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    scorer = CountingScorer()
    component = SentimentComponent("lens_sentiment", scorer)
    docs = list(component.pipe(nlp.pipe(["Sales rose. Costs fell.", "", "It rained. Profit rose."]), batch_size=10))
    assert len(scorer.calls) == 1 and len(scorer.calls[0]) == 4
    assert [d._.sent_probs.shape for d in docs] == [(2, 3), (0, 3), (2, 3)]
    assert [r["label"] for r in sentence_rows(docs[2])] == ["neutral", "positive"]


def test_component_factory_is_configured_from_add_pipe(monkeypatch, tokenizer):
    monkeypatch.setattr(sentiment_mod, "load_sentiment_model", lambda name: tiny_loaded(tokenizer))
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("lens_sentiment", config={"model": "tiny", "device": "cpu", "batch_size": 3, "precision": "fp32"})
    assert nlp.pipe_names == ["sentencizer", "lens_sentiment"]
    assert nlp.get_pipe("lens_sentiment").model.batch_size == 3
    doc = nlp("Profit rose. Shares fell. Nothing happened.")
    assert doc._.sent_probs.shape == (3, 3)


def test_component_needs_sentence_boundaries():
    nlp = spacy.blank("en")
    component = SentimentComponent("lens_sentiment", CountingScorer())
    with pytest.raises(SentimentModelError, match="sentencizer"):
        component(nlp("No sentence boundaries here."))


# -- command line ----------------------------------------------------------------------------------------
@pytest.fixture
def cli(monkeypatch, tokenizer):
    app = typer.Typer()
    cli_sentiment.register(app)
    loaded: list[tuple] = []

    def fake_load(model, device, batch_size, precision="auto", compiled=False):
        loaded.append((model, device, batch_size) + (("compiled",) if compiled else ()))
        return SentimentModel(tiny_loaded(tokenizer), device="cpu", precision="fp32", batch_size=batch_size)

    monkeypatch.setattr(cli_sentiment, "_load", fake_load)
    return app, loaded


def scoring_app(monkeypatch, scorer) -> typer.Typer:
    """The sentiment commands on an app of their own, every model they load being `scorer`."""
    app = typer.Typer()
    cli_sentiment.register(app)
    monkeypatch.setattr(cli_sentiment, "_load", lambda *a: scorer)
    return app


def test_jsonl_output_lines_follow_the_contract_and_bad_lines_are_reported(cli, tmp_path):
    app, loaded = cli
    source = tmp_path / "in.jsonl"
    source.write_text(
        '{"id": "a1", "text": "Operating profit rose."}\n'
        "{not json\n"
        '{"id": 7, "body": "no text field"}\n'
        '{"id": 8, "text": 12}\n'
        "\n"
        '{"id": 9, "text": ""}\n'
        '{"id": "a2", "text": "' + "word " * 300 + '"}\n',
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(
        app, ["sentiment", "--input", str(source), "--output", str(out), "--batch-size", "2", "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    assert loaded == [("finance-mpnet6", "cpu", 2)]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in records] == ["a1", 9, "a2"]
    for record in records:
        assert set(record) == {"id", "label", "score", "probs"}
        probs = record["probs"]
        assert list(probs) == list(LABELS)
        assert sum(probs.values()) == pytest.approx(1, abs=1e-4)
        assert record["label"] == max(probs, key=probs.get)
        assert record["score"] == pytest.approx(probs["positive"] - probs["negative"], abs=1e-5)
    for number in (2, 3, 4):
        assert f"in.jsonl:{number}:" in result.stderr
    assert "3 skipped, 1 truncated" in result.stderr


def test_without_batch_size_the_commands_leave_it_to_the_device(cli, tmp_path):
    # a fixed 64 had the GPU run batches of 64 instead of its 256 (seen on an H200)
    app, loaded = cli
    data = tmp_path / "gold.csv"
    data.write_text("text,label\nProfit rose.,positive\n", encoding="utf-8")
    assert CliRunner().invoke(app, ["sentiment", "Profit rose."]).exit_code == 0
    assert CliRunner().invoke(app, ["eval-sentiment", "--data", str(data)]).exit_code == 0
    assert [batch for _, _, batch in loaded] == [None, None]
    # and the model is the one that clears the FinBERT bar (models/sentiment-mpnet6/MODEL_CARD.md),
    # not the pipeline's sentence model
    assert [model for model, _, _ in loaded] == ["finance-mpnet6", "finance-mpnet6"]


def test_jsonl_with_only_bad_lines_exits_1_and_leaves_the_old_output(cli, tmp_path):
    app, _ = cli
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": 1}\n{"text": "no id"}\n')
    result = CliRunner().invoke(app, ["sentiment", "--input", str(source)])
    assert result.exit_code == 1
    output = tmp_path / "out.jsonl"
    output.write_text('{"id": 0, "label": "neutral"}\n')  # a finished run's results
    result = CliRunner().invoke(app, ["sentiment", "--input", str(source), "--output", str(output)])
    assert result.exit_code == 1
    assert output.read_text() == '{"id": 0, "label": "neutral"}\n'  # not replaced by an empty file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]  # no part left


def test_an_input_that_is_not_jsonl_is_one_usage_line_before_the_model_loads(cli, tmp_path):
    app, loaded = cli
    source = tmp_path / "labelled.csv"
    source.write_text("text,label\n" + "".join(f"Shares rose {n}%,positive\n" for n in range(200)))
    result = CliRunner().invoke(app, ["sentiment", "--input", str(source), "--output", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 2
    assert "not JSON Lines" in result.output and "lens eval-sentiment --data" in result.output
    assert result.output.count("\n") <= 4  # one message, not a line per row
    assert loaded == [] and not (tmp_path / "o.jsonl").exists()


def test_single_text_prints_one_result(cli):
    app, _ = cli
    result = CliRunner().invoke(app, ["sentiment", "Profit warning issued."])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert set(record) == {"label", "score", "probs"}


def test_compile_reaches_the_model_only_when_asked(cli):
    app, loaded = cli
    for args in (["sentiment", "x"], ["sentiment", "x", "--compile"]):
        assert CliRunner().invoke(app, args).exit_code == 0
    assert loaded == [("finance-mpnet6", "auto", None), ("finance-mpnet6", "auto", None, "compiled")]


def test_text_and_input_together_is_a_usage_error(cli, tmp_path):
    app, _ = cli
    (tmp_path / "in.jsonl").write_text("")
    result = CliRunner().invoke(app, ["sentiment", "x", "--input", str(tmp_path / "in.jsonl")])
    assert result.exit_code == 2 and "either" in result.stderr


def test_missing_model_is_one_error_line_not_a_traceback(tmp_path):
    app = typer.Typer()
    cli_sentiment.register(app)
    result = CliRunner().invoke(app, ["sentiment", "x", "--sentiment-model", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and result.stderr.startswith("error: ")
    assert "Traceback" not in result.output


def test_eval_sentiment_prints_metrics_and_confusion_matrix(monkeypatch, tmp_path):
    app = scoring_app(monkeypatch, CountingScorer())
    data = tmp_path / "gold.csv"
    data.write_text(
        "text,label\n"
        "Sales rose,positive\nProfit rose,positive\nCosts fell,negative\n"
        "Shares fell,positive\nIt rained,neutral\nOdd row,mixed\n"
    )
    result = CliRunner().invoke(app, ["eval-sentiment", "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n"] == 5 and report["accuracy"] == pytest.approx(0.8)
    # rows true, columns predicted: the positive "Shares fell" is predicted negative
    assert report["confusion"] == [[1, 0, 0], [0, 1, 0], [1, 0, 2]]
    assert report["macro_f1"] == pytest.approx((2 / 3 + 1 + 0.8) / 3)
    assert "gold.csv:7" in result.stderr and report["left_out"] == 1
    text = CliRunner().invoke(app, ["eval-sentiment", "--data", str(data)]).stdout
    assert "accuracy     0.8000" in text and "macro-F1" in text and "weighted-F1" in text
    assert text.splitlines()[-1].split() == ["positive", "1", "0", "2"]


def test_the_json_report_says_how_the_model_ran(monkeypatch, tmp_path):
    app = typer.Typer()
    cli_sentiment.register(app)
    data = tmp_path / "gold.csv"
    data.write_text("text,label\nSales rose,positive\n")
    for compiled in (False, True):
        monkeypatch.setattr(cli_sentiment, "_load", lambda *a, c=compiled: CountingScorer(compiled=c))
        report = json.loads(CliRunner().invoke(app, ["eval-sentiment", "--data", str(data), "--json"]).stdout)
        assert (report["device"], report["precision"], report["compiled"]) == ("cpu", "fp32", compiled)


class FlatScorer(CountingScorer):
    """Says neutral to everything."""

    def __init__(self):
        super().__init__()
        self.name = "flat"

    def score(self, texts):
        texts = list(texts)
        probs = np.tile(np.array([[0.1, 0.8, 0.1]], dtype=np.float32), (len(texts), 1))
        return SentimentResult(probs, np.zeros(len(texts), dtype=bool))


def test_eval_sentiment_by_a_column_and_against_a_second_model(monkeypatch, tmp_path):
    app = typer.Typer()
    cli_sentiment.register(app)
    monkeypatch.setattr(cli_sentiment, "_load", lambda name, *a: FlatScorer() if name == "flat" else CountingScorer())
    data = tmp_path / "gold.csv"
    data.write_text(
        "text,label,confidence\n"
        "Sales rose,positive,high\nProfit rose,positive,high\nCosts fell,negative,low\n"
        "Shares fell,positive,low\nIt rained,neutral,low\n"
    )
    result = CliRunner().invoke(app, ["eval-sentiment", "--data", str(data), "--by", "confidence",
                                      "--against", "flat", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    # the keyword scorer misses only "Shares fell"; the flat one gets only the neutral row
    assert report["by"]["high"]["accuracy"] == 1.0 and report["by"]["low"]["accuracy"] == pytest.approx(2 / 3)
    assert report["against"]["model"] == "flat" and report["against"]["accuracy"] == pytest.approx(0.2)
    paired = report["paired"]
    assert (paired["only_first_right"], paired["only_second_right"]) == (3, 0)
    # exact McNemar: 3 discordant rows all one way, two-sided binomial 2 × 0.5³
    assert paired["mcnemar_exact_p"] == pytest.approx(0.25)
    text = CliRunner().invoke(app, ["eval-sentiment", "--data", str(data), "--against", "flat"]).stdout
    assert "only fake right 3, only flat right 0, exact McNemar p = 0.2500" in text


def test_eval_sentiment_by_a_missing_column_is_one_line(monkeypatch, tmp_path):
    app = scoring_app(monkeypatch, CountingScorer())
    data = tmp_path / "gold.csv"
    data.write_text("text,label\nSales rose,positive\n")
    result = CliRunner().invoke(app, ["eval-sentiment", "--data", str(data), "--by", "confidence"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "--by confidence" in result.stderr and "no such column" in result.stderr


def _run_folder(tmp_path):
    """A run's sentences (tone stored per sentence) and catalysts tables, as `lens analyze` writes them."""
    import pandas as pd

    run = tmp_path / "run"
    run.mkdir()
    pd.DataFrame({
        "article_id": ["a1", "a1", "a2"], "sent_idx": [0, 1, 0],
        "text": ["Tariffs were  raised.", "Sales rose.", "Stimulus was announced."],
        "p_negative": [0.7, 0.1, 0.2], "p_neutral": [0.2, 0.2, 0.7], "p_positive": [0.1, 0.7, 0.1],
    }).to_parquet(run / "sentences.parquet")  # fmt: skip
    pd.DataFrame({"article_id": ["a1", "a2"], "sent_idx": [0, 0]}).to_parquet(run / "catalysts.parquet")
    return run


def test_eval_sentiment_of_a_run_scores_the_tone_it_stored_for_each_sentence(monkeypatch, tmp_path):
    app = typer.Typer()
    cli_sentiment.register(app)
    monkeypatch.setattr(cli_sentiment, "_load", lambda *a: CountingScorer())  # the --against model
    run = _run_folder(tmp_path)
    data = tmp_path / "gold.csv"
    data.write_text(
        "text,label,article_id\n"
        "Tariffs were raised.,negative,a1\n"  # whitespace aside, the run's sentence: negative, right
        "Sales rose.,positive,a1\n"  # positive, right; no catalyst in it
        "Stimulus was announced.,positive,a2\n"  # the run says neutral: wrong
        "Sales rose.,positive,a9\n"  # an article the run does not have
    )
    result = CliRunner().invoke(app, ["eval-sentiment", "--data", str(data), "--run", str(run), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n"] == 3 and report["accuracy"] == pytest.approx(2 / 3)
    assert report["model"].startswith(f"run {run}")
    assert "1 row (line 5) has no tone in" in result.stderr
    result = CliRunner().invoke(app, ["eval-sentiment", "--data", str(data), "--run", str(run), "--sentences",
                                      "catalyst", "--against", "keywords", "--json"])  # fmt: skip
    report = json.loads(result.stdout)
    assert report["n"] == 2 and report["accuracy"] == pytest.approx(0.5) and report["model"].endswith("catalyst sentences")
    # the keyword scorer finds neither "rose" nor "fell" in those two: neutral, right on neither
    assert report["against"]["n"] == 2 and report["against"]["accuracy"] == 0.0
    assert (report["paired"]["only_first_right"], report["paired"]["only_second_right"]) == (1, 0)


def test_eval_sentiment_of_a_run_needs_article_ids_and_a_run_folder(tmp_path):
    app = typer.Typer()
    cli_sentiment.register(app)
    data = tmp_path / "gold.csv"
    data.write_text("text,label\nSales rose,positive\n")
    missing = CliRunner().invoke(app, ["eval-sentiment", "--data", str(data), "--run", str(_run_folder(tmp_path))])
    assert missing.exit_code == 2 and missing.stderr.count("\n") == 1 and "--run" in missing.stderr
    assert "'article_id'" in missing.stderr
    nowhere = CliRunner().invoke(app, ["eval-sentiment", "--data", str(data), "--run", str(tmp_path / "none")])
    assert nowhere.exit_code == 2 and "no such folder" in nowhere.stderr
    alone = CliRunner().invoke(app, ["eval-sentiment", "--data", str(data), "--sentences", "catalyst"])
    assert alone.exit_code == 2 and "with --run" in alone.stderr


# -- how sure the figures are --------------------------------------------------------------------------
def test_f1_scores_are_sklearns_on_every_resample_at_once():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(3)
    truth = rng.integers(0, 3, size=(6, 40))
    predicted = rng.integers(0, 2, size=(6, 40))  # "positive" never predicted: its F1 is 0
    macro, weighted = cli_sentiment.f1_scores(truth, predicted)
    for row in range(6):
        expected = [f1_score(truth[row], predicted[row], average=a, labels=[0, 1, 2], zero_division=0)
                    for a in ("macro", "weighted")]  # fmt: skip
        assert [macro[row], weighted[row]] == pytest.approx(expected, abs=1e-12)


def test_accuracy_gets_wilsons_interval():
    # 8 right of 10: Wilson's 95% score interval is 0.4902-0.9433 (centre (p + z²/2n)/(1 + z²/n))
    truth, predicted = [0] * 10, [0] * 8 + [1] * 2
    low, high = cli_sentiment.confidence_intervals(truth, predicted)["accuracy"]
    assert (low, high) == (pytest.approx(0.4902, abs=1e-4), pytest.approx(0.9433, abs=1e-4))


def test_f1_intervals_hold_the_estimate_and_narrow_with_more_rows():
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 3, 120).tolist()
    predicted = [t if rng.random() < 0.8 else (t + 1) % 3 for t in truth]
    few = cli_sentiment.evaluation_report(truth, predicted)
    many = cli_sentiment.evaluation_report(truth * 16, predicted * 16)
    for key in ("accuracy", "macro_f1", "weighted_f1"):
        low, high = few["ci95"][key]
        assert low < few[key] < high
        many_low, many_high = many["ci95"][key]
        # 16 times the rows: about a quarter of the width
        assert 0.15 < (many_high - many_low) / (high - low) < 0.4, key
    perfect = cli_sentiment.confidence_intervals(truth, truth)
    assert perfect["macro_f1"] == [1.0, 1.0] and perfect["accuracy"][1] == pytest.approx(1.0)
    assert "95% CI" in cli_sentiment.format_report(few, "x")


# -- hostile input, one line per problem (an outside review of the sentiment commands) ----------------
def test_hostile_jsonl_lines_are_skipped_one_line_each_and_the_rest_scored(cli, tmp_path):
    app, _ = cli
    source = tmp_path / "in.jsonl"
    lines = [
        '{"id": 1, "text": "Profit rose."}',
        '{"id": 2, "text": "Great quarter \\ud83d"}',  # half an emoji: the tokenizer rejects its batch
        '{"id": "\\ud83d", "text": "Sales fell."}',  # an id that cannot be written back as UTF-8
        '{"id": NaN, "text": "Sales fell."}',  # not JSON, though Python reads it
        '{"id": 1e400, "text": "Sales fell."}',  # infinite once read
        '{"id": ' + "1" * 5000 + ', "text": "Sales fell."}',  # past Python's integer-string limit
        "[" * 100_000,  # past the recursion limit
        '{"id": 9, "text": "Costs fell."}',
    ]
    source.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")  # with Excel's byte order mark
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["sentiment", "--input", str(source), "--output", str(out)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]  # strict JSON
    assert [r["id"] for r in records] == [1, 9]  # the first line too, its byte order mark aside
    problems = [line for line in result.stderr.splitlines() if line.endswith("; skipped")]
    assert len(problems) == 6
    assert any("id 2:" in line and "not valid Unicode" in line for line in problems)
    for number in (3, 4, 5, 6, 7):
        assert any(f"in.jsonl:{number}:" in line for line in problems), number


def test_output_onto_the_input_is_refused_and_the_input_kept(cli, tmp_path):
    app, loaded = cli
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": 1, "text": "Profit rose."}\n')
    result = CliRunner().invoke(app, ["sentiment", "--input", str(source), "--output", str(tmp_path / "." / "in.jsonl")])
    assert result.exit_code == 2 and "erase" in result.stderr
    assert source.read_text() == '{"id": 1, "text": "Profit rose."}\n' and not loaded
    one = CliRunner().invoke(app, ["sentiment", "Profit rose.", "--output", str(tmp_path / "one.jsonl")])
    assert one.exit_code == 2 and "--output goes with --input" in one.stderr


def test_a_text_that_is_not_unicode_is_one_error_line(cli):
    app, _ = cli
    result = CliRunner().invoke(app, ["sentiment", "Caf\udce9 chain profit fell"])  # how Python passes bad bytes
    assert result.exit_code == 2 and "not valid Unicode" in result.stderr


def test_csv_rows_get_their_line_numbers_and_bad_rows_cost_nothing_else(cli, tmp_path):
    app, _ = cli
    data = tmp_path / "gold.csv"
    rows = [
        "text,label",
        "Profit rose.,positive",  # 2
        '"A quoted text',  # 3: a record over three lines
        'over lines",neutral',
        "",  # 5: a blank line the reader passes over
        ",positive",  # 6: no text
        "   ,negative",  # 7: blank text
        "Orders grew.,mixed",  # 8: not one of the labels
        '"' + "Sales fell. " * 15_000 + '",negative',  # 9: 180,000 characters, over csv's default limit
    ]
    raw = ("\ufeff" + "\n".join(rows) + "\n").encode("utf-8") + "Caf\xe9 chain profit fell.,negative\n".encode("latin-1")
    data.write_bytes(raw)
    result = CliRunner().invoke(app, ["eval-sentiment", "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n"] == 4  # lines 2, 3, 9 and 10
    for line, why in ((6, "no text"), (7, "no text"), (8, "mixed")):
        assert f"gold.csv:{line}: " in result.stderr and why in result.stderr
    assert "not valid UTF-8" in result.stderr


def test_a_repeated_column_is_a_usage_error(cli, tmp_path):
    app, _ = cli
    data = tmp_path / "gold.csv"
    data.write_text("text,label,text\nProfit rose.,positive,\n")
    result = CliRunner().invoke(app, ["eval-sentiment", "--data", str(data)])
    assert result.exit_code == 2 and "'text' appears twice" in result.stderr


class FailsOn(CountingScorer):
    """Cannot score texts holding `word` (as a model fails on a text too long for its positions)."""

    def __init__(self, word: str):
        super().__init__()
        self.word = word

    def score(self, texts):
        result = _fake_result(list(texts))
        result.errors.update({i: "model failed on this text" for i, t in enumerate(texts) if self.word in t})
        return result


def test_a_row_the_model_fails_on_is_named_by_its_line_and_none_left_is_exit_1(monkeypatch, tmp_path):
    app = typer.Typer()
    cli_sentiment.register(app)
    data = tmp_path / "gold.csv"
    data.write_text("text,label\nProfit rose.,positive\nx,mixed\nLong text here.,neutral\nSales fell.,negative\n")
    monkeypatch.setattr(cli_sentiment, "_load", lambda *a: FailsOn("Long"))
    result = CliRunner().invoke(app, ["eval-sentiment", "--data", str(data), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["n"] == 2
    assert "gold.csv:4: model failed on this text; left out" in result.stderr  # line 4, not row 3
    monkeypatch.setattr(cli_sentiment, "_load", lambda *a: FailsOn(""))
    none = CliRunner().invoke(app, ["eval-sentiment", "--data", str(data)])
    assert none.exit_code == 1 and "no row could be scored" in none.stderr and "Traceback" not in none.output


def test_lens_toml_gives_the_defaults_and_options_override_them(monkeypatch, tokenizer):
    app = typer.Typer()
    from nlp.pipeline import PipelineConfig

    # the pipeline's sentence model is not the commands' (they score tone alone: tone_model)
    configured = PipelineConfig(sentiment_model="finance-cascade", tone_model="finance-mpnet", device="cpu",
                                precision="fp32", sentiment_batch_size=8)
    cli_sentiment.register(app, lambda: configured)
    loaded = []

    def fake_load(model, device, batch_size, precision="auto", compiled=False):
        loaded.append((model, device, batch_size, precision))
        return SentimentModel(tiny_loaded(tokenizer), device="cpu", precision="fp32")

    monkeypatch.setattr(cli_sentiment, "_load", fake_load)
    assert CliRunner().invoke(app, ["sentiment", "Profit rose."]).exit_code == 0
    assert CliRunner().invoke(app, ["sentiment", "Profit rose.", "--sentiment-model", "finance-minilm",
                                    "--precision", "bf16", "--batch-size", "2"]).exit_code == 0  # fmt: skip
    assert loaded == [("finance-mpnet", "cpu", 8, "fp32"), ("finance-minilm", "cpu", 2, "bf16")]


def test_a_model_with_a_fourth_class_or_without_its_tokenizer_is_refused(tmp_path, tokenizer):
    with pytest.raises(SentimentModelError, match="'mixed'"):
        label_columns({0: "negative", 1: "neutral", 2: "positive", 3: "mixed"})
    folder = tmp_path / "weights-only"
    weights = tiny_classifier()
    weights.config.id2label = {0: "negative", 1: "neutral", 2: "positive"}
    weights.save_pretrained(folder)  # no tokenizer files beside the weights
    with pytest.raises(SentimentModelError, match="tokenizer has"):
        load_sentiment_model(str(folder))
    tokenizer.save_pretrained(folder)
    assert load_sentiment_model(str(folder)).tokenizer is not None


def test_a_damaged_artefact_folder_is_one_error_line(tmp_path):
    import shutil

    from models.registry import BUNDLED_DIR

    folder = tmp_path / "copy"
    shutil.copytree(BUNDLED_DIR, folder)
    (folder / "adapter_model.safetensors").write_bytes(b"cut short")
    with pytest.raises(SentimentModelError, match="not a complete artefact"):
        load_sentiment_model(str(folder))
    (folder / "lens_sentiment.json").write_text("{oops")
    with pytest.raises(SentimentModelError, match="not a complete artefact"):
        load_sentiment_model(str(folder))


def test_a_device_string_torch_does_not_know_is_one_error_line():
    with pytest.raises(SentimentModelError, match="not a device torch knows"):
        select_device("cpu:x")


# -- an interrupted --output run, and the review's other findings ---------------------------------------
class StopsAfter(CountingScorer):
    """Scores `calls` chunks, then is interrupted (Ctrl-C) in the next."""

    def __init__(self, calls: int, name: str = "fake"):
        super().__init__()
        self.left, self.name = calls, name

    def score(self, texts):
        if self.left == 0:
            raise KeyboardInterrupt
        self.left -= 1
        return super().score(texts)


def _run_jsonl(monkeypatch, app, scorer, source, out):
    monkeypatch.setattr(cli_sentiment, "_load", lambda *a: scorer)
    return CliRunner().invoke(app, ["sentiment", "--input", str(source), "--output", str(out)])


def test_an_interrupted_run_keeps_the_old_output_and_the_same_command_continues(monkeypatch, tmp_path):
    app = typer.Typer()
    cli_sentiment.register(app)
    monkeypatch.setattr(cli_sentiment, "CHUNK_LINES", 3)
    texts = [f"Item {i} rose." if i % 2 else f"Item {i} fell." for i in range(10)]
    lines = [json.dumps({"id": i % 4, "text": t}) for i, t in enumerate(texts)]  # ids repeat: matched by position
    lines.insert(4, "{not json")
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    out.write_text("an earlier run's finished output\n")

    stopped = _run_jsonl(monkeypatch, app, StopsAfter(2), source, out)
    assert stopped.exit_code == 130 and "continues" in stopped.stderr
    assert out.read_text() == "an earlier run's finished output\n"  # not emptied by the run that failed
    part = tmp_path / "out.jsonl.part"
    assert len(part.read_text().splitlines()) == 6  # two chunks of three, on disk
    with part.open("a") as handle:  # a third chunk cut off mid-line by a kill
        handle.write('{"id": 2, "label": "neg')

    again = StopsAfter(99)
    resumed = _run_jsonl(monkeypatch, app, again, source, out)
    assert resumed.exit_code == 0, resumed.output
    assert "6 results already" in resumed.stderr and "kept 6" in resumed.stderr
    assert [t for call in again.calls for t in call] == texts[6:]  # nothing scored twice
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in records] == [i % 4 for i in range(10)]
    assert [r["label"] for r in records] == ["positive" if i % 2 else "negative" for i in range(10)]
    assert not part.exists() and not (tmp_path / "out.jsonl.part.json").exists()
    assert "repeat an id" in resumed.stderr


def test_a_partial_output_of_another_model_or_input_is_not_continued(monkeypatch, tmp_path):
    app = typer.Typer()
    cli_sentiment.register(app)
    monkeypatch.setattr(cli_sentiment, "CHUNK_LINES", 2)
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": f"a{i}", "text": "Sales rose."}) + "\n" for i in range(5)))
    out = tmp_path / "out.jsonl"
    assert _run_jsonl(monkeypatch, app, StopsAfter(1, name="model-a"), source, out).exit_code == 130
    other = StopsAfter(99, name="model-b")
    result = _run_jsonl(monkeypatch, app, other, source, out)
    assert result.exit_code == 0 and "another model" in result.stderr
    assert sum(len(c) for c in other.calls) == 5 and len(out.read_text().splitlines()) == 5

    assert _run_jsonl(monkeypatch, app, StopsAfter(1), source, out).exit_code == 130
    source.write_text("".join(json.dumps({"id": f"b{i}", "text": "Sales fell."}) + "\n" for i in range(5)))
    changed = StopsAfter(99)
    result = _run_jsonl(monkeypatch, app, changed, source, out)
    assert result.exit_code == 0 and "not those of this input" in result.stderr
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == [f"b{i}" for i in range(5)]


def test_null_ids_and_bad_bytes_in_jsonl_are_said(cli, tmp_path):
    app, _ = cli
    source = tmp_path / "in.jsonl"
    source.write_bytes(b'{"id": null, "text": "Sales rose."}\n{"id": 2, "text": "Caf\xe9 sales rose."}\n'
                       b'{"id": 3, "text": "Caf\xe9 sales fell."}\n')  # fmt: skip
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["sentiment", "--input", str(source), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == [2, 3]
    assert "in.jsonl:1:" in result.stderr and "null" in result.stderr
    assert result.stderr.count("not valid UTF-8") == 1 and "in.jsonl:2:" in result.stderr
    assert "1 skipped" in result.stderr  # the null id; the lines with bad bytes are still scored


def test_usage_errors_say_what_is_wrong(cli, tmp_path):
    app, _ = cli
    nothing = CliRunner().invoke(app, ["sentiment"])
    assert nothing.exit_code == 2 and "nothing to score" in nothing.stderr
    folder = CliRunner().invoke(app, ["sentiment", "--input", str(tmp_path)])
    assert folder.exit_code == 2 and "a folder" in folder.stderr
    (tmp_path / "in.jsonl").write_text('{"id": 1, "text": "x"}\n')
    into = CliRunner().invoke(app, ["sentiment", "--input", str(tmp_path / "in.jsonl"), "--output", str(tmp_path)])
    assert into.exit_code == 2 and "a folder" in into.stderr
    csv_folder = CliRunner().invoke(app, ["eval-sentiment", "--data", str(tmp_path)])
    assert csv_folder.exit_code == 2 and "a folder" in csv_folder.stderr


def test_eval_sentiment_reads_common_label_spellings_and_names_ragged_rows(monkeypatch, tmp_path):
    app = scoring_app(monkeypatch, CountingScorer())
    data = tmp_path / "gold.csv"
    data.write_text(
        "text,label\n"
        "Sales rose,Bullish\nCosts fell,bearish\nShares fell,NEG\nProfit rose, pos \n"  # 2-5: all read
        "Orders rose,positive,\n"  # 6: a trailing empty field, harmless
        "Profit rose,positive,extra\n"  # 7: a field too many
        "Sales fell\n"  # 8: no label field
        '"Margins rose,positive\nSales fell,negative\n'  # 9: a quote never closed swallows the rest
    )
    result = CliRunner().invoke(app, ["eval-sentiment", "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n"] == 5 and report["accuracy"] == 1.0 and report["left_out"] == 3
    assert "gold.csv:7: 3 fields where the header has 2" in result.stderr
    assert "gold.csv:8: 1 field where the header has 2" in result.stderr
    assert "gold.csv:9:" in result.stderr and "never closed" in result.stderr
    text = CliRunner().invoke(app, ["eval-sentiment", "--data", str(data)]).stdout
    assert "5 rows (3 left out, named above)" in text


def test_macro_f1_averages_the_labels_that_occur():
    # one negative and one positive row, both right: nothing was wrong, so 1.0, as sklearn's default
    # (labels from the data) gives, not 2/3 with an absent neutral counted as F1 0
    from sklearn.metrics import f1_score

    report = cli_sentiment.evaluation_report([0, 2], [0, 2])
    assert report["macro_f1"] == 1.0 == f1_score([0, 2], [0, 2], average="macro")
    # a label only predicted still counts (a false positive costs), as in sklearn
    report = cli_sentiment.evaluation_report([0, 0, 2], [0, 1, 2])
    assert report["macro_f1"] == pytest.approx(f1_score([0, 0, 2], [0, 1, 2], average="macro"))
