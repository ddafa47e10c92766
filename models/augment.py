"""Unlabelled variants of training sentences, for a teacher to label and a student to learn from.

A distilled student learns the teacher's function only where it sees the teacher's answers; with a
few thousand FPB sentences that is a thin sample. TinyBERT (Jiao et al. 2020) widened it with
perturbed copies of the training sentences, which matters most on small sets. The edits here need
no outside model or word list, only the training rows themselves: drop words, put words from the
same source in place of some, put other figures in place of the figures, keep one stretch of the
sentence, or swap two words. An edit may change the tone ("rose" deleted, a loss figure swapped
for a profit), so a variant never keeps its sentence's label: the teacher's probabilities are its
only target.

Each variant is a pure function of the sentence, its number, ``seed`` and the words of its source's
training rows (the split is fixed), so a teacher run and a student run with another training seed
build the same rows, and their probabilities meet by text.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from collections.abc import Iterable

EDITS = ("delete", "replace", "figures", "crop", "swap")
AUGMENT_SEED = 20240603
# a word that carries a figure: 12, 3.5, 1,200, EUR12.3m, -4%, 2009
_FIGURE = re.compile(r"\d")


class WordPool:
    """The words of a source with their frequencies, and its figures apart, to draw replacements from."""

    def __init__(self, texts: Iterable[str]):
        counts = Counter(w for t in texts for w in t.split())
        self.words = [w for w in counts if not _FIGURE.search(w)]
        self.word_weights = [counts[w] for w in self.words]
        self.figures = [w for w in counts if _FIGURE.search(w)]

    def word(self, rng: random.Random) -> str:
        return rng.choices(self.words, self.word_weights)[0]


def _rng(text: str, number: int, seed: int) -> random.Random:
    # not hash(): Python salts it per process, and both runs must draw the same edits
    digest = hashlib.sha1(f"{seed}\t{number}\t{text}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def variant(text: str, number: int, pool: WordPool, seed: int = AUGMENT_SEED, rate: float = 0.15) -> str:
    """The ``number``-th variant of ``text``: one edit, drawn with the rest from (seed, number, text)."""
    rng = _rng(text, number, seed)
    words = text.split()
    if len(words) < 4:
        return text  # nothing left to say after an edit; the caller drops unchanged copies
    edit = rng.choice(EDITS)
    figures = [i for i, w in enumerate(words) if _FIGURE.search(w)]
    if edit == "figures" and not figures:
        edit = "replace"

    def some(positions: list[int], share: float) -> set[int]:
        # each position with probability ``share``, and at least one: a variant differs from its row
        return {i for i in positions if rng.random() < share} or {rng.choice(positions)}

    if edit == "delete":
        dropped = some(list(range(len(words))), rate)
        words = [w for i, w in enumerate(words) if i not in dropped] if len(dropped) <= len(words) - 3 else words[:3]
    elif edit == "replace":
        chosen = some(list(range(len(words))), rate)
        words = [pool.word(rng) if i in chosen else w for i, w in enumerate(words)]
    elif edit == "figures":
        chosen = some(figures, 0.7)
        words = [rng.choice(pool.figures) if i in chosen else w for i, w in enumerate(words)]
    elif edit == "crop":
        size = max(3, round(len(words) * rng.uniform(0.5, 0.9)))
        start = rng.randrange(len(words) - size + 1)
        words = words[start : start + size]
    else:  # swap
        for _ in range(2):
            i, j = rng.sample(range(len(words)), 2)
            words[i], words[j] = words[j], words[i]
    return " ".join(words)


def variants(texts: list[str], per_text: int, taken: set[str], key, seed: int = AUGMENT_SEED) -> list[str]:
    """Up to ``per_text`` distinct variants of every text, in order. A variant whose ``key`` is in
    ``taken`` (a training, validation or held-out row, or an earlier variant) is left out: the
    teacher would only echo a row it learnt, or label a held-out one."""
    pool = WordPool(texts)
    out: list[str] = []
    for text in texts:
        for number in range(per_text):
            new = variant(text, number, pool, seed)
            k = key(new)
            if k not in taken:
                taken.add(k)
                out.append(new)
    return out
