"""Narrative discovery at scale: the narrative stage over N articles' worth of stored vectors.

    .venv/bin/python bench/narratives.py RUN_DIR [--articles 5000] [--noise 0.3]

RUN_DIR is an analysed run (e.g. of the bundled corpus). Its articles are resampled into a new
store of N articles: each copy keeps an original article's sentences, entities, catalysts and
tone, gets a new id and a date spread over the original period, and its stored sentence vectors
get Gaussian noise (norm 0.3, then re-normalised: cosine about 0.96 to the original), so
clusters are realistic but no two copies are equal; sentence texts get the copy's id appended
so that copies do not count as boilerplate.
Then `narrative_stage(refit=True)` runs on it, as `lens narratives refit` would, and the JSON in
bench/results/narratives.json records the stage's wall time (reading, filtering, loading the
stored vectors: no sentence is encoded, discovery, assignment, the tables) and discovery's part.
It also compares KMeans and HDBSCAN on the run's own sentences (`methods_on_the_run`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lens.narrative_stage import narrative_stage  # noqa: E402
from lens.store import Store  # noqa: E402
from lens.tables import SCHEMAS  # noqa: E402


def resample(source: Path, target: Path, n_articles: int, noise: float, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    with Store(source / "lens.duckdb") as src:
        articles = src.frame("SELECT * FROM articles WHERE duplicate_of IS NULL AND published_at IS NOT NULL")
        tables = {n: src.frame(f"SELECT * FROM {n}") for n in ("sentences", "entities", "catalysts", "sentence_vectors")}
    picks = rng.choice(len(articles), size=n_articles, replace=True)
    first, last = articles.published_at.min(), articles.published_at.max()
    span = (last - first).total_seconds()
    with Store(target / "lens.duckdb") as dst:
        copies = articles.iloc[picks].reset_index(drop=True).copy()
        copies["original"] = copies.article_id
        copies["article_id"] = [f"bench{i:06d}" for i in range(n_articles)]
        copies["published_at"] = first + pd.to_timedelta(rng.uniform(0, span, n_articles), unit="s")
        copies["url"] = [f"https://bench.example/{i}" for i in copies.article_id]
        copies["content_hash"] = copies.article_id
        mapping = copies[["original", "article_id"]]
        frame = copies.drop(columns=["original"])
        with dst._registered(new=frame):
            dst.con.execute(f"INSERT INTO articles ({', '.join(frame.columns)}) SELECT * FROM new")
        for name, rows in tables.items():
            joined = rows.rename(columns={"article_id": "original"}).merge(mapping, on="original").drop(columns=["original"])
            if name == "sentences":
                # Copies must not look like boilerplate (the same sentence in many articles).
                joined["text"] = joined.text + " (" + joined.article_id + ")"
            if name == "sentence_vectors":
                vectors = np.frombuffer(b"".join(joined.vector), dtype="<f2").reshape(-1, 384).astype(np.float32)
                vectors = vectors + noise * rng.standard_normal(vectors.shape).astype(np.float32) / np.sqrt(384)
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                joined["vector"] = [v.astype("<f2").tobytes() for v in vectors]
            table = pa.Table.from_pandas(joined[SCHEMAS[name].names], schema=SCHEMAS[name], preserve_index=False)
            with dst._registered(new=table):
                dst.con.execute(f"INSERT INTO {name} SELECT * FROM new")
        return int(dst.con.execute("SELECT count(*) FROM sentences").fetchall()[0][0])


def compare_methods(run: Path) -> dict:
    """KMeans vs HDBSCAN on the run's own relevant sentences (unguided): how many sentences
    each leaves without a narrative, and the cosine silhouette of what it clusters."""
    from sklearn.cluster import HDBSCAN, KMeans
    from sklearn.metrics import silhouette_score

    from lens.narrative_stage import stored_vectors
    from nlp.narratives import relevant_sentences

    with Store(run / "lens.duckdb") as store:
        relevant = relevant_sentences(
            store.frame("SELECT article_id, sent_idx, text, score FROM sentences"),
            store.frame("SELECT article_id, sent_idx, entity_id FROM entities"),
            store.frame("SELECT article_id, sent_idx, catalyst_type FROM catalysts"),
            store.frame("SELECT article_id, published_at, source, url, duplicate_of FROM articles"),
        )
        vectors, _, _ = stored_vectors(store, relevant)
    out = {"sentences": len(vectors)}
    for k in (8, 12):
        labels = KMeans(k, n_init=3, random_state=13).fit_predict(vectors)
        out[f"kmeans_k{k}"] = {"unclustered_share": 0.0,
                               "silhouette": round(float(silhouette_score(vectors, labels, metric="cosine")), 4)}
    for size in (5, 8, 12):
        labels = HDBSCAN(min_cluster_size=size, min_samples=3, copy=True).fit_predict(vectors)
        kept = labels >= 0
        sil = silhouette_score(vectors[kept], labels[kept], metric="cosine") if len(set(labels[kept])) > 1 else None
        out[f"hdbscan_min{size}"] = {"clusters": int(labels.max() + 1), "unclustered_share": round(float(1 - kept.mean()), 3),
                                     "silhouette": None if sil is None else round(float(sil), 4)}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--articles", type=int, default=5000)
    parser.add_argument("--noise", type=float, default=0.3, help="norm of the noise added to each unit vector")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        started = time.perf_counter()
        n_sentences = resample(args.run, out, args.articles, args.noise)
        built = time.perf_counter() - started
        result = narrative_stage(out, None, refit=True)
    methods = compare_methods(args.run)
    record = {
        "articles": args.articles, "sentences": n_sentences, "relevant_sentences": result.relevant,
        "vectors_reused": result.reused_vectors, "vectors_encoded": result.encoded_vectors,
        "narratives": len(result.narratives), "stage_seconds": round(result.seconds, 1),
        "discovery_seconds": result.model.info.get("seconds"), "k": result.model.info.get("k"),
        "seeded": result.model.info.get("seeded"), "store_build_seconds": round(built, 1),
        "methods_on_the_run": methods, "cpus": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version(),
    }
    print(json.dumps(record, indent=2))
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / "narratives.json").write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
