"""Arrow schemas of the tables the NLP stage writes (columns are DESIGN.md contracts).

One schema per table means the same types in DuckDB, in Parquet and in pandas, whatever the
first batch happened to contain (an all-null column in the first batch would otherwise fix
its type wrongly)."""

from __future__ import annotations

import math

import pandas as pd
import pyarrow as pa

STR, F64, I32 = pa.string(), pa.float64(), pa.int32()
LIST_STR = pa.list_(pa.string())
TS_UTC = pa.timestamp("us", tz="UTC")

SCHEMAS: dict[str, pa.Schema] = {
    "sentences": pa.schema([
        ("article_id", STR), ("sent_idx", I32), ("start_char", I32), ("end_char", I32), ("text", STR),
        ("label", STR), ("score", F64), ("p_negative", F64), ("p_neutral", F64), ("p_positive", F64),
    ]),
    "entities": pa.schema([
        ("article_id", STR), ("sent_idx", I32), ("start_char", I32), ("end_char", I32), ("text", STR),
        ("entity_id", STR), ("name", STR), ("kind", STR), ("tickers", LIST_STR), ("sentiment", F64),
    ]),
    "catalysts": pa.schema([
        ("article_id", STR), ("sent_idx", I32), ("catalyst_type", STR), ("direction", pa.int8()),
        ("trigger", STR), ("evidence", STR), ("event_start", pa.date32()), ("event_end", pa.date32()),
        ("date_precision", STR), ("date_source", STR), ("entity_ids", LIST_STR), ("confidence", F64),
        ("flags", LIST_STR), ("sentiment", F64),
    ]),
    "article_scores": pa.schema([
        ("article_id", STR), ("sentiment", F64), ("n_sentences", I32), ("n_entities", I32),
        ("n_catalysts", I32), ("n_truncated", I32),
        # sentences whose tone lens_catalyst_tone's model gave (nlp/catalyst_tone.py)
        ("n_rescored", I32),
    ]),
    # The MiniLM sentence embeddings the catalyst component computed, kept so that narrative
    # discovery reuses them instead of encoding every sentence a second time. `vector` is 384
    # little-endian float16 (768 bytes): DuckDB has no float16 type, and a FLOAT[384] column
    # took 1,358 bytes a sentence in the store against 781 for these bytes (50,000 vectors).
    # space: which encoder and weights made the vector (nlp.sentiment.SentimentModel.vector_space);
    # vectors of another space are encoded again before narratives compare them
    "sentence_vectors": pa.schema([("article_id", STR), ("sent_idx", I32), ("vector", pa.binary()), ("space", STR)]),
    "events": pa.schema([
        ("event_id", STR), ("catalyst_type", STR), ("title", STR), ("event_date", pa.date32()),
        ("first_seen", TS_UTC), ("n_mentions", I32), ("n_articles", I32), ("n_sources", I32),
        ("sentiment", F64), ("entity_ids", LIST_STR), ("article_ids", LIST_STR), ("evidence", LIST_STR),
        ("direction", F64), ("date_basis", STR), ("event_time", TS_UTC),
        ("evidence_article_ids", LIST_STR),  # the article of each evidence sentence, in order
        ("date_precision", STR),  # day, week, month, quarter or year (nlp/events.py)
    ]),
}

# Tables keyed by article: re-analysing an article replaces its rows in all of them.
PER_ARTICLE = ("sentences", "entities", "catalysts", "article_scores", "sentence_vectors")


def to_arrow(table: str, rows: list[dict]) -> pa.Table:
    schema = SCHEMAS[table]
    return pa.Table.from_pylist([{k: _missing_to_none(row.get(k)) for k in schema.names} for row in rows], schema=schema)


def _missing_to_none(value):
    """pandas' NaT and NaN stand for missing; Arrow wants None."""
    if value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    return value
