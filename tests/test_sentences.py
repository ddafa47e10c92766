"""nlp.sentences must give exactly the sentences spaCy's Doc.sents gives, from one array."""

import spacy

from nlp.sentences import sentence_starts, sentences
from nlp.spacy_stage import SPACY_MODEL, load_spacy_stage, paragraph_boundaries  # noqa: F401  (registers lens_paragraphs)

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


def test_no_sentence_starts_where_the_text_before_cannot_end_one():
    # each of these was cut in two by en_core_web_sm alone in the demo corpus, and the halves were
    # quoted to analysts as evidence
    nlp = load_spacy_stage(components=())
    cases = [
        "Nvidia (NASDAQ: NVDA) lost roughly $590 billion of market value on Monday.",
        "Washington and Beijing agreed on Monday to roll back most of the tariffs they imposed in April.",
        "The extra 10% took effect at 12:01 a.m. Eastern time, at the same moment as 25% tariffs on imports.",
        "The China levy takes effect at 12:01 a.m. ET on Tuesday, Feb. 4.",
    ]
    for text in cases:
        assert [s.text for s in nlp(text).sents] == [text], text
    # what still ends a sentence: final punctuation, a closing quote after it, a line break, and
    # "a.m." before a new capitalised sentence
    doc = nlp('He said "we will cut." Then he left.\nMarkets fell at 9:30 a.m. Stocks slid. Apple Inc. said profit rose.')
    assert [s.text.strip() for s in doc.sents] == [
        'He said "we will cut."', "Then he left.", "Markets fell at 9:30 a.m.", "Stocks slid.", "Apple Inc. said profit rose.",
    ]
