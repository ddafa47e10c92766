"""Financial sentiment: transformer scoring of sentences, and the ``lens_sentiment`` spaCy component.

``SentimentModel.predict(texts)`` returns probabilities (n, 3) in the order negative, neutral,
positive. Texts are tokenised once, sorted by length and run in buckets of ``batch_size`` so a
batch pads only to its own longest text. Texts longer than ``max_length`` tokens are truncated
(the model sees their start) and counted; nothing is dropped, and an item that cannot be scored
gets a NaN row plus a per-item error instead of failing its batch.

The spaCy component scores every ``doc.sents`` sentence, batching sentences across documents in
``pipe()``, and stores ``Doc._.sent_probs`` (n_sents × 3). ``sentence_rows``, ``entity_sentiment``
and ``article_sentiment`` turn that into the numbers of the sentences/entities tables.
"""

from __future__ import annotations

import logging
import math
import platform
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import torch
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import minibatch

from models.registry import (
    CASCADES,
    DEFAULT_MODEL,
    LABELS,
    LoadedSentimentModel,
    SentimentModelError,
    load_sentiment_model,
    strip_urls,
)

from .prepack import can_prepack, prepack_linears
from .sentences import sentence_starts, sentences

if TYPE_CHECKING:
    from .cascade import CascadeModel

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")
# A word-piece token rarely spans more than this many characters; texts are cut to
# max_length × this before tokenising, so a 50,000-character input costs no more than a page.
CHARS_PER_TOKEN_BOUND = 24
# Pad batch widths to a multiple of this: fewer distinct shapes for oneDNN/cuBLAS kernels,
# which compile and keep one kernel per shape. Encoding varied news sentences on a bf16 Xeon:
# no padding 230 sentences/s and the process at 1,340 MB after 14,400 sentences; 8: 257/s,
# 940 MB; 16: 250/s, 850 MB; 32: 220/s, 750 MB (before partial batches were padded to 16 rows,
# which bounds the shapes far more). On a 2-core AVX2 EPYC in int8, 16 made the 400 FPB bench
# sentences 1.44 times their real tokens and 8 made them 1.27: 191 against 220 sentences/s, the
# same probabilities to the bit, and `lens analyze` of 128 bench articles 57.0 / 57.0 s against
# 53.5 / 54.6 s; every (rows, width) shape once grew the process by 198 MB with 8, 166 with 16.
PAD_MULTIPLE = 8
# Partial batches are padded to a multiple of this many rows (`pad_rows`, which says why).
ROW_MULTIPLE = 16
# What a compiled model first runs (SentimentModel._compile): texts of different lengths, so the
# graph it compiles takes neither one width nor one token count for a constant.
_WARM_UP = ("Shares fell.", "The company said on Monday that its quarterly operating profit rose sharply.")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


# Devices already logged: every component and stage of a run asks (the later ones with the
# device the first resolved "auto" to), and one line with the first reason says it.
_announced: set[str] = set()


def _announce(device: torch.device, why: str) -> None:
    if str(device) not in _announced:
        _announced.add(str(device))
        log.info("device: %s (%s)", device, why)


def select_device(requested: str | None = "auto") -> torch.device:
    """cuda → mps → cpu when ``auto``; a forced device that is not there is an error. Each
    choice is logged once per process."""
    choice = (requested or "auto").strip().lower()
    kind = choice.split(":", 1)[0]
    if kind not in DEVICES:
        raise SentimentModelError(f"device {requested!r}: unknown; use one of {', '.join(DEVICES)}")
    if kind == "auto":
        if torch.cuda.is_available():
            device, why = torch.device("cuda"), f"CUDA available ({torch.cuda.get_device_name(0)})"
        elif _mps_available():
            device, why = torch.device("mps"), "Apple MPS available"
        else:
            device, why = torch.device("cpu"), "no CUDA or MPS device"
        _announce(device, f"auto: {why}")
        return device
    if kind == "cuda" and not torch.cuda.is_available():
        raise SentimentModelError(
            f"device {requested!r}: torch sees no CUDA GPU here; use --device auto or cpu"
        )
    if kind == "mps" and not _mps_available():
        raise SentimentModelError(f"device {requested!r}: Apple MPS is not available; use --device auto or cpu")
    try:
        device = torch.device(choice)
    except RuntimeError:
        raise SentimentModelError(f"device {requested!r}: not a device torch knows (e.g. cpu, cuda, cuda:1)") from None
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise SentimentModelError(f"device {requested!r}: torch sees {torch.cuda.device_count()} CUDA GPU(s), "
                                  "numbered from 0")  # fmt: skip
    _announce(device, "forced")
    return device


