"""The int8 form (nlp/int8.py): which layers it replaces, fixed activation scales, and that a
text's numbers do not depend on the batch it is scored in. A small random BERT with the real
MiniLM tokenizer; the real models' int8 accuracy is in test_sentiment_model.py (slow)."""

from __future__ import annotations

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from nlp import int8
from nlp.sentiment import SentimentModelError, prepare_model

TEXTS = [
    "Profit rose 12% on strong cloud demand.",
    "Shares fell after the company cut its full-year guidance and warned of weaker orders in China.",
    "Tariffs went up.",
    "The central bank lowered the reserve requirement ratio by 50 basis points to support lending.",
]


def small_bert(layers: int = 3) -> BertForSequenceClassification:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=64, num_hidden_layers=layers, num_attention_heads=2,
                        intermediate_size=128, num_labels=3)
    return BertForSequenceClassification(config).eval()


def logits(model, tokenizer, texts):
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        return model(**batch).logits


def test_query_key_value_and_feed_forward_of_every_layer_but_the_first_are_replaced(tokenizer):
    model = prepare_model(small_bert(), torch.device("cpu"), "int8", tokenizer)
    replaced = sorted(n for n, m in model.named_modules() if isinstance(m, int8.Int8Linear))
    # five matrices per layer: query, key, value, intermediate, output; layers 1 and 2
    assert len(replaced) == 2 * 5 and all(".layer.1." in n or ".layer.2." in n for n in replaced)
    kept = {n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    assert {"classifier", "bert.pooler.dense", "bert.encoder.layer.1.attention.output.dense"} <= kept
    assert sum(".layer.0." in n for n in kept) == 6


def test_weights_get_one_scale_per_output_channel():
    linear = torch.nn.Linear(8, 3)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[1.0] * 8, [100.0] * 8, [0.01] * 8]))
        linear.bias.zero_()
    q = int8.Int8Linear(linear, -1.0, 1.0)
    x = torch.full((2, 8), 0.5)
    # with one scale for the matrix, the 0.01 row would round to zero; per channel it keeps 2%.
    # Every weight at its channel's maximum and inputs near the top of their range is also the
    # case where 8-bit inputs saturated fbgemm's int16 pair sums (the output came out 64× small)
    out = q(x)
    torch.testing.assert_close(out, linear(x), rtol=0.02, atol=0.0)


def test_inputs_outside_the_calibrated_range_are_clipped_not_wrapped():
    linear = torch.nn.Linear(1, 1)
    with torch.no_grad():
        linear.weight.fill_(1.0)
        linear.bias.zero_()
    q = int8.Int8Linear(linear, -2.0, 2.0)
    out = q(torch.tensor([[1.0], [50.0], [-50.0]])).flatten()
    assert out[0] == pytest.approx(1.0, abs=0.02)
    assert out[1] == pytest.approx(2.0, abs=0.02) and out[2] == pytest.approx(-2.0, abs=0.02)


def test_an_outlier_input_channel_does_not_cost_the_other_channels_their_precision():
    """One channel reaching 30 while the others stay within 1, as MiniLM's feed-forward inputs
    do: with one 7-bit scale for all (no smoothing) a step is ~0.47 and the small channels'
    products are lost; smoothing moves the outlier's range into its weight column."""
    torch.manual_seed(1)
    linear = torch.nn.Linear(16, 4)
    low, high = [-1.0] * 16, [1.0] * 16
    low[3], high[3] = -30.0, 30.0
    x = torch.rand(64, 16) * 2 - 1
    x[:, 3] *= 30
    exact = linear(x).detach()
    errors = {a: (int8.Int8Linear(linear, low, high, smoothing=a)(x) - exact).abs().mean().item() for a in (0.0, 0.8)}
    assert errors[0.8] < errors[0.0] / 2  # measured: 0.015 against 0.039
    assert errors[0.8] < 0.01 * exact.abs().mean().item()


