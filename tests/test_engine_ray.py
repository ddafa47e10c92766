"""`--engine ray`: the per-article analysis on Ray Data actors gives the local engine's tables.

The fast tests pin the parts that need no cluster (the nested rows that carry a chunk's tables
through Parquet, what each actor asks Ray for, the command line); the slow one runs both
engines on part of the bundled corpus with Ray on this machine and compares every table."""

from __future__ import annotations

import os
import shutil
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from lens.cli import app
from lens.engine_ray import INSTALL_HINT, actor_resources, nest, unnest
from lens.tables import PER_ARTICLE, to_arrow

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


# ---------------------------------------------------------------------------- nested rows


def _sentence(aid, i, text):
    return {"article_id": aid, "sent_idx": i, "start_char": 10 * i, "end_char": 10 * i + 9, "text": text,
            "label": "neutral", "score": 0.125 * i, "p_negative": 0.1, "p_neutral": 0.8, "p_positive": 0.1}


def _entity(aid, i, entity_id, tickers):
    return {"article_id": aid, "sent_idx": i, "start_char": 0, "end_char": 5, "text": entity_id.title(),
            "entity_id": entity_id, "name": entity_id.title(), "kind": "company", "tickers": tickers,
            "sentiment": None}


def test_nested_rows_give_back_each_articles_rows_grouped_in_chunk_order():
    # The chunk is b, a, c; the analysis produced rows of a and b interleaved, c has none.
    articles = pd.DataFrame({"article_id": ["b", "a", "c"], "content_hash": ["hb", "ha", "hc"],
                             "chunk": [3, 3, 3], "position": [384, 385, 386]})
    rows = {name: [] for name in PER_ARTICLE}
    rows["sentences"] = [_sentence("a", 0, "A0"), _sentence("b", 0, "B0"), _sentence("a", 1, "A1"),
                         _sentence("b", 1, "B1")]
    rows["entities"] = [_entity("a", 0, "alibaba", ["BABA", "9988.HK"]), _entity("b", 1, "tencent", []),
                        _entity("a", 0, "baidu", ["BIDU"])]
    rows["catalysts"] = [{"article_id": "b", "sent_idx": 1, "catalyst_type": "trade.tariffs", "direction": -1,
                          "trigger": "tariffs", "evidence": "B1", "event_start": date(2025, 4, 2),
                          "event_end": date(2025, 4, 2), "date_precision": "day", "date_source": "explicit",
                          "entity_ids": ["united-states"], "confidence": 0.9, "flags": [], "sentiment": -0.5}]
    rows["article_scores"] = [{"article_id": aid, "sentiment": None, "n_sentences": n, "n_entities": e,
                               "n_catalysts": c, "n_truncated": 0}
                              for aid, n, e, c in [("b", 2, 1, 1), ("a", 2, 2, 0), ("c", 0, 0, 0)]]
    tables = {name: to_arrow(name, rows[name]) for name in PER_ARTICLE}

    nested = nest(tables, articles, "cpu")
    assert nested["article_id"].to_pylist() == ["b", "a", "c"]
    assert nested["position"].to_pylist() == [384, 385, 386]
    back = unnest(nested)

    assert back["sentences"]["text"].to_pylist() == ["B0", "B1", "A0", "A1"]
    assert back["entities"].to_pylist() == [rows["entities"][1], rows["entities"][0], rows["entities"][2]]
    assert back["catalysts"].to_pylist() == rows["catalysts"]
    assert back["article_scores"]["article_id"].to_pylist() == ["b", "a", "c"]
    for name in PER_ARTICLE:
        assert back[name].schema == tables[name].schema


# ---------------------------------------------------------------------------- resources


def _node(cpus, gpus=0, alive=True):
    resources = {"CPU": float(cpus), "memory": 1e10}
    if gpus:
        resources["GPU"] = float(gpus)
    return {"Alive": alive, "Resources": resources}


def test_one_actor_on_a_two_core_machine_leaves_a_cpu_for_ray_data_tasks_and_uses_both_as_threads():
    resources, threads = actor_resources([_node(2)], actors=1, device="auto")
    assert resources == {"num_cpus": 1.0}
    assert threads == 2


