"""Exact and near-duplicate detection.

Exact: the same canonical URL (same `article_id`) or the same normalised text (same
`content_hash`) is one article; the copy is not stored again.
Near: syndicated copies with small edits (estimated Jaccard ≥ 0.9 on word 3-shingles, by
datasketch MinHash LSH) are stored, with `duplicate_of` pointing at the first copy seen, so
later stages can count a story once per source.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from datasketch import MinHash, MinHashLSH

from .article import Article, normalise_text

NUM_PERM = 256  # estimate's standard error ≈ 0.016 near J = 0.9
# Candidates come from an LSH index tuned lower than the verdict threshold, so pairs whose
# estimate lands just above 0.9 are not lost to LSH banding misses.
CANDIDATE_THRESHOLD = 0.75
# Stored signatures are only comparable under the scheme that made them; pin it.
SCHEME = "affine64"
SHINGLE = 3
# Fewer shingles than this and two teasers that share a boilerplate line look like copies.
MIN_SHINGLES = 25


def shingles(text: str, size: int = SHINGLE) -> set[bytes]:
    words = normalise_text(text).split()
    return {" ".join(words[i : i + size]).encode("utf-8") for i in range(max(0, len(words) - size + 1))}


def signature(text: str) -> MinHash | None:
    grams = shingles(text)
    if len(grams) < MIN_SHINGLES:
        return None
    mh = MinHash(num_perm=NUM_PERM, seed=1, scheme=SCHEME)
    mh.update_batch(list(grams))
    return mh


@dataclass
class Verdict:
    status: str  # "new" | "same-id" | "same-text" | "near"
    duplicate_of: str | None = None
    jaccard: float | None = None


class Deduplicator:
    def __init__(self, threshold: float = 0.9):
        self.threshold = threshold
        self._lsh = MinHashLSH(threshold=min(threshold, CANDIDATE_THRESHOLD), num_perm=NUM_PERM)
        self._hashes: dict[str, MinHash] = {}
        self._ids: set[str] = set()
        self._content: dict[str, str] = {}
        self._root: dict[str, str] = {}  # near-copy → the first copy, so chains collapse
        self.new_signatures: dict[str, np.ndarray] = {}

    def load(self, known: Iterable[tuple[str, str, bytes | None, str | None]]) -> None:
        """Seed with stored articles: (article_id, content_hash, minhash bytes, duplicate_of)."""
        for article_id, chash, blob, duplicate_of in known:
            self._ids.add(article_id)
            if duplicate_of:
                self._root[article_id] = duplicate_of
            self._content.setdefault(chash, article_id)
            if blob:
                mh = MinHash(
                    num_perm=NUM_PERM, seed=1, scheme=SCHEME, hashvalues=np.frombuffer(blob, dtype=np.uint64)
                )
                self._index(article_id, mh)

    def check(self, article: Article) -> Verdict:
        """Classify and remember `article` (when it is to be stored)."""
        if article.article_id in self._ids:
            return Verdict("same-id", article.article_id)
        if article.content_hash in self._content:
            return Verdict("same-text", self._content[article.content_hash])
        self._ids.add(article.article_id)
        self._content[article.content_hash] = article.article_id
        mh = signature(f"{article.title}\n{article.text}")
        verdict = Verdict("new")
        if mh is not None:
            best, best_j = None, 0.0
            for candidate in self._lsh.query(mh):
                j = mh.jaccard(self._hashes[candidate])
                if j >= self.threshold and j > best_j:
                    best, best_j = candidate, j
            if best is not None:
                root = self._root.get(best, best)
                self._root[article.article_id] = root
                verdict = Verdict("near", root, best_j)
            self._index(article.article_id, mh)
            self.new_signatures[article.article_id] = mh.hashvalues.astype(np.uint64)
        return verdict

    def _index(self, article_id: str, mh: MinHash) -> None:
        if article_id not in self._hashes:
            self._hashes[article_id] = mh
            self._lsh.insert(article_id, mh)
