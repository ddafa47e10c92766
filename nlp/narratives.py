"""Narratives: the slow stories around catalysts ("China is winning the AI race", "the trade war
is easing"), discovered as clusters of relevant sentences in MiniLM embedding space, labelled
with class-based TF-IDF terms, and frozen so that later runs assign new articles to known
narratives instead of reshuffling them.

    relevant_sentences   which sentences count (the attention denominator)
    discover             KMeans (or HDBSCAN) over their vectors → NarrativeModel
    NarrativeModel       centroids + labels; assign(), save(), load(); refit keeps matching ids
    describe             one row per narrative: label, terms, size, entities, catalyst types,
                         evidence sentences with links

The vectors are the ones the catalyst component computed (stored in `sentence_vectors`); the
time series and change points live in nlp/narrative_series.py.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

EMBEDDING_DIM = 384
MODEL_NPZ = "model.npz"
MODEL_JSON = "model.json"  # names and settings, in the two-file layout of earlier versions
# Words newswire uses everywhere, which c-TF-IDF would otherwise rank high for big clusters.
NEWS_STOP_WORDS = frozenset({
    "said", "says", "say", "according", "year", "years", "week", "weeks", "month", "months", "day",
    "days", "percent", "cent", "per", "also", "would", "could", "one", "two", "three", "first", "last",
    "new", "since", "still", "like", "just", "told", "reported", "report", "reuters", "bloomberg",
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "mr", "ms",
    "york", "com", "inc", "corp", "ltd", "roughly", "about", "around", "nearly", "almost", "more",
})
_WORD = re.compile(r"[A-Za-z][A-Za-z'’\-]*")


@dataclass
class NarrativeConfig:
    method: str = "kmeans"  # "kmeans" (measured better on the corpus, see README) or "hdbscan"
    seeds: str = "default"  # seed narratives: "default" (models/narratives.yaml), a YAML path, or "" for none
    seed_similarity: float = 0.5  # a sentence this close to a seed's texts starts that narrative ...
    seed_margin: float = 0.03  # ... when it is this much closer to it than to any other seed
    n_narratives: int = 0  # 0: choose k in [k_min, k_max] by cosine silhouette
    k_min: int = 4
    k_max: int = 12
    merge_similarity: float = 0.8  # narratives with centroids this close are one story ...
    merge_seed_similarity: float = 0.85  # ... and a free cluster this close to a seeded one joins it
    k_tolerance: float = 0.05  # take the smallest k whose silhouette is within 5% of the best
    min_words: int = 6  # a relevant sentence has at least this many words ...
    boilerplate_articles: int = 3  # ... and its text is not repeated in this many articles
    min_similarity: float = 0.3  # a sentence joins its nearest narrative only above this cosine
    min_size_share: float = 0.01  # narratives under this share of the sentences (or 5) are dropped
    keep_id_similarity: float = 0.8  # on refit, a narrative this close to an old one keeps its id
    random_seed: int = 13
    n_terms: int = 8
    n_evidence: int = 3
    # KMeans fits on a fixed random sample and every sentence is then assigned to the nearest
    # centroid: 10,000 sentences place a dozen centroids as well as 50,000 do, at a fifth of
    # the cost (k-means++ seeding dominated the time over 5,000 articles).
    fit_sample: int = 10_000  # sentences the final KMeans and HDBSCAN see
    search_sample: int = 5_000  # sentences each candidate k is tried on
    smooth_days: int = 7  # trailing window of the smoothed daily series
    smooth_weeks: int = 3  # ... and of the weekly one
    change_penalty: float = 3.0  # ruptures Pelt penalty = this × σ² × log(n)
    change_min_size: int = 3  # periods in the shortest segment


# -------------------------------------------------------------------------------- relevance


def word_count(text: str) -> int:
    return len(_WORD.findall(text or ""))


def relevant_sentences(
    sentences: pd.DataFrame,
    entities: pd.DataFrame,
    catalysts: pd.DataFrame,
    articles: pd.DataFrame,
    config: NarrativeConfig | None = None,
) -> pd.DataFrame:
    """The sentences that carry a story, with what the narrative tables need from them.

    Rule: a sentence is relevant when it (1) names a linked entity or reports a catalyst,
    (2) has at least `min_words` words, (3) is not boilerplate — the same normalised text in
    `boilerplate_articles` or more articles ("Subscribe to our newsletter") — and (4) belongs
    to an article that is not a syndicated near-copy of another (`duplicate_of`), so a story
    wired to five outlets counts once. Its share of these sentences is a narrative's attention.

    In: sentences (article_id, sent_idx, text, score), entities (article_id, sent_idx,
    entity_id), catalysts (article_id, sent_idx, catalyst_type), articles (article_id,
    published_at, source, url, duplicate_of). Out: one row per relevant sentence with `day`
    (UTC date, NaT when undated), `source`, `url`, `entity_ids`, `catalyst_types`.
    """
    config = config or NarrativeConfig()
    columns = ["article_id", "sent_idx", "text", "score", "day", "source", "url", "entity_ids", "catalyst_types"]
    if sentences.empty:
        return pd.DataFrame(columns=columns)
    keys = ["article_id", "sent_idx"]
    frame = sentences[[*keys, "text", "score"]].copy() if "score" in sentences else sentences[[*keys, "text"]].assign(score=np.nan)
    for column, source, name in (("entity_ids", entities, "entity_id"), ("catalyst_types", catalysts, "catalyst_type")):
        sets: dict[tuple, set] = {}
        if not source.empty:  # a plain loop: a grouped lambda took 12 s over 5,000 articles
            for aid, idx, value in zip(source.article_id, source.sent_idx, source[name], strict=True):
                if isinstance(value, str):
                    sets.setdefault((aid, idx), set()).add(value)
        frame[column] = [sorted(sets.get(key, ())) for key in zip(frame.article_id, frame.sent_idx, strict=True)]
    normalised = frame.text.fillna("").str.lower().str.replace(r"\W+", " ", regex=True).str.strip()
    spread = frame.groupby(normalised).article_id.transform("nunique")
    keep = (
        (frame.entity_ids.map(len) > 0) | (frame.catalyst_types.map(len) > 0)
    ) & (frame.text.fillna("").map(word_count) >= config.min_words) & (spread < config.boilerplate_articles)
    meta = articles.set_index("article_id")
    if "duplicate_of" in meta:
        copies = set(meta.index[meta.duplicate_of.notna()])
        keep &= ~frame.article_id.isin(copies)
    frame = frame[keep].copy()
    published = pd.to_datetime(frame.article_id.map(meta.published_at), utc=True)
    frame["day"] = published.dt.tz_convert(None).dt.normalize()
    frame["source"] = frame.article_id.map(meta.source) if "source" in meta else None
    frame["url"] = frame.article_id.map(meta.url) if "url" in meta else None
    return frame[columns].reset_index(drop=True)


# -------------------------------------------------------------------------------- the model


@dataclass
class NarrativeModel:
    """Frozen narratives: unit centroids in the encoder's space, and how they read."""

    ids: list[str]
    labels: list[str]
    terms: list[list[str]]
    centroids: np.ndarray  # (n, 384) float32, unit length
    min_similarity: float
    method: str
    encoder: str = "all-MiniLM-L6-v2"
    fitted_at: str = ""
    n_fit_sentences: int = 0
    seeds: list = field(default_factory=list)  # per narrative: the seed id it grew from, or None
    info: dict = field(default_factory=dict)  # how the clustering was chosen (k, silhouette...)

    def __len__(self) -> int:
        return len(self.ids)

    def assign(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest narrative by cosine, or -1 below `min_similarity`: (index, similarity)."""
        vectors = _unit(np.asarray(vectors, dtype=np.float32).reshape(-1, EMBEDDING_DIM))
        if not len(self) or not len(vectors):
            return np.full(len(vectors), -1), np.zeros(len(vectors), dtype=np.float32)
        sims = vectors @ self.centroids.T
        best = sims.argmax(axis=1)
        score = sims[np.arange(len(vectors)), best]
        return np.where(score >= self.min_similarity, best, -1), score

    def assign_ids(self, vectors: np.ndarray) -> list[str | None]:
        index, _ = self.assign(vectors)
        return [self.ids[i] if i >= 0 else None for i in index]

    def save(self, folder: Path) -> None:
        """One file, model.npz (the centroids and, as JSON, everything else), written to a temp
        file and renamed: a crash leaves the old model or the new one, never new centroids
        beside old names (two files renamed one after the other could)."""
        folder.mkdir(parents=True, exist_ok=True)
        meta = {k: v for k, v in asdict(self).items() if k != "centroids"}
        tmp = folder / f".{MODEL_NPZ}.tmp.npz"
        np.savez(tmp, centroids=self.centroids.astype(np.float32), meta=np.array(json.dumps(meta)))
        os.replace(tmp, folder / MODEL_NPZ)
        (folder / MODEL_JSON).unlink(missing_ok=True)  # the two-file layout of earlier versions

    @classmethod
    def load(cls, folder: Path) -> NarrativeModel:
        with np.load(folder / MODEL_NPZ, allow_pickle=False) as data:
            centroids = data["centroids"].astype(np.float32)
            if "meta" in data:
                meta = json.loads(str(data["meta"]))
            else:  # saved by an earlier version: names in model.json beside it
                meta = json.loads((folder / MODEL_JSON).read_text(encoding="utf-8"))
        if centroids.shape != (len(meta["ids"]), EMBEDDING_DIM):
            raise ValueError(f"{folder / MODEL_NPZ}: {centroids.shape[0]} centroids for {len(meta['ids'])} narratives")
        return cls(centroids=centroids, **meta)

    @staticmethod
    def exists(folder: Path) -> bool:
        return (folder / MODEL_NPZ).exists()


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


# -------------------------------------------------------------------------------- seeds


@dataclass(frozen=True)
class Seed:
    id: str
    name: str
    texts: tuple[str, ...]


def load_seeds(spec: str) -> list[Seed]:
    """Seeds named by the `seeds` setting: "default" (the bundled models/narratives.yaml), a
    path, or "" (none). A malformed file is an error naming the file and the entry."""
    if not spec:
        return []
    import yaml

    path = Path(str(resources.files("models").joinpath("narratives.yaml"))) if spec == "default" else Path(spec)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ValueError(f"{path}: no such seed narratives file") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from None
    seeds = []
    for n, entry in enumerate(data.get("seeds") or []):
        texts = entry.get("texts") if isinstance(entry, dict) else None
        if not isinstance(texts, list) or not texts or not entry.get("id") or not entry.get("name"):
            raise ValueError(f"{path}: seed {n + 1} needs an id, a name and a list of texts")
        seeds.append(Seed(str(entry["id"]), str(entry["name"]), tuple(str(t) for t in texts)))
    return seeds


def seed_vectors(seeds: list[Seed], encode) -> np.ndarray:
    """One unit vector per seed: the mean of its encoded texts (`encode`: texts → vectors)."""
    if not seeds:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    return _unit(np.stack([np.asarray(encode(list(s.texts))).mean(axis=0) for s in seeds]).astype(np.float32))


# -------------------------------------------------------------------------------- discovery


def discover(
    vectors: np.ndarray,
    texts: list[str],
    config: NarrativeConfig | None = None,
    previous: NarrativeModel | None = None,
    seeds: list[Seed] | None = None,
    seed_vecs: np.ndarray | None = None,
) -> NarrativeModel:
    """Cluster relevant sentences into narratives (reproducible: fixed seeds, fixed sample).

    With seed narratives (`seeds` and their `seed_vecs`), a sentence within `seed_similarity`
    of a seed, and `seed_margin` closer to it than to any other, belongs to that seed's
    narrative (BERTopic's zero-shot step); the other sentences are clustered freely: KMeans on
    unit vectors (spherical k-means in effect) with k chosen by the cosine silhouette on a
    sample, or HDBSCAN. Narratives smaller than `min_size_share` are dropped and their
    sentences fall to the nearest remaining narrative or to none. Ids go by size (N01 largest)
    unless `previous` is given: then a narrative whose centroid is within `keep_id_similarity`
    of an old one keeps the old id, so a refit renames only what really changed."""
    config = config or NarrativeConfig()
    started = time.perf_counter()
    vectors = _unit(np.asarray(vectors, dtype=np.float32).reshape(-1, EMBEDDING_DIM))
    n = len(vectors)
    if n < max(2 * config.k_min, 10):
        raise ValueError(f"narratives: {n} relevant sentences are too few to discover themes (need {max(2 * config.k_min, 10)})")
    seeds = seeds or []
    seed_of, seed_centroids, seed_ids = _seeded(vectors, seeds, seed_vecs, config)
    free = vectors[seed_of < 0]
    rng = np.random.default_rng(config.random_seed)
    sample = rng.choice(len(free), size=min(len(free), config.fit_sample), replace=False)
    if len(free) < max(2 * config.k_min, 10):
        centroids, info = np.zeros((0, EMBEDDING_DIM), dtype=np.float32), {"k": 0}
    elif config.method == "kmeans":
        centroids, info = _kmeans(free, sample, config)
    elif config.method == "hdbscan":
        centroids, info = _hdbscan(free, sample, config)
    else:
        raise ValueError(f"narratives: unknown method {config.method!r} (use 'kmeans' or 'hdbscan')")
    info["seeded"] = {s: int((seed_of == i).sum()) for i, s in enumerate(seed_ids)}
    origin = seed_ids + [None] * len(centroids)
    centroids = np.concatenate([seed_centroids, centroids]) if len(seed_centroids) else centroids
    centroids, origin = _merge_close(vectors, centroids, origin, config)
    centroids, origin = _drop_small(vectors, centroids, origin, config)
    index, _ = _nearest(vectors, centroids, config.min_similarity)
    sizes = np.bincount(index[index >= 0], minlength=len(centroids))
    order = np.argsort(-sizes, kind="stable")
    centroids, index, origin = centroids[order], _remap(index, order), [origin[i] for i in order]
    terms = class_terms(texts, index, len(centroids), config.n_terms)
    names = {s.id: s.name for s in seeds}
    labels = [names[origin[i]] if origin[i] else
              short_name(terms[i], [texts[j] for j in _central(vectors, index, centroids, i, 10)])
              for i in range(len(centroids))]
    ids = _ids(centroids, previous, config.keep_id_similarity)
    info |= {"seconds": round(time.perf_counter() - started, 2), "sizes": [int(s) for s in sizes[order]]}
    return NarrativeModel(
        ids=ids, labels=labels, terms=terms, centroids=centroids.astype(np.float32),
        min_similarity=config.min_similarity, method=config.method,
        fitted_at=pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"), n_fit_sentences=n,
        seeds=origin, info=info,
    )


def _seeded(vectors: np.ndarray, seeds: list[Seed], seed_vecs: np.ndarray | None,
            config: NarrativeConfig) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per sentence the index of the seed it clearly matches (-1: none), and per seed with any
    match the unit mean of its matched sentences (the narrative as the corpus tells it)."""
    none = np.full(len(vectors), -1)
    if not seeds or seed_vecs is None or not len(seed_vecs):
        return none, np.zeros((0, EMBEDDING_DIM), dtype=np.float32), []
    sims = vectors @ _unit(np.asarray(seed_vecs, dtype=np.float32)).T
    ranked = np.sort(sims, axis=1)
    best = sims.argmax(axis=1)
    margin = ranked[:, -1] - (ranked[:, -2] if sims.shape[1] > 1 else 0.0)
    seed_of = np.where((ranked[:, -1] >= config.seed_similarity) & (margin >= config.seed_margin), best, -1)
    kept = [i for i in range(len(seeds)) if (seed_of == i).any()]
    centroids = np.stack([vectors[seed_of == i].mean(axis=0) for i in kept]) if kept else np.zeros((0, EMBEDDING_DIM))
    remap = {old: new for new, old in enumerate(kept)}
    seed_of = np.array([remap.get(int(i), -1) for i in seed_of])
    return seed_of, _unit(centroids.astype(np.float32)), [seeds[i].id for i in kept]


def _kmeans(vectors: np.ndarray, sample: np.ndarray, config: NarrativeConfig) -> tuple[np.ndarray, dict]:
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    k_max = min(config.k_max, max(2, len(sample) // 5))
    if config.n_narratives:
        k, scores = min(config.n_narratives, len(vectors) - 1), {}
    else:
        scores = {}
        candidates = range(min(config.k_min, k_max), k_max + 1)
        search = sample[: config.search_sample]  # `sample` is already a random draw
        for k in candidates:
            fitted = KMeans(k, n_init=1, random_state=config.random_seed).fit(vectors[search])
            scores[k] = float(silhouette_score(vectors[search], fitted.labels_, metric="cosine",
                                               sample_size=min(len(search), 4000), random_state=config.random_seed))
        # Silhouettes of sentence embeddings creep up with k without a clear peak; the smallest
        # k within `k_tolerance` of the best keeps narratives broad instead of splitting them.
        best = max(scores.values())
        k = min(c for c, v in scores.items() if v >= (1 - config.k_tolerance) * best)
    fitted = KMeans(k, n_init=3, random_state=config.random_seed).fit(vectors[sample])
    return _unit(fitted.cluster_centers_), {"k": int(k), "silhouette": {str(c): round(s, 4) for c, s in scores.items()}}


def _hdbscan(vectors: np.ndarray, sample: np.ndarray, config: NarrativeConfig) -> tuple[np.ndarray, dict]:
    from sklearn.cluster import HDBSCAN

    # On unit vectors Euclidean distance orders pairs as cosine distance does.
    min_size = max(5, int(config.min_size_share * len(sample)))
    labels = HDBSCAN(min_cluster_size=min_size, min_samples=3).fit_predict(vectors[sample])
    found = sorted(set(labels) - {-1})
    if not found:
        raise ValueError("narratives: HDBSCAN found no cluster (every sentence is noise); use method = 'kmeans'")
    centroids = np.stack([vectors[sample][labels == c].mean(axis=0) for c in found])
    return _unit(centroids), {"clusters": len(found), "noise_share": round(float((labels == -1).mean()), 3)}


def _nearest(vectors: np.ndarray, centroids: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    sims = vectors @ centroids.T
    best = sims.argmax(axis=1)
    score = sims[np.arange(len(vectors)), best]
    return np.where(score >= floor, best, -1), score


def _merge_close(vectors: np.ndarray, centroids: np.ndarray, origin: list,
                 config: NarrativeConfig) -> tuple[np.ndarray, list]:
    """Merge the closest pair of narratives while their centroids are within `merge_similarity`
    (KMeans splits a big story, such as tariffs, by month or by country). A free cluster joins
    a seeded narrative only above `merge_seed_similarity`, so a seed's name never ends up on a
    neighbouring story; two seeded narratives are never merged: seeds are distinct on purpose.
    The merged centroid is the unit mean of both narratives' sentences and keeps the seed."""
    while len(centroids) > 1:
        sims = centroids @ centroids.T
        np.fill_diagonal(sims, -np.inf)
        seeded = np.array([o is not None for o in origin])
        sims[np.ix_(seeded, seeded)] = -np.inf
        bar = np.where(seeded[:, None] | seeded[None, :], config.merge_seed_similarity, config.merge_similarity)
        excess = sims - bar
        i, j = np.unravel_index(int(excess.argmax()), excess.shape)
        if excess[i, j] < 0:
            break
        i, j = (i, j) if origin[i] or not origin[j] else (j, i)  # i keeps its seed, if any
        index, _ = _nearest(vectors, centroids, -1.0)
        members = vectors[(index == i) | (index == j)]
        centroids[i] = _unit(members.mean(axis=0, keepdims=True))[0] if len(members) else centroids[i]
        centroids = np.delete(centroids, j, axis=0)
        origin = origin[:j] + origin[j + 1 :]
    return centroids, origin


def _drop_small(vectors: np.ndarray, centroids: np.ndarray, origin: list, config: NarrativeConfig) -> tuple[np.ndarray, list]:
    floor = max(5, int(config.min_size_share * len(vectors)))
    while len(centroids) > 1:
        index, _ = _nearest(vectors, centroids, config.min_similarity)
        sizes = np.bincount(index[index >= 0], minlength=len(centroids))
        smallest = int(sizes.argmin())
        if sizes[smallest] >= floor:
            break
        centroids = np.delete(centroids, smallest, axis=0)
        origin = origin[:smallest] + origin[smallest + 1 :]
    return centroids, origin


def _remap(index: np.ndarray, order: np.ndarray) -> np.ndarray:
    new_of_old = np.empty(len(order), dtype=int)
    new_of_old[order] = np.arange(len(order))
    return np.where(index >= 0, new_of_old[np.maximum(index, 0)], -1)


def _central(vectors: np.ndarray, index: np.ndarray, centroids: np.ndarray, i: int, n: int) -> list[int]:
    members = np.flatnonzero(index == i)
    sims = vectors[members] @ centroids[i]
    return [int(members[j]) for j in np.argsort(-sims, kind="stable")[:n]]


def _ids(centroids: np.ndarray, previous: NarrativeModel | None, threshold: float) -> list[str]:
    """N01, N02... by size; with a previous model, matched narratives (Hungarian assignment on
    centroid cosine, kept only above `threshold`) inherit their old id, new ones take the next
    free numbers."""
    if previous is None or not len(previous):
        return [f"N{i + 1:02d}" for i in range(len(centroids))]
    from scipy.optimize import linear_sum_assignment

    sims = centroids @ previous.centroids.T
    rows, cols = linear_sum_assignment(-sims)
    ids: list[str | None] = [None] * len(centroids)
    for r, c in zip(rows, cols, strict=True):
        if sims[r, c] >= threshold:
            ids[r] = previous.ids[c]
    used = {int(i[1:]) for i in previous.ids if i[1:].isdigit()}
    next_free = max(used, default=0) + 1
    for r in range(len(ids)):
        if ids[r] is None:
            ids[r] = f"N{next_free:02d}"
            next_free += 1
    return ids  # type: ignore[return-value]


# -------------------------------------------------------------------------------- labels


def class_terms(texts: list[str], index: np.ndarray, n_classes: int, n_terms: int = 8) -> list[list[str]]:
    """Top terms per narrative by class-based TF-IDF (BERTopic's c-TF-IDF): a narrative's
    sentences are one document; a term's weight is its frequency there times
    log(1 + mean words per class / its frequency over all classes). Unigrams already inside a
    higher-ranked bigram are skipped, so "trade war" does not also list "trade" and "war"."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

    docs = [" ".join(t for t, c in zip(texts, index, strict=True) if c == i) for i in range(n_classes)]
    if not any(d.strip() for d in docs):
        return [[] for _ in range(n_classes)]
    vectorizer = CountVectorizer(
        stop_words=sorted(ENGLISH_STOP_WORDS | NEWS_STOP_WORDS), ngram_range=(1, 2), min_df=1,
        token_pattern=r"(?u)\b[A-Za-z][A-Za-z\-]+[A-Za-z]\b", lowercase=True,
    )
    counts = vectorizer.fit_transform(docs).astype(np.float64).toarray()
    vocab = np.asarray(vectorizer.get_feature_names_out())
    # A term seen once in the whole corpus labels nothing.
    counts[:, counts.sum(axis=0) < 2] = 0
    tf = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    mean_words = counts.sum() / max(n_classes, 1)
    idf = np.log1p(mean_words / np.maximum(counts.sum(axis=0), 1))
    weights = tf * idf
    out = []
    for i in range(n_classes):
        chosen: list[str] = []
        for j in np.argsort(-weights[i], kind="stable"):
            if weights[i, j] <= 0 or len(chosen) >= n_terms:
                break
            term = str(vocab[j])
            if " " not in term and any(term in c.split() for c in chosen if " " in c):
                continue
            if " " in term and len(set(term.split())) < 2:
                continue
            # A bigram arriving after its parts replaces them.
            chosen = [c for c in chosen if not (" " not in c and " " in term and c in term.split())]
            chosen.append(term)
        out.append(chosen[:n_terms])
    return out


def short_name(terms: list[str], central: list[str], n: int = 3) -> str:
    """A readable name: the top terms that the narrative's most central sentences actually use
    (terms from its periphery would mislabel it), in c-TF-IDF order."""
    if not terms:
        return "(unlabelled)"
    lowered = [c.lower() for c in central]

    def support(term: str) -> int:
        return sum(bool(re.search(rf"\b{re.escape(term)}\b", c)) for c in lowered)

    picked = [t for t in terms if support(t) > 0][:n] or terms[:n]
    return " · ".join(picked)


# -------------------------------------------------------------------------------- description


def describe(
    model: NarrativeModel,
    relevant: pd.DataFrame,
    vectors: np.ndarray,
    narrative_ids: list[str | None],
    n_evidence: int = 3,
    n_top: int = 5,
) -> pd.DataFrame:
    """One row per narrative of the model: id, label, terms, size (relevant sentences now
    assigned), n_articles, n_sources, tone, first/last day, the entities and catalyst types most
    associated with it (frequent in it and over-represented against all relevant sentences),
    and evidence: its most central sentences from different articles, with their links."""
    frame = relevant.assign(narrative_id=narrative_ids)
    vectors = _unit(np.asarray(vectors, dtype=np.float32).reshape(-1, EMBEDDING_DIM))
    overall_ent = _bag(frame.entity_ids)
    overall_cat = _bag(frame.catalyst_types)
    rows = []
    for i, nid in enumerate(model.ids):
        mask = (frame.narrative_id == nid).to_numpy()
        mine = frame[mask]
        sims = vectors[mask] @ model.centroids[i] if mask.any() else np.zeros(0)
        evidence, urls, seen = [], [], set()
        for j in np.argsort(-sims, kind="stable"):
            row = mine.iloc[j]
            if row.article_id in seen:
                continue
            seen.add(row.article_id)
            evidence.append(" ".join(str(row.text).split()))
            urls.append(row.url if isinstance(row.url, str) else None)
            if len(evidence) >= n_evidence:
                break
        days = mine.day.dropna()
        rows.append({
            "narrative_id": nid, "label": model.labels[i], "terms": list(model.terms[i]), "size": int(mask.sum()),
            "n_articles": int(mine.article_id.nunique()), "n_sources": int(mine.source.nunique()),
            "tone": float(mine.score.mean()) if mine.score.notna().any() else None,
            "first_day": days.min().date() if len(days) else None, "last_day": days.max().date() if len(days) else None,
            "entities": _associated(_bag(mine.entity_ids), overall_ent, len(mine), len(frame), n_top),
            "catalyst_types": _associated(_bag(mine.catalyst_types), overall_cat, len(mine), len(frame), n_top),
            "evidence": evidence, "evidence_urls": urls,
        })
    return pd.DataFrame(rows)


def _bag(lists: pd.Series) -> Counter:
    return Counter(x for values in lists for x in values)


def _associated(mine: Counter, overall: Counter, n_mine: int, n_all: int, n_top: int) -> list[str]:
    """Items at least twice in the narrative and over-represented in it (lift > 1), by count."""
    if not n_mine:
        return []
    lifted = [(c, item) for item, c in mine.items()
              if c >= 2 and (c / n_mine) > (overall[item] / max(n_all, 1))]
    return [item for _, item in sorted(lifted, key=lambda t: (-t[0], t[1]))[:n_top]]
