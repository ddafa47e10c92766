"""The accurate model's reading of the sentences that report a catalyst: ``lens_catalyst_tone``.

The tone of a catalyst's sentence is the tone the product leans on most: it becomes the
catalyst's and the timeline event's sentiment, and attribution reads it to decide whether an
event pushed prices up or down (market/attribution.py: event_sign). It is also where the fast
model is weakest. Of the hand-labelled demo corpus sentences (corpus/gold/sentiment_gold.csv)
in which the pipeline finds a catalyst, finance-minilm agreed with the label on 0.48 and
finance-mpnet on 0.73; on FPB company news the two are 4 points apart.

So after ``lens_catalysts`` this component scores those sentences again with the accurate model
and replaces their rows of ``Doc._.sent_probs``: the sentences, entities, catalysts and article
tables then all read one tone per sentence. The sentence vectors, and with them the catalysts
found, stay the fast pass's.

Which model and which sentences: finance-mpnet6, the six-layer model, as accurate as the
12-layer finance-mpnet on every set measured at half its cost; every catalyst sentence on a GPU
and on a CPU that runs it in bf16 (AMX or AVX512-BF16). There, asking all of them cost `lens
analyze` about 3% over the earlier default (finance-mpnet on the unsure third) on the Xeon
with AMX, and lifted agreement with the hand labels of the corpus's catalyst sentences from
0.61 to 0.74. On a CPU without bf16 the model runs in fp32, a sentence costs it several fast
passes, and asking the 39% of sentences that report a catalyst took `lens analyze` under the
0.5 of bare spaCy's speed it must keep; so there only those are asked where the fast model's
two likeliest labels are closer than the cascade's margin (models/registry.py: CASCADES, chosen
on validation rows by models/fit_cascade.py), about a third. The fast model is also wrong on
some sentences it is sure of, so the margin fixes about half of what asking every sentence does
(figures: README, models/sentiment-mpnet/MODEL_CARD.md and docs/scaling.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import numpy as np
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import minibatch

from models.registry import CASCADES

from .cascade import second_pass_batch, top_two_margin
from .sentences import sentences
from .sentiment import SentimentModel, cpu_has_bf16_matmul, select_device, shared_sentiment_model

log = logging.getLogger(__name__)

DEFAULT_TONE_MODEL = "finance-mpnet6"
# The accurate models: as good as each other on every set measured (FPB, TFNS, the corpus
# sentences), so one does not score again what the other has scored.
ACCURATE = frozenset({"finance-mpnet", "finance-mpnet6"})
# The default on a CPU without bf16 matrix units, where the model runs in fp32: the margin below
# which finance-cascade asks its accurate model.
CPU_MARGIN = CASCADES["finance-cascade"][2]

if not Doc.has_extension("sent_rescored"):
    # (n_sents,) bool: True where the row of sent_probs comes from lens_catalyst_tone's model
    Doc.set_extension("sent_rescored", default=None)


def default_margin(device: str = "auto", precision: str = "auto") -> float | None:
    """None (every catalyst sentence) on a GPU and on a CPU that runs the model in bf16 (AMX or
    AVX512-BF16, `precision` auto or bf16); the cascade's margin on other CPUs."""
    if select_device(device).type != "cpu":
        return None
    bf16 = precision == "bf16" or (precision == "auto" and cpu_has_bf16_matmul())
    return None if bf16 else CPU_MARGIN


def asks_every_sentence(margin: float | None) -> bool:
    """Whether `margin` lets every catalyst sentence through: none given, or 1 and above (no
    top-two margin exceeds 1)."""
    return margin is None or margin >= 1


def catalyst_sentences(doc: Doc) -> list[int]:
    """Sentence numbers holding at least one catalyst mention, in order."""
    return sorted({m.sent_idx for m in doc._.catalysts or ()})


class CatalystToneComponent:
    """Scores the catalyst sentences of a batch of Docs again with `model`, in one call: all of
    them, or with `margin` those whose top-two probability margin is below it."""

    def __init__(self, name: str, model: SentimentModel, margin: float | None = None) -> None:
        self.name = name
        self.model = model
        self.margin = margin
        self.n_rescored = 0

    def wanted(self, doc: Doc) -> list[int]:
        """The sentences of `doc` this component scores again."""
        if doc._.sent_probs is None:
            return []
        found = catalyst_sentences(doc)
        if asks_every_sentence(self.margin) or not found:
            return found
        unsure = top_two_margin(doc._.sent_probs[found]) < self.margin  # NaN rows compare False
        return [idx for idx, ask in zip(found, unsure, strict=True) if ask]

    def __call__(self, doc: Doc) -> Doc:
        return next(iter(self.pipe([doc])))

    def pipe(self, docs: Iterable[Doc], batch_size: int = 128) -> Iterator[Doc]:
        for batch in minibatch(docs, size=batch_size):
            for doc in batch:
                if doc._.sent_probs is not None:
                    doc._.sent_rescored = np.zeros(len(doc._.sent_probs), dtype=bool)
            wanted = [(doc, idx) for doc in batch for idx in self.wanted(doc)]
            if wanted:
                spans = {id(doc): sentences(doc) for doc, _ in wanted}
                result = self.model.score(
                    [spans[id(doc)][idx].text for doc, idx in wanted], batch_size=second_pass_batch(self.model)
                )
                for k, (doc, idx) in enumerate(wanted):
                    if k in result.errors:
                        continue  # the fast model's tone stands
                    # each Doc's arrays are its own rows of the batch's: writing here touches no other Doc
                    doc._.sent_probs[idx] = result.probs[k]
                    doc._.sent_truncated[idx] |= result.truncated[k]
                    doc._.sent_rescored[idx] = True
                    self.n_rescored += 1
            yield from batch


@Language.factory(
    "lens_catalyst_tone",
    default_config={
        "model": DEFAULT_TONE_MODEL,
        "device": "auto",
        "precision": "auto",
        "margin": None,
    },
)
def make_catalyst_tone_component(
    nlp: Language, name: str, model: str, device: str, precision: str, margin: float | None
) -> CatalystToneComponent:
    scorer = shared_sentiment_model(model, device=device, precision=precision)
    log.info(
        "catalyst sentences scored again by %s (%s)",
        scorer.name,
        "all of them" if asks_every_sentence(margin) else f"those below margin {margin:.3f}",
    )
    return CatalystToneComponent(name, scorer, margin)
