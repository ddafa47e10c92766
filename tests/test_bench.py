"""The throughput benchmark's workload and arithmetic (the timed runs live in bench/, not here)."""

import random
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lens import bench
from lens.cli import app
from nlp.pipeline import PipelineConfig

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def workload():
    return bench.build_workload(30, ROOT / "corpus", seeds=None, seed=7)


def test_workload_articles_are_news_length_and_reproducible(workload):
    assert len(workload) == 30
    assert len({a["article_id"] for a in workload}) == 30
    for article in workload:
        words = len(article["text"].split())
        assert words == article["words"]
        # Paragraphs are added until the drawn target (300-1,500) is reached, so one paragraph
        # may overshoot it; none of the bundled paragraphs is longer than 400 words.
        assert 300 <= words <= 1900
        assert article["title"]
    again = bench.build_workload(30, ROOT / "corpus", seeds=None, seed=7)
    assert [a["text"] for a in again] == [a["text"] for a in workload]
    other = bench.build_workload(30, ROOT / "corpus", seeds=None, seed=8)
    assert [a["text"] for a in other] != [a["text"] for a in workload]


def test_summary_ratios():
    runs = [
        {"variant": "ours", "n": 100, "articles": 100, "run_s": 50.0, "articles_per_s": 2.0, "sentences": 4000},
        {"variant": "spacy", "n": 100, "articles": 100, "run_s": 25.0, "articles_per_s": 4.0, "tokens": 90000},
        {"variant": "naive", "n": 100, "articles": 10, "run_s": 50.0, "articles_per_s": 0.2},
        {"variant": "ours", "n": 400, "articles": 400, "run_s": 240.0, "articles_per_s": 400 / 240},
        {"variant": "spacy", "n": 400, "articles": 400, "run_s": 100.0, "articles_per_s": 4.0, "tokens": 360000},
    ]
    ratios = bench.summarize(runs, [100, 400], "cpu", 2)["ratios"]
    assert ratios["ours_over_spacy_n100"] == 0.5
    assert ratios["ours_over_naive"] == 10.0
    assert ratios["ours_over_naive_n400"] == 8.33  # (400 / 240) / 0.2
    assert ratios["cost_per_article_n400_over_n100"] == 1.2  # 0.6 s against 0.5 s per article
    assert runs[0]["tokens_per_s"] == 1800.0  # spaCy's token count over ours' time


@pytest.mark.parametrize("sizes", ["a,b", "0", ""])
def test_bad_sizes_are_one_line_and_exit_2(sizes):
    result = CliRunner().invoke(app, ["bench", "--sizes", sizes])
    assert result.exit_code == 2


@pytest.mark.parametrize("variants", ["ours,bert", "", " , "])
def test_bad_variants_are_one_line_and_exit_2(variants):
    result = CliRunner().invoke(app, ["bench", "--sizes", "200", "--variants", variants])
    assert result.exit_code == 2
    assert "--variants" in result.output and "choose among ours, spacy, naive" in result.output


def test_the_naive_baseline_runs_at_the_smallest_size_and_only_the_chosen_variants_run():
    assert bench.variants_at(200, [200, 1000]) == ["ours", "spacy", "naive"]
    assert bench.variants_at(1000, [200, 1000]) == ["ours", "spacy"]
    assert bench.variants_at(200, [200, 5000], ("ours",)) == ["ours"]
    assert bench.variants_at(200, [200, 5000], ("naive", "ours")) == ["ours", "naive"]  # in the usual order


def test_figures_are_redrawn_but_dates_and_shapes_kept():
    rng = random.Random(3)
    text = "Shares rose 4.2% to $19,345 on January 27, 2025, after a 500 billion yuan plan and 50 basis points."
    varied = bench.vary_figures(text, rng)
    assert varied != text
    assert "January 27, 2025" in varied  # dates are not figures
    shape = re.sub(r"\d", "9", varied)
    assert shape == re.sub(r"\d", "9", text)  # same digits count and punctuation
    assert "4.2%" not in varied or "19,345" not in varied


def test_companies_are_permuted_among_themselves():
    rng = random.Random(5)
    text = "Alibaba beat Tencent; Alibaba's cloud grew. Alibabas and Metaverse stay."
    swapped = bench.swap_companies(text, rng)
    first, second = re.findall(r"\w[\w.]*(?= beat)|(?<=beat )[\w.]+", swapped)
    assert first != second and {first, second} <= set(bench._COMPANIES)
    assert swapped.count(first) >= 2  # one company maps to one name throughout
    assert "Alibabas and Metaverse" in swapped  # whole words only


@pytest.mark.parametrize("has_bf16", [True, False])
def test_machine_info_says_whether_the_transformers_run_in_bf16(monkeypatch, has_bf16):
    # the same code is far faster where `auto` picks bf16, so results must say which it was
    import torch

    from nlp import sentiment

    monkeypatch.setattr(sentiment, "cpu_has_bf16_matmul", lambda: has_bf16)
    assert bench.machine_info()["bf16_matmul"] is has_bf16
    assert (sentiment.select_precision(torch.device("cpu")) == "bf16") is has_bf16


def test_a_worker_reports_its_own_peak_memory_not_its_parents():
    # the benchmarks start every variant as a new process from a parent that may hold the
    # workload and a spaCy model; the worker's figure must be its own
    import subprocess
    import sys

    import numpy as np

    from lens.bench import peak_rss_mb

    held = np.ones(50_000_000)  # 400 MB touched in this process
    code = "from lens.bench import peak_rss_mb; print(peak_rss_mb())"
    child = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert peak_rss_mb() > 400 > child + 200, (peak_rss_mb(), child)
    del held


@pytest.mark.slow
def test_ours_runs_with_the_sentiment_model_asked_for_and_a_bad_one_is_one_line(tmp_path):
    # the cascade costs far more per article than the default; its figure must be its own
    good = bench.benchmark([2], variants=("ours",), sentiment="finance-cascade", seeds=None, say=lambda _l: None)
    (run,) = good["runs"]
    assert run["sentiment_model"] == "finance-cascade" and run["articles"] == 2 and run["sentences"] > 10
    # the cascade has asked finance-mpnet about the unsure sentences already; where every catalyst
    # sentence is asked (bf16), finance-mpnet6 still reads the ones the MiniLM was sure of
    expected = PipelineConfig(sentiment_model="finance-cascade", device="auto").catalyst_tone()
    assert expected in (None, "finance-mpnet6") and run["catalyst_tone_model"] == expected
    off = bench.benchmark([2], variants=("ours",), catalyst_tone="none", seeds=None, say=lambda _l: None)
    (run,) = off["runs"]
    assert run["sentiment_model"] == "finance-minilm" and run["catalyst_tone_model"] is None and run["rescored"] == 0
    with pytest.raises(RuntimeError) as failed:
        bench.benchmark([2], variants=("ours",), sentiment=str(tmp_path / "none"), seeds=None, say=lambda _l: None)
    message = str(failed.value)
    assert "\n" not in message and "no such folder" in message and "bench worker ours failed" in message