def test_actors_share_the_cluster_cpus_but_no_actor_asks_for_more_than_one_node_has():
    assert actor_resources([_node(16), _node(16)], actors=4, device="auto") == ({"num_cpus": 7.0}, 8)
    assert actor_resources([_node(16), _node(16)], actors=1, device="auto") == ({"num_cpus": 15.0}, 16)
    # a dead node's CPUs are not there to share
    assert actor_resources([_node(16), _node(64, alive=False)], actors=2, device="auto") == ({"num_cpus": 7.0}, 8)


def test_each_actor_takes_a_gpu_or_an_equal_share_when_the_cluster_has_them():
    assert actor_resources([_node(16, gpus=2), _node(16, gpus=2)], actors=4, device="auto")[0]["num_gpus"] == 1.0
    assert actor_resources([_node(16, gpus=1)], actors=4, device="auto")[0]["num_gpus"] == 0.25
    assert actor_resources([_node(16, gpus=1)], actors=1, device="cuda:0")[0]["num_gpus"] == 1.0


def test_no_gpu_is_asked_for_when_the_cluster_has_none_or_the_device_is_forced_to_cpu():
    assert "num_gpus" not in actor_resources([_node(8)], actors=2, device="auto")[0]
    assert "num_gpus" not in actor_resources([_node(8, gpus=4)], actors=2, device="cpu")[0]


# ---------------------------------------------------------------------------- command line


def test_engine_ray_without_ray_installed_says_in_one_line_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets where it is not installed
    result = runner.invoke(app, ["analyze", "--out", str(tmp_path), "--engine", "ray"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and INSTALL_HINT in lines[0]


def test_unknown_engine_and_ray_options_without_ray_engine_exit_2(tmp_path):
    unknown = runner.invoke(app, ["analyze", "--out", str(tmp_path), "--engine", "spark"])
    assert unknown.exit_code == 2 and "'local' or 'ray'" in unknown.output
    stray = runner.invoke(app, ["analyze", "--out", str(tmp_path), "--ray-actors", "3"])
    assert stray.exit_code == 2 and "need --engine ray" in stray.output


# ---------------------------------------------------------------------------- both engines


@pytest.fixture(scope="module")
def local_ray():
    try:
        import ray
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("ray is not installed: CI installs the ray extra (make setup)")
        pytest.skip("ray is not installed (pip install -e '.[ray]')")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_engine_writes_the_same_tables_as_the_local_engine(tmp_path, local_ray):
    from lens.engine_ray import RayOptions
    from lens.run import analyze_store, ingest
    from nlp.pipeline import PipelineConfig

    # The texts and pages of the corpus (20 articles, a third of the whole) keep the test to a
    # few minutes on two cores; chunks of 8 make three Ray batches, the last one short.
    source = tmp_path / "ingested"
    ingest([str(REPO / "corpus" / "texts"), str(REPO / "corpus" / "pages")], source)
    for name in ("local", "ray"):
        shutil.copytree(source, tmp_path / name)
    config = PipelineConfig(batch_size=4)

    local = analyze_store(tmp_path / "local", config, chunk_size=8)
    distributed = analyze_store(tmp_path / "ray", config, chunk_size=8, ray_options=RayOptions(actors=1))

    assert distributed.analysed == local.analysed == 20
    assert (distributed.sentences, distributed.entities, distributed.catalysts, distributed.events) == (
        local.sentences, local.entities, local.catalysts, local.events)
    keys = {"sentences": ["article_id", "sent_idx"], "entities": ["article_id", "sent_idx", "start_char", "end_char"],
            "catalysts": ["article_id", "sent_idx", "catalyst_type", "trigger"], "events": ["event_id"]}
    for name, key in keys.items():
        ours = pd.read_parquet(tmp_path / "ray" / f"{name}.parquet").sort_values(key, kind="stable")
        theirs = pd.read_parquet(tmp_path / "local" / f"{name}.parquet").sort_values(key, kind="stable")
        assert len(theirs) > 0, name
        pd.testing.assert_frame_equal(ours.reset_index(drop=True), theirs.reset_index(drop=True),
                                      check_exact=True, obj=name)
    # Every article is marked analysed in the store: a second run has nothing left to do.
    assert analyze_store(tmp_path / "ray", config, chunk_size=8, ray_options=RayOptions()).analysed == 0
    assert not any((tmp_path / "ray" / ".ray-staging").iterdir())
