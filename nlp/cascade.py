"""A second opinion for the sentences the fast model is unsure of.

``finance-cascade`` scores every sentence with ``finance-minilm`` and scores again with
``finance-mpnet`` those whose two most likely labels are closer than a margin threshold; the
accurate model's probabilities replace the fast one's there. Sentence vectors come from the fast
pass for every sentence, so the catalysts and narratives see one vector space whatever the tone
model did. The threshold (models/registry.py: CASCADES) was chosen on the validation rows by
models/fit_cascade.py, as the margin below which a fixed share of them falls.
``nlp.sentiment.sentiment_scorer("finance-cascade")`` builds one; ``shared_sentiment_model`` builds
it from the process's shared instances of the two models.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np

from .sentiment import SentimentModel, SentimentResult

log = logging.getLogger(__name__)

# The unsure sentences are few and of every length. The accurate model's matrices see only their
# real tokens (models/packed_bert.py), but its attention still runs over a grid padded to the
# longest sentence of a bucket, and very small buckets make small, slow matrix products. On the
# bf16 EPYC, the 56 unsure FPB sentences of 400 (1,857 tokens) took 1.03 s in buckets of 8,
# 0.66 s of 16, 0.65 s of 32 and 0.70 s of 64 (padded grids before packing: 0.76 s of 16, 1.15 s
# of 64).
SECOND_PASS_BATCH = 16


def second_pass_batch(model: SentimentModel) -> int:
    """Sentences per batch of a second opinion: SECOND_PASS_BATCH on the CPU; on a GPU the
    model's own wide batches, which keep it busy (nlp/sentiment.py: default_batch_size)."""
    return SECOND_PASS_BATCH if model.device.type == "cpu" else model.batch_size


def top_two_margin(probs: np.ndarray) -> np.ndarray:
    """P(most likely label) − P(second most likely), per row; NaN rows stay NaN."""
    ordered = np.sort(np.asarray(probs, dtype=np.float64), axis=1)
    return ordered[:, -1] - ordered[:, -2]


class CascadeModel:
    """The scorer interface of SentimentModel (score, predict, vector_space, ...) over two models."""

    def __init__(self, name: str, fast: SentimentModel, accurate: SentimentModel, threshold: float) -> None:
        self.name = name
        self.fast, self.accurate, self.threshold = fast, accurate, float(threshold)
        self.vector_space, self.dim = fast.vector_space, fast.dim
        self.max_length = min(fast.max_length, accurate.max_length)
        self.device = fast.device
        self.precision = fast.precision if fast.precision == accurate.precision else f"{fast.precision}+{accurate.precision}"
        self.compiled = fast.compiled and accurate.compiled
        self.n_scored = self.n_second = 0
        log.info("sentiment cascade %s: %s, then %s below margin %.3f", name, fast.name, accurate.name, self.threshold)

    @property
    def n_truncated_total(self) -> int:
        return self.fast.n_truncated_total

    def score(self, texts: Iterable[object], vectors: bool = False) -> SentimentResult:
        items = list(texts)
        result = self.fast.score(items, vectors=vectors)
        unsure = np.flatnonzero(top_two_margin(result.probs) < self.threshold)  # NaN rows compare False
        self.n_scored += len(items) - len(result.errors)
        if len(unsure):
            again = self.accurate.score([items[i] for i in unsure], batch_size=second_pass_batch(self.accurate))
            kept = [j for j in range(len(unsure)) if j not in again.errors]  # else the fast answer stands
            result.probs[unsure[kept]] = again.probs[kept]
            result.truncated[unsure] |= again.truncated
            self.n_second += len(kept)
        return result

    def predict(self, texts: Iterable[object]) -> np.ndarray:
        return self.score(texts).probs
