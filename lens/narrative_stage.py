"""The narrative stage: stored sentences and their stored vectors → narratives (frozen model in
OUT/narratives/), their daily and weekly series with shifts, and lead-lag tests against relative
returns. Runs after analysis; `lens run` calls it beside the market stage.

Writes into OUT: narratives.parquet (one row per narrative), narrative_daily.parquet (narrative ×
day and × week), narrative_sentences.parquet (which narrative each relevant sentence joined),
narrative_leadlag.parquet (when prices are given).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from market.leadlag import LeadLagConfig, lead_lag, parse_pair, relative_returns
from nlp.narrative_series import narrative_series
from nlp.narratives import (
    EMBEDDING_DIM,
    NarrativeConfig,
    NarrativeModel,
    describe,
    discover,
    load_seeds,
    relevant_sentences,
    seed_vectors,
)

from .atomic import replacing
from .store import Store

log = logging.getLogger(__name__)
STORE_NAME = "lens.duckdb"
MODEL_DIR = "narratives"

LIST_STR = pa.list_(pa.string())
NARRATIVES_SCHEMA = pa.schema([
    ("narrative_id", pa.string()), ("label", pa.string()), ("terms", LIST_STR), ("size", pa.int32()),
    ("n_articles", pa.int32()), ("n_sources", pa.int32()), ("tone", pa.float64()),
    ("first_day", pa.date32()), ("last_day", pa.date32()), ("entities", LIST_STR),
    ("catalyst_types", LIST_STR), ("evidence", LIST_STR), ("evidence_urls", LIST_STR), ("trend", pa.string()),
])
DAILY_SCHEMA = pa.schema([
    ("narrative_id", pa.string()), ("freq", pa.string()), ("date", pa.date32()), ("attention", pa.float64()),
    ("n_sentences", pa.int32()), ("n_articles", pa.int32()), ("n_sources", pa.int32()), ("tone", pa.float64()),
    ("attention_smooth", pa.float64()), ("tone_smooth", pa.float64()), ("total_sentences", pa.int32()),
    ("attention_shift", pa.float64()), ("tone_shift", pa.float64()),
])


@dataclass
class NarrativeStageResult:
    narratives: pd.DataFrame = field(default_factory=pd.DataFrame)
    series: pd.DataFrame = field(default_factory=pd.DataFrame)
    leadlag: pd.DataFrame = field(default_factory=pd.DataFrame)
    refitted: bool = False
    relevant: int = 0
    assigned: int = 0
    reused_vectors: int = 0
    encoded_vectors: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    model: NarrativeModel | None = None


def model_folder(out: Path) -> Path:
    return out / MODEL_DIR


def narrative_stage(
    out: Path,
    prices=None,
    config: NarrativeConfig | None = None,
    leadlag_config: LeadLagConfig | None = None,
    refit: bool = False,
    encoder=None,
) -> NarrativeStageResult:
    """Assign OUT's relevant sentences to the frozen narratives (discovering them first when
    OUT has no model yet, or when `refit`), then write the tables. `prices` (a PriceSet) adds
    the lead-lag tests. `encoder` (default: the pipeline's, nlp.catalysts.load_sentence_encoder)
    encodes the seeds and any sentence without a stored vector of its `vector_space`."""
    from nlp.narrative_series import trend

    config = config or NarrativeConfig()
    started = time.perf_counter()
    result = NarrativeStageResult()
    if encoder is None:
        from nlp.catalysts import load_sentence_encoder  # imports the model stack: only when needed

        encoder = load_sentence_encoder()
    with Store(out / STORE_NAME) as store:
        relevant = relevant_sentences(
            store.frame("SELECT article_id, sent_idx, text, score FROM sentences"),
            store.frame("SELECT article_id, sent_idx, entity_id FROM entities"),
            store.frame("SELECT article_id, sent_idx, catalyst_type FROM catalysts"),
            store.frame("SELECT article_id, published_at, source, url, duplicate_of FROM articles"),
            config,
        )
        vectors, result.reused_vectors, result.encoded_vectors = stored_vectors(store, relevant, encoder)
    result.relevant = len(relevant)
    folder = model_folder(out)
    previous = NarrativeModel.load(folder) if NarrativeModel.exists(folder) else None
    if previous is not None and previous.info.get("vector_space") != encoder.vector_space:
        # its centroids live in another encoder's space: nothing would be near them
        log.info("narratives: the sentence encoder changed (%s → %s); discovering them again",
                 previous.info.get("vector_space"), encoder.vector_space)
        refit = True
    if previous is None or refit:
        seeds = load_seeds(config.seeds)
        seed_vecs = seed_vectors(seeds, encoder.encode) if seeds else None
        model = discover(vectors, relevant.text.tolist(), config, previous, seeds, seed_vecs)
        model.info["vector_space"] = encoder.vector_space
        model.save(folder)
        result.refitted = True
        log.info("narratives: %d discovered from %d sentences in %.1f s", len(model),
                 len(relevant), model.info.get("seconds", 0))
        log.debug("narrative discovery: %s", model.info)
    else:
        model = previous
    result.model = model
    ids = model.assign_ids(vectors)
    _, similarity = model.assign(vectors)
    result.assigned = sum(i is not None for i in ids)
    assigned = relevant.assign(narrative_id=ids)
    series = narrative_series(assigned, model.ids, config)
    narratives = describe(model, relevant, vectors, ids, config.n_evidence)
    narratives["trend"] = [trend(series, nid) for nid in narratives.narrative_id]
    result.narratives, result.series = narratives, series
    if prices is not None:
        result.leadlag, problems = _leadlag(series, prices, leadlag_config or LeadLagConfig())
        result.problems += problems
    _write(narratives, NARRATIVES_SCHEMA, out / "narratives.parquet")
    _write(series, DAILY_SCHEMA, out / "narrative_daily.parquet")
    sentences = assigned[["article_id", "sent_idx", "narrative_id"]].assign(similarity=similarity.astype(float))
    _write(sentences, None, out / "narrative_sentences.parquet")
    if prices is not None:
        _write(result.leadlag, None, out / "narrative_leadlag.parquet")
    else:  # tests of earlier assignments would sit beside tables they no longer match
        (out / "narrative_leadlag.parquet").unlink(missing_ok=True)
    result.seconds = time.perf_counter() - started
    return result


def stored_vectors(store: Store, relevant: pd.DataFrame, encoder) -> tuple[np.ndarray, int, int]:
    """The relevant sentences' vectors from `sentence_vectors`, in `relevant`'s order. Sentences
    analysed before vectors were stored, or whose vectors came from another encoder (their
    `space`), are encoded once with `encoder` and stored, so the next run reuses them. Returns
    (vectors, how many were reused, how many encoded)."""
    out = np.zeros((len(relevant), EMBEDDING_DIM), dtype=np.float32)
    if relevant.empty:
        return out, 0, 0
    keys = relevant[["article_id", "sent_idx"]].assign(row=np.arange(len(relevant)))
    found = store.sentence_vectors(keys)
    found = found[found.space == encoder.vector_space]
    if not found.empty:
        blob = b"".join(found.vector)
        out[found.row.to_numpy()] = np.frombuffer(blob, dtype="<f2").reshape(-1, EMBEDDING_DIM).astype(np.float32)
    missing = np.setdiff1d(np.arange(len(relevant)), found.row.to_numpy())
    if len(missing):
        log.info("narratives: encoding %d sentences without a stored vector from this encoder", len(missing))
        encoded = encoder.encode(relevant.text.iloc[missing].tolist())
        out[missing] = encoded
        rows = pa.table({
            "article_id": pa.array(relevant.article_id.iloc[missing].tolist(), pa.string()),
            "sent_idx": pa.array(relevant.sent_idx.iloc[missing].astype("int32").tolist(), pa.int32()),
            "vector": pa.array([v.astype("<f2").tobytes() for v in encoded], pa.binary()),
            "space": pa.array([encoder.vector_space] * len(missing), pa.string()),
        })
        store.add_sentence_vectors(rows)
    return out, len(found), len(missing)


def _leadlag(series: pd.DataFrame, prices, config: LeadLagConfig) -> tuple[pd.DataFrame, list[str]]:
    relative, problems = {}, []
    for pair in config.pairs:
        try:
            a, b = parse_pair(pair)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        absent = [t for t in (a, b) if t not in prices.frames]
        if absent:
            problems.append(f"lead-lag pair {pair}: no prices for {', '.join(absent)} — pair skipped")
            continue
        relative[f"{a}-{b}"] = relative_returns(prices.returns(a), prices.returns(b), config.freq)
    return lead_lag(series, relative, config), problems


def _write(frame: pd.DataFrame, schema: pa.Schema | None, target: Path) -> None:
    if schema is not None:
        frame = frame.reindex(columns=schema.names)
        if "date" in frame:
            frame = frame.assign(date=pd.to_datetime(frame.date).dt.date)
        table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    else:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    with replacing(target) as tmp:
        pq.write_table(table, tmp)


def load_outputs(out: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """narratives, narrative_daily and narrative_leadlag of a run (empty frames when absent)."""
    def read(name: str) -> pd.DataFrame:
        path = out / f"{name}.parquet"
        return pd.read_parquet(path) if path.exists() else pd.DataFrame()

    return read("narratives"), read("narrative_daily"), read("narrative_leadlag")