def test_int8_logits_stay_close_to_fp32(tokenizer):
    exact = logits(small_bert(), tokenizer, TEXTS)
    quick = logits(prepare_model(small_bert(), torch.device("cpu"), "int8", tokenizer), tokenizer, TEXTS)
    assert torch.allclose(quick, exact, atol=0.05 * exact.abs().max().item())


def test_a_texts_numbers_do_not_depend_on_its_batch(tokenizer):
    """Dynamic quantisation scales each batch by its own range; the fixed scales must not."""
    model = prepare_model(small_bert(), torch.device("cpu"), "int8", tokenizer)
    together = logits(model, tokenizer, TEXTS)
    for i, text in enumerate(TEXTS):
        torch.testing.assert_close(logits(model, tokenizer, [text])[0], together[i], rtol=1e-5, atol=1e-5)


class PadsFarOut(torch.nn.Module):
    """A stand-in encoder whose padding positions carry huge values into its one Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(30522, 4)
        self.dense = torch.nn.Linear(4, 4)

    def forward(self, input_ids, attention_mask):
        x = torch.where(attention_mask.bool().unsqueeze(-1), self.embed(input_ids).clamp(-3, 3), 1e6)
        return self.dense(x)


def test_calibration_ranges_leave_padding_out(tokenizer):
    # different lengths in one batch, so the shorter texts are padded
    low, high = int8.activation_ranges(PadsFarOut(), tokenizer, TEXTS, ["dense"])["dense"]
    assert len(low) == len(high) == 4  # one range per input channel
    assert -3 <= min(low) < 0 < max(high) <= 3


def test_int8_without_a_tokenizer_or_of_a_model_without_layers_is_a_clear_error(tokenizer):
    with pytest.raises(SentimentModelError, match="tokenizer"):
        prepare_model(small_bert(), torch.device("cpu"), "int8")
    with pytest.raises(SentimentModelError, match="no transformer Linear layers"):
        prepare_model(torch.nn.Sequential(torch.nn.Linear(4, 3)), torch.device("cpu"), "int8", tokenizer)


def test_the_calibration_sentences_come_from_the_taxonomy():
    texts = int8.calibration_texts()
    assert len(texts) >= 200 and all(isinstance(t, str) and t.strip() for t in texts)



def test_ranges_are_measured_once_then_read_from_the_cache(tokenizer, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("LENS_CACHE_DIR", str(tmp_path))
    first = prepare_model(small_bert(), torch.device("cpu"), "int8", tokenizer)
    [cached] = tmp_path.glob("int8-ranges-*.json")

    def measured_again(*_a, **_k):
        raise AssertionError("ranges were measured again despite the cache")

    monkeypatch.setattr(int8, "activation_ranges", measured_again)
    second = prepare_model(small_bert(), torch.device("cpu"), "int8", tokenizer)
    torch.testing.assert_close(logits(second, tokenizer, TEXTS), logits(first, tokenizer, TEXTS))
    # other weights, other key: a retrained model never picks up these ranges
    with pytest.raises(AssertionError, match="measured again"):
        prepare_model(small_bert(layers=2), torch.device("cpu"), "int8", tokenizer)
    monkeypatch.undo()
    monkeypatch.setenv("LENS_CACHE_DIR", str(tmp_path))
    cached.write_text(cached.read_text()[:40])  # truncated: measured again, with one warning line
    third = prepare_model(small_bert(), torch.device("cpu"), "int8", tokenizer)
    assert "ignoring unreadable int8 ranges" in caplog.text
    torch.testing.assert_close(logits(third, tokenizer, TEXTS), logits(first, tokenizer, TEXTS))


def test_with_the_cache_off_nothing_is_written(tokenizer, tmp_path, monkeypatch):
    monkeypatch.setenv("LENS_CACHE_DIR", "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    prepare_model(small_bert(), torch.device("cpu"), "int8", tokenizer)
    assert not list(tmp_path.rglob("*.json"))
