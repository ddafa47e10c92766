"""Variants of training sentences for distillation: each is one kind of edit, drawn the same way
in every run, and built from the sentence and its source's own words."""

from __future__ import annotations

from collections import Counter

from models.augment import WordPool, variant, variants

SENTENCES = [
    "Operating profit rose to EUR 13.1 mn from EUR 8.7 mn in the corresponding period in 2007",
    "The company said that net sales in the third quarter fell by 4.5 % compared with last year",
    "Finnish retailer Stockmann will open a new department store in the centre of Riga next spring",
    "Pretax loss totalled EUR 2.3 mn , compared to a profit of EUR 1.1 mn a year earlier",
]


def is_subsequence(short: list[str], long: list[str]) -> bool:
    it = iter(long)
    return all(word in it for word in short)


def edit_kind(original: list[str], new: list[str], pool: WordPool) -> str | None:
    if len(new) < len(original) and is_subsequence(new, original):
        return "shorter"  # delete or crop: the words left keep their order
    if Counter(new) == Counter(original) and new != original:
        return "swap"
    if len(new) == len(original):
        changed = [(a, b) for a, b in zip(original, new, strict=True) if a != b]
        if changed and all(b in pool.figures for _, b in changed):
            return "figures"
        if changed and all(b in pool.words or b in pool.figures for _, b in changed):
            return "in place"  # replaced words come from the source's own pool
    return None


def test_every_variant_is_one_edit_of_its_sentence_with_the_sources_own_words():
    pool = WordPool(SENTENCES)
    kinds = Counter()
    for text in SENTENCES:
        words = text.split()
        for number in range(40):
            new = variant(text, number, pool).split()
            kind = "unchanged" if new == words else edit_kind(words, new, pool)
            assert kind is not None, (text, new)
            kinds[kind] += 1
    assert {"shorter", "swap", "figures", "in place"} <= set(kinds)
    # a word replaced by itself or two equal words swapped: rare, and `variants` drops such copies
    assert kinds["unchanged"] <= 0.05 * kinds.total()


def test_the_same_sentence_and_number_give_the_same_variant_and_other_numbers_others():
    pool = WordPool(SENTENCES)
    text = SENTENCES[0]
    assert variant(text, 3, pool) == variant(text, 3, WordPool(list(SENTENCES)))
    assert len({variant(text, n, pool) for n in range(10)}) >= 8
    assert variant(text, 3, pool, seed=1) != variant(text, 3, pool, seed=2) or variant(
        text, 4, pool, seed=1) != variant(text, 4, pool, seed=2)


def test_variants_skip_rows_already_taken_and_short_sentences():
    rows = SENTENCES + ["Shares rose"]
    taken = {t.lower() for t in rows}
    first = variants(rows, 5, taken, str.lower)
    assert len(first) == len(set(first)) <= 20
    assert "Shares rose" not in first
    assert not {t.lower() for t in SENTENCES} & {t.lower() for t in first}
    # what was built is taken now: a second call over the same rows adds nothing twice
    assert not set(variants(SENTENCES, 5, taken, str.lower)) & set(first)
