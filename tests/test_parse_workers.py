"""The en_core_web_sm stage in worker processes: the same Docs as in one process, in input
order, whatever the batch size; and a window of work ahead that covers a component batch."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from nlp.pipeline import COMPONENTS, PipelineConfig, batches_ahead, build_pipeline, parse

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
    nlp = build_pipeline(PipelineConfig(disable=COMPONENTS, n_process=1))
    articles = _articles(11)  # not a multiple of the batch: a short last batch

    def summary(doc):
        return (doc._.article_id, [t.text for t in doc], [(e.text, e.label_) for e in doc.ents],
                [(t.dep_, t.tag_, t.lemma_) for t in doc], [t.is_sent_start for t in doc])  # fmt: skip

    alone = list(parse(nlp, articles, batch_size=4, n_process=1))
    workers = list(parse(nlp, articles, batch_size=4, n_process=2))
    assert [d._.article_id for d in workers] == [a["article_id"] for a in articles]
    assert [summary(d) for d in workers] == [summary(d) for d in alone]
    # tok2vec's output stays in the workers (nothing downstream reads it): the same
    # annotations arrive without it
    assert all(d.tensor.size for d in alone) and not any(d.tensor.size for d in workers)


def test_the_package_makes_torchs_threads_wait_passively_before_torch_loads():
    """libgomp reads OMP_WAIT_POLICY when torch is imported: too late once torch is in."""
    import subprocess
    import sys

    probe = "import sys, os, lens; print('torch' in sys.modules, os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "PASSIVE"]
    env["OMP_WAIT_POLICY"] = "ACTIVE"  # the user's choice stays
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "ACTIVE"]
