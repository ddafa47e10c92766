"""The DuckDB store's memory: appending analysed chunks must not grow the process with the run."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from lens.store import Store
from lens.tables import PER_ARTICLE, SCHEMAS

REPO = Path(__file__).resolve().parents[1]
ARTICLES_PER_CHUNK, SENTENCES = 128, 40
CAP = "32MB"


def _chunk(k: int) -> tuple[list[str], dict[str, pa.Table]]:
    """One commit's rows: 128 articles of 40 sentences with their 768-byte vectors (~4 MB)."""
    ids = [f"c{k}-a{i}" for i in range(ARTICLES_PER_CHUNK)]
    n = ARTICLES_PER_CHUNK * SENTENCES
    article = [a for a in ids for _ in range(SENTENCES)]
    sent = list(range(SENTENCES)) * ARTICLES_PER_CHUNK
    # Distinct bytes per row, so that DuckDB cannot compress the column away.
    vectors = [(k * n + i).to_bytes(8, "little") * 96 for i in range(n)]
    tables = {name: SCHEMAS[name].empty_table() for name in PER_ARTICLE}
    tables["sentence_vectors"] = pa.table(
        {"article_id": article, "sent_idx": pa.array(sent, pa.int32()), "vector": pa.array(vectors, pa.binary()),
         "space": ["test-space"] * n},
        schema=SCHEMAS["sentence_vectors"],
    )
    return ids, tables


def _held_bytes(store: Store) -> int:
    """What DuckDB holds in memory for the store now (its pool and temporary data)."""
    return int(store.con.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchall()[0][0] or 0)


def _append(store: Store, chunks: int) -> list[int]:
    held = []
    for k in range(chunks):
        ids, tables = _chunk(k)
        store.replace_analysis(ids, {a: "h" for a in ids}, tables)
        held.append(_held_bytes(store))
    return held


def _setting(con) -> str:
    return con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]


def test_capped_pool_stays_under_its_limit_while_chunks_are_appended_and_the_setting_comes_back(tmp_path):
    cap_bytes = 32 * 10**6
    with Store(tmp_path / "capped.duckdb") as store:
        before = _setting(store.con)
        with store.memory_limit(CAP):
            held = _append(store, 12)  # ~48 MB of vectors
        assert _setting(store.con) == before
        assert store.con.execute("SELECT count(*) FROM sentence_vectors").fetchall()[0][0] == 12 * 128 * 40
    assert max(held) <= cap_bytes
    # Without the cap DuckDB keeps what it wrote: the same appends hold more than the cap, so
    # the bound above is the cap's doing.
    with Store(tmp_path / "uncapped.duckdb") as store:
        assert _append(store, 12)[-1] > cap_bytes


def test_the_setting_comes_back_when_the_block_fails(tmp_path):
    with Store(tmp_path / "s.duckdb") as store:
        before = _setting(store.con)
        with pytest.raises(RuntimeError), store.memory_limit(CAP):
            raise RuntimeError("a chunk failed")
        assert _setting(store.con) == before


@pytest.mark.slow
def test_analysis_commits_each_chunk_with_the_pool_capped(tmp_path, monkeypatch):
    from lens.run import ANALYSIS_DUCKDB_MEMORY, analyze_store, ingest
    from nlp.pipeline import COMPONENTS, PipelineConfig

    texts = sorted((REPO / "corpus" / "texts").iterdir())[:4]
    assert ingest([str(p) for p in texts], tmp_path).new == 4
    seen = []
    commit = Store.replace_analysis

    def spy(self, ids, hashes, tables):
        seen.append(_setting(self.con))
        return commit(self, ids, hashes, tables)

    monkeypatch.setattr(Store, "replace_analysis", spy)
    # The spaCy stage alone: what is tested is how the chunks are committed, not the models.
    result = analyze_store(tmp_path, PipelineConfig(disable=COMPONENTS, n_process=1), chunk_size=2)
    assert result.analysed == 4 and len(seen) == 2
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{ANALYSIS_DUCKDB_MEMORY}'")
    assert set(seen) == {_setting(con)}


def test_a_store_from_before_vectors_had_a_space_opens_with_their_space_unknown(tmp_path):
    import pandas as pd

    path = tmp_path / "lens.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE sentence_vectors (article_id VARCHAR, sent_idx INTEGER, vector BLOB)")
    con.execute("INSERT INTO sentence_vectors VALUES ('a1', 0, 'xx'::BLOB)")
    con.close()
    with Store(path) as store:
        found = store.sentence_vectors(pd.DataFrame({"article_id": ["a1"], "sent_idx": [0]}))
        assert found.space.isna().all() and len(found) == 1  # so narratives encode it again
        # and new rows, written with the current schema, line up with the added column
        store.add_sentence_vectors(pa.table({"article_id": ["a2"], "sent_idx": pa.array([0], pa.int32()),
                                             "vector": pa.array([b"yy"], pa.binary()), "space": ["enc"]},
                                            schema=SCHEMAS["sentence_vectors"]))
        assert store.con.execute("SELECT article_id, space FROM sentence_vectors ORDER BY 1").fetchall() == [
            ("a1", None), ("a2", "enc")]


def test_a_store_from_before_catalyst_sentences_were_rescored_takes_new_chunks_with_their_count(tmp_path):
    path = tmp_path / "lens.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE article_scores (article_id VARCHAR, sentiment DOUBLE, n_sentences INTEGER, "
                "n_entities INTEGER, n_catalysts INTEGER, n_truncated INTEGER)")
    con.execute("INSERT INTO article_scores VALUES ('a1', 0.5, 3, 1, 1, 0)")
    con.close()
    with Store(path) as store:
        tables = {name: SCHEMAS[name].empty_table() for name in PER_ARTICLE}
        tables["article_scores"] = pa.Table.from_pylist(
            [{"article_id": "a2", "sentiment": -0.2, "n_sentences": 5, "n_entities": 2, "n_catalysts": 2,
              "n_truncated": 0, "n_rescored": 2}], schema=SCHEMAS["article_scores"])
        store.replace_analysis(["a2"], {"a2": "h"}, tables)
        assert store.con.execute("SELECT article_id, n_sentences, n_rescored FROM article_scores ORDER BY 1").fetchall() == [
            ("a1", 3, None), ("a2", 5, 2)]


def test_a_store_from_before_events_had_a_date_precision_takes_the_new_timeline(tmp_path):
    path = tmp_path / "lens.duckdb"
    with Store(path) as store:  # today's schema less the last column, as such a store has it
        store.con.execute("ALTER TABLE events DROP COLUMN date_precision")
    with Store(path) as store:
        row = {name: None for name in SCHEMAS["events"].names} | {"event_id": "e1", "date_precision": "month"}
        store.replace_table("events", pa.Table.from_pylist([row], schema=SCHEMAS["events"]))
        assert store.con.execute("SELECT event_id, date_precision FROM events").fetchall() == [("e1", "month")]