def cpu_has_bf16_matmul() -> bool:
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def _x86_64() -> bool:
    # the int8 kernels (fbgemm/oneDNN) are measured on x86-64 only
    return platform.machine().lower() in ("x86_64", "amd64")


def check_precision(requested: str | None) -> str:
    """The precision asked for, lower-cased ("auto" for none); SentimentModelError if unknown."""
    choice = (requested or "auto").lower()
    if choice not in PRECISIONS:
        raise SentimentModelError(f"precision {requested!r}: unknown; use one of {', '.join(PRECISIONS)}")
    return choice


def select_precision(device: torch.device, requested: str | None = "auto", int8_checked: bool = False) -> str:
    """fp16 on CUDA; on CPU bf16 where the cores multiply bf16 natively (AMX/AVX512-BF16), else
    int8 for the models whose int8 form was measured against fp32 (`int8_checked`), else fp32."""
    choice = check_precision(requested)
    if choice != "auto":
        if device.type != "cpu" and choice in ("bf16", "int8"):
            raise SentimentModelError(f"precision {choice!r} is for the CPU; on {device.type} use fp16 or fp32")
        if device.type == "cpu" and choice == "fp16":
            raise SentimentModelError("precision 'fp16' is for GPUs; on the CPU use bf16, int8 or fp32")
        return choice
    if device.type == "cuda":
        return "fp16"
    if device.type == "cpu" and cpu_has_bf16_matmul():
        return "bf16"
    if device.type == "cpu" and int8_checked and _x86_64():
        return "int8"
    return "fp32"


def default_batch_size(device: torch.device) -> int:
    """Sentences per forward pass: a GPU wants wide batches to stay busy (fp16, 256 short
    sentences are a few MB); on the CPU, 64 length-sorted sentences measured best."""
    return 256 if device.type == "cuda" else 64


def prepare_model(
    model: torch.nn.Module, device: torch.device, precision: str, tokenizer=None, prepack: bool = True
) -> torch.nn.Module:
    """The model in eval mode on `device` at `precision`, changed in place.

    int8 (CPU only) needs the model's tokenizer: the scales of its activations are measured on
    a fixed set of sentences (nlp/int8.py). bf16 on a CPU gets its linear layers' weights
    reordered once for oneDNN (nlp/prepack.py) unless `prepack` is False: a model about to be
    compiled, whose compiler does the same with weights it can read."""
    model = model.eval()
    if precision == "int8":
        if tokenizer is None:
            raise SentimentModelError("precision 'int8' needs the model's tokenizer to calibrate it")
        from .int8 import quantize

        try:
            return quantize(model.float(), tokenizer)
        except ValueError as exc:  # not a BERT-style encoder: say so in one line
            raise SentimentModelError(f"precision 'int8': {exc}") from None
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    model = model.to(device=device, dtype=dtype)
    if prepack and can_prepack(device, dtype):
        prepack_linears(model)
    return model


@dataclass
class SentimentResult:
    probs: np.ndarray  # (n, 3) negative, neutral, positive; NaN rows where errors has the item
    truncated: np.ndarray  # (n,) bool: the model saw only the first max_length tokens
    errors: dict[int, str] = field(default_factory=dict)
    # (n, dim) unit-length sentence vectors when asked for and the model gives them (its
    # `vector_space`); zero rows for blank texts and for the items in errors
    vectors: np.ndarray | None = None

    @property
    def n_truncated(self) -> int:
        return int(self.truncated.sum())

    @property
    def labels(self) -> list[str | None]:
        return [None if np.isnan(row).any() else LABELS[int(row.argmax())] for row in self.probs]

    @property
    def scores(self) -> np.ndarray:
        return sentiment_scores(self.probs)


