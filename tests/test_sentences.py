"""nlp.sentences must give exactly the sentences spaCy's Doc.sents gives, from one array."""

import spacy

from nlp.sentences import sentence_starts, sentences
from nlp.spacy_stage import SPACY_MODEL, paragraph_boundaries  # noqa: F401  (registers lens_paragraphs)

TEXT = (
    "Tencent shares rose 4% on Monday.\n\nBeijing pledged more support for private firms, "
    "officials said. The Hang Seng Tech index gained 2.1%!\nBaidu fell. Why? Nobody knew."
)


def test_parsed_sentences_match_doc_sents():
    nlp = spacy.load(SPACY_MODEL)
    nlp.add_pipe("lens_paragraphs", before="parser")
    doc = nlp(TEXT)
    expected = [(s.start, s.end) for s in doc.sents]
    assert len(expected) >= 5  # the line breaks and the parser both cut
    assert [(s.start, s.end) for s in sentences(doc)] == expected
    assert sentence_starts(doc).tolist() == [a for a, _ in expected]


def test_sentencizer_boundaries_match_too():
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    doc = nlp("One. Two! Three? Four")
    assert [s.text for s in sentences(doc)] == [s.text for s in doc.sents] == ["One.", "Two!", "Three?", "Four"]


def test_unsegmented_doc_is_one_sentence_and_empty_doc_none():
    nlp = spacy.blank("en")
    doc = nlp("No boundaries were set here. Still one.")
    assert [(s.start, s.end) for s in sentences(doc)] == [(0, len(doc))]
    assert sentences(nlp("")) == [] and len(sentence_starts(nlp(""))) == 0