class SentimentModel:
    """A sentence classifier on the best device, scoring texts in length-sorted buckets."""

    def __init__(
        self,
        model: str | LoadedSentimentModel = DEFAULT_MODEL,
        device: str = "auto",
        batch_size: int | None = None,
        max_length: int | None = None,
        threads: int | None = None,
        precision: str = "auto",
        compiled: bool = False,
    ) -> None:
        if batch_size is not None and batch_size < 1:
            raise SentimentModelError(f"batch size {batch_size}: must be at least 1")
        if threads:
            torch.set_num_threads(int(threads))
        loaded = load_sentiment_model(model) if isinstance(model, str) else model
        self.name = loaded.name
        self.tokenizer = loaded.tokenizer
        self.label_columns = loaded.label_columns
        self.strip_urls = loaded.strip_urls
        self.max_length = int(max_length or loaded.max_length)
        self.device = select_device(device)
        self.batch_size = int(batch_size or default_batch_size(self.device))
        self.precision = select_precision(self.device, precision, int8_checked=loaded.int8_checked)
        self.model = prepare_model(loaded.model, self.device, self.precision, self.tokenizer, prepack=not compiled)
        self.compiled = bool(compiled) and self._compile()
        # Numbers differ in the last bits between precisions, and compiled or not, so the space
        # is named with both.
        form = self.precision + ("+compiled" if self.compiled else "")
        self.vector_space = f"{loaded.vector_space}/{form}" if loaded.vector_space else None
        self.dim = int(loaded.model.encoder.config.hidden_size) if loaded.vector_space else None
        self.n_truncated_total = 0
        log.info(
            "sentiment model %s on %s, %s%s, batch %d, max %d tokens, %d threads",
            self.name, self.device, self.precision, ", compiled" if self.compiled else "", self.batch_size,
            self.max_length, torch.get_num_threads(),
        )

    def _compile(self) -> bool:
        """Compile the model with torch.compile (inductor) and run it once here, so that a run
        pays for compiling at load rather than in its first batch. False, with the model left as
        it was, where compiling fails (no C++ compiler, a form inductor cannot take).

        The gain is on the CPU (docs/scaling.md, 2026-12-04): with the weights frozen into the
        graph, oneDNN keeps them in its own blocked layout instead of reordering them at every
        call (as uncompiled bf16 models now do too: nlp/prepack.py), and the small operations
        between the matrix products are fused. Compiling takes
        15-40 s in every new process, so it is for long batches only."""
        if self.precision == "int8":
            # nlp/int8.py's layers hold per-layer buffers that dynamo guards one by one: it
            # recompiles at each layer until its limit and gains nothing
            log.warning("sentiment model %s: the int8 form is not compiled; it runs as it is", self.name)
            return False
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True  # inference only: weights become constants of the graph
        eager, started = self.model, time.perf_counter()
        # dynamic: one graph for every batch width and token count, not one compile per shape
        self.model = torch.compile(eager, dynamic=True)
        try:
            with torch.inference_mode(), warnings.catch_warnings():
                # models/packed_bert.py reaches transformers' functions through an lru_cache that
                # only imports them: tracing through it is the same, and the warning is noise
                warnings.filterwarnings("ignore", message="Dynamo detected a call to a `functools.lru_cache`")
                self.model(**pad_rows(self._collate(self._encode(_WARM_UP)[0]))[0])
        except Exception as exc:  # noqa: BLE001 - whatever the compiler raises, the model still works uncompiled
            log.warning("sentiment model %s: cannot compile (%s); it runs uncompiled",
                        self.name, str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
            # the form it would have had uncompiled: prepare_model again, now with its prepacking
            self.model = prepare_model(eager, self.device, self.precision, self.tokenizer)
            return False
        log.info("sentiment model %s compiled in %.1f s", self.name, time.perf_counter() - started)
        return True

    # -- tokenising ---------------------------------------------------------------------------
    def _encode(self, texts: Sequence[str]) -> tuple[list[list[int]], np.ndarray]:
        limit = self.max_length * CHARS_PER_TOKEN_BOUND
        clipped = [t[:limit] for t in texts]
        cut = np.array([len(t) > limit and not t[limit:].isspace() for t in texts], dtype=bool)
        encoded = self.tokenizer(clipped, truncation=True, max_length=self.max_length)
        ids = encoded["input_ids"]
        if getattr(encoded, "encodings", None):  # fast tokenizer: overflow is recorded per item
            over = np.array([len(e.overflowing) > 0 for e in encoded.encodings], dtype=bool)
        else:
            full = self.tokenizer(clipped, truncation=False)["input_ids"]
            over = np.array([len(f) > len(i) for f, i in zip(full, ids, strict=True)], dtype=bool)
        return ids, cut | over

    def _collate(self, rows: list[list[int]]) -> dict[str, torch.Tensor]:
        longest = max(len(r) for r in rows)
        width = min(math.ceil(longest / PAD_MULTIPLE) * PAD_MULTIPLE, max(longest, self.max_length))
        pad_id = self.tokenizer.pad_token_id or 0
        input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        return {
            "input_ids": torch.from_numpy(input_ids).to(self.device),
            "attention_mask": torch.from_numpy(mask).to(self.device),
        }

    def _forward(self, rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray | None]:
        """Probabilities (negative, neutral, positive) and, from a model with a `vector_space`,
        the unit-length mean-pooled vectors of the same pass."""
        batch, n = pad_rows(self._collate(rows))
        output = self.model(**batch)
        probs = torch.softmax(output.logits.float()[:n], dim=-1).cpu().numpy()
        out = np.zeros((len(rows), len(LABELS)), dtype=np.float32)
        for j, column in enumerate(self.label_columns):
            if column >= 0:
                out[:, j] = probs[:, column]
        if any(c < 0 for c in self.label_columns):  # a two-class model: renormalise what it has
            out /= out.sum(axis=1, keepdims=True)
        # (a model with a class of another name is refused at load: models/registry.label_columns)
        vectors = None
        if self.vector_space:
            # normalised in float32: unit length to 1e-6 whatever the model's precision
            vectors = torch.nn.functional.normalize(output.vectors[:n].float(), dim=-1).cpu().numpy()
        return out, vectors

    # -- scoring ------------------------------------------------------------------------------
    def score(self, texts: Iterable[object], vectors: bool = False, batch_size: int | None = None) -> SentimentResult:
        """Probabilities, truncation flags and per-item errors; one bad item never fails the rest.
        With `vectors` (a model with a `vector_space` only), the sentence vectors of the same pass;
        `batch_size` overrides the model's for this call."""
        items = list(texts)
        probs = np.full((len(items), len(LABELS)), np.nan, dtype=np.float32)
        truncated = np.zeros(len(items), dtype=bool)
        errors: dict[int, str] = {}
        if vectors and not self.vector_space:
            raise SentimentModelError(f"{self.name}: gives no sentence vectors (not trained with --keep-space)")
        vecs = np.zeros((len(items), self.dim), dtype=np.float32) if vectors else None
        valid = []
        for i, text in enumerate(items):
            problem = text_problem(text)
            if problem is None:
                valid.append(i)
            else:
                errors[i] = problem
        if not valid:
            return SentimentResult(probs, truncated, errors, vecs)
        texts_ok = [items[i] for i in valid]
        if self.strip_urls:
            texts_ok = [strip_urls(t) for t in texts_ok]
        ids, cut = self._encode(texts_ok)
        truncated[valid] = cut
        with torch.inference_mode():
            for bucket in length_buckets([len(r) for r in ids], batch_size or self.batch_size):
                rows = [ids[j] for j in bucket]
                targets = [valid[j] for j in bucket]
                try:
                    probs[targets], found = self._forward(rows)
                    if vecs is not None:
                        vecs[targets] = found
                except RuntimeError as exc:  # e.g. out of memory: retry one by one
                    log.warning("sentiment batch of %d failed (%s); retrying items singly", len(rows), exc)
                    for row, target in zip(rows, targets, strict=True):
                        try:
                            one, found = self._forward([row])
                            probs[target] = one[0]
                            if vecs is not None:
                                vecs[target] = found[0]
                        except RuntimeError as item_exc:
                            errors[target] = f"model failed on this text: {str(item_exc).splitlines()[0]}"
        n_cut = int(truncated.sum())
        if n_cut:
            self.n_truncated_total += n_cut
            # a debug line: the commands total the count (n_truncated_total) and say it once
            log.debug("%d of %d texts truncated to %d tokens", n_cut, len(items), self.max_length)
        if vecs is not None:
            # as the sentence encoder's contract: a blank text has no direction
            vecs[[i for i, t in enumerate(items) if not isinstance(t, str) or not t.strip()]] = 0.0
        return SentimentResult(probs, truncated, errors, vecs)

    def predict(self, texts: Iterable[object]) -> np.ndarray:
        """(n, 3) probabilities in the order negative, neutral, positive (NaN rows for bad items)."""
        return self.score(texts).probs


def text_problem(text: object) -> str | None:
    """Why `text` cannot be scored, or None: not a string, or not valid Unicode (a lone surrogate,
    what a tool leaves when it cuts an emoji in half, or undecodable bytes passed on by Python),
    which the tokenizer would reject for its whole batch."""
    if not isinstance(text, str):
        return f"text must be a string, got {type(text).__name__}"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"text is not valid Unicode ({exc.reason} at character {exc.start}); fix its encoding"
    return None


def length_buckets(lengths: Sequence[int], size: int) -> list[list[int]]:
    """Positions grouped `size` at a time by length (cut from the shortest up), the longest
    bucket first.

    Longest first because of glibc's heap: shortest first, each forward pass asks for
    larger activations than any block the last one freed, so they come from fresh memory
    at the top of the heap and the freed blocks stay behind as holes. The parent's heap
    grew to 1 GB for 350 MB in use; longest first, the later, smaller passes fit in the
    holes (one process, 10,395 sentences: peak RSS 1,016-1,043 MB against 1,140-1,337;
    256 bench articles: parent peak PSS 1,025-1,117 MB against 1,396-1,404, same time).
    The buckets themselves are the same, so are the numbers."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    return [order[i : i + size] for i in range(0, len(order), size)][::-1]


def pad_rows(batch: dict[str, torch.Tensor], multiple: int = ROW_MULTIPLE) -> tuple[dict[str, torch.Tensor], int]:
    """Repeat the last row until the batch has a multiple of ``multiple`` rows; returns the
    padded tensors and the number of real rows (the outputs of the copies are dropped).

    On the CPU oneDNN compiles a kernel for every new input shape and keeps it, about 3 MB
    each. Widths are already padded (PAD_MULTIPLE), but a partial batch can have any number of
    rows: feeding the 512 shapes of 1-64 rows by 8 widths took a process from 0.5 to 2.2 GB,
    and still rising, against a flat 0.85 GB with rows padded to 16 (docs/scaling.md). Over a
    long run ever more of those shapes turn up, so the parent grew with the number of articles."""
    rows = next(iter(batch.values())).shape[0]
    extra = -rows % multiple
    if not extra:
        return batch, rows
    # a copy of a real row keeps the attention mask valid (an all-padding row can give NaN)
    return {k: torch.cat([v, v[-1:].expand(extra, *v.shape[1:])]) for k, v in batch.items()}, rows


# -- pure arithmetic on probability rows ----------------------------------------------------------
def sentiment_scores(probs: np.ndarray) -> np.ndarray:
    """score = P(positive) − P(negative), in [−1, 1]."""
    probs = np.asarray(probs, dtype=np.float64).reshape(-1, len(LABELS))
    return probs[:, 2] - probs[:, 0]


def weighted_sentiment(probs: np.ndarray, weights: Sequence[float] | np.ndarray | None = None) -> float | None:
    """Mean score weighted by each row's confidence (its top probability) times ``weights``.

    Rows that could not be scored (NaN) are left out; None when nothing is left to average.
    """
    probs = np.asarray(probs, dtype=np.float64).reshape(-1, len(LABELS))
    w = np.ones(len(probs)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(probs),):
        raise ValueError(f"weights: expected {len(probs)} values (one per sentence), got shape {w.shape}")
    ok = ~np.isnan(probs).any(axis=1)
    w = np.where(ok, w * np.nan_to_num(probs.max(axis=1)), 0.0)
    if w.sum() <= 0:
        return None
    return float(np.dot(w, np.nan_to_num(sentiment_scores(probs))) / w.sum())


def sentence_weights(
    n_sents: int,
    entity_sents: Iterable[int] = (),
    catalyst_sents: Iterable[int] = (),
    base: float = 1.0,
    entity: float = 2.0,
    catalyst: float = 3.0,
) -> np.ndarray:
    """Per-sentence weights for ``article_sentiment``: boilerplate 1, entity 2, catalyst 3 (max)."""
    weights = np.full(n_sents, base, dtype=np.float64)
    for idx in entity_sents:
        weights[idx] = max(weights[idx], entity)
    for idx in catalyst_sents:
        weights[idx] = max(weights[idx], catalyst)
    return weights


# -- spaCy ------------------------------------------------------------------------------------------
# sent_vectors and vector_space are shared with lens_catalysts (whichever module loads first)
for _name, _default in (("sent_probs", None), ("sent_truncated", None), ("sent_vectors", None), ("vector_space", None)):
    if not Doc.has_extension(_name):
        Doc.set_extension(_name, default=_default)


def _doc_sentences(doc: Doc) -> list[Span]:
    if len(doc) and not (doc.has_annotation("SENT_START") or doc.has_annotation("DEP")):
        raise SentimentModelError(
            "lens_sentiment needs sentence boundaries: add 'sentencizer' or 'parser' before it"
        )
    return sentences(doc)


class SentimentComponent:
    """Scores each sentence; ``pipe`` batches the sentences of many documents together."""

    def __init__(self, name: str, model: SentimentModel) -> None:
        self.name = name
        self.model = model

    def __call__(self, doc: Doc) -> Doc:
        return next(iter(self.pipe([doc])))

    def pipe(self, docs: Iterable[Doc], batch_size: int = 128) -> Iterator[Doc]:
        space = getattr(self.model, "vector_space", None)  # any scorer with score(texts) will do
        for batch in minibatch(docs, size=batch_size):
            sents = [_doc_sentences(doc) for doc in batch]
            texts = [s.text for doc_sents in sents for s in doc_sents]
            result = self.model.score(texts, vectors=True) if space else self.model.score(texts)
            start = 0
            for doc, doc_sents in zip(batch, sents, strict=True):
                end = start + len(doc_sents)
                doc._.sent_probs = result.probs[start:end]
                doc._.sent_truncated = result.truncated[start:end]
                if space:
                    # the pass that gave the tone also gave the sentence vectors: lens_catalysts
                    # (after this component) and the narratives read them instead of encoding again
                    doc._.sent_vectors = result.vectors[start:end]
                    doc._.vector_space = space
                start = end
                yield doc


@Language.factory(
    "lens_sentiment",
    default_config={
        "model": DEFAULT_MODEL,
        "device": "auto",
        "batch_size": None,
        "max_length": None,
        "threads": None,
        "precision": "auto",
    },
)
def make_sentiment_component(
    nlp: Language,
    name: str,
    model: str,
    device: str,
    batch_size: int | None,
    max_length: int | None,
    threads: int | None,
    precision: str,
) -> SentimentComponent:
    if threads:
        torch.set_num_threads(int(threads))
    return SentimentComponent(
        name, shared_sentiment_model(model, device=device, batch_size=batch_size, max_length=max_length, precision=precision)
    )


def shared_sentiment_model(
    model: str = DEFAULT_MODEL,
    device: str = "auto",
    batch_size: int | None = None,
    max_length: int | None = None,
    precision: str = "auto",
) -> SentimentModel | CascadeModel:
    """One instance per process and settings: the pipeline's component and the sentence encoder
    (nlp.catalysts.load_sentence_encoder) share the bundled model's weights and its int8 scales.
    A cascade's name (models/registry.py: CASCADES) gives a CascadeModel over two such models."""
    # "auto" and the device it picks are one model, not two
    return _shared_sentiment_model(model, str(select_device(device)), batch_size, max_length, precision)


@lru_cache(maxsize=4)
def _shared_sentiment_model(model, device, batch_size, max_length, precision) -> SentimentModel | CascadeModel:
    # positional only: lru_cache keys f(a, b=1) and f(a) apart, however the caller spelt them
    if model in CASCADES:
        return _cascade(model, lambda name: _shared_sentiment_model(name, device, batch_size, max_length, precision))
    return SentimentModel(model, device=device, batch_size=batch_size, max_length=max_length, precision=precision)


def sentiment_scorer(model: str | LoadedSentimentModel = DEFAULT_MODEL, **settings) -> SentimentModel | CascadeModel:
    """A scorer of its own (a command's, a benchmark's): a SentimentModel, or for a cascade's name
    a CascadeModel over two; `settings` are SentimentModel's."""
    if isinstance(model, str) and model.strip() in CASCADES:
        return _cascade(model.strip(), lambda name: SentimentModel(name, **settings))
    return SentimentModel(model, **settings)


def _cascade(name: str, build) -> CascadeModel:
    from .cascade import CascadeModel

    fast, accurate, threshold = CASCADES[name]
    return CascadeModel(name, build(fast), build(accurate), threshold)


def _probs(doc: Doc) -> np.ndarray:
    probs = doc._.sent_probs
    if probs is None:
        raise SentimentModelError("doc has no sentence sentiment: run it through 'lens_sentiment' first")
    return probs


def sentence_rows(doc: Doc) -> list[dict]:
    """One row per sentence, with the columns of the sentences table (less article_id)."""
    probs = _probs(doc)
    rows = []
    for idx, (sent, row) in enumerate(zip(sentences(doc), probs, strict=True)):
        ok = not np.isnan(row).any()
        rows.append({
            "sent_idx": idx,
            "start_char": sent.start_char,
            "end_char": sent.end_char,
            "text": sent.text,
            "label": LABELS[int(row.argmax())] if ok else None,
            "score": float(row[2] - row[0]) if ok else None,
            "p_negative": float(row[0]) if ok else None,
            "p_neutral": float(row[1]) if ok else None,
            "p_positive": float(row[2]) if ok else None,
        })
    return rows


def sentence_indices(doc: Doc, spans: Iterable[Span | int]) -> list[int]:
    """Sentence numbers (0-based, in doc order) holding each span; ints pass through as indices."""
    starts = sentence_starts(doc)
    found = set()
    for span in spans:
        found.add(int(span) if isinstance(span, int | np.integer) else int(np.searchsorted(starts, span.start, side="right") - 1))
    return sorted(found)


def entity_sentiment(doc: Doc, spans: Iterable[Span | int]) -> float | None:
    """Confidence-weighted mean score of the sentences mentioning ``spans`` (each counted once).

    Works the same for a catalyst mention: pass its trigger span or its sentence index.
    """
    idx = sentence_indices(doc, spans)
    return weighted_sentiment(_probs(doc)[idx]) if idx else None


def article_sentiment(doc: Doc, weights: Sequence[float] | np.ndarray | None = None) -> float | None:
    """Confidence- and ``weights``-weighted mean score over all sentences (see ``sentence_weights``)."""
    return weighted_sentiment(_probs(doc), weights)
