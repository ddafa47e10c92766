"""The sentiment model on a CUDA GPU: skipped where torch sees none (CI, this project's CPU
machines); run them where there is one (`python -m pytest tests/test_cuda.py`). The reference is
the same model on the CPU in fp32."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nlp.sentiment import SentimentModel
from tests.test_sentiment_model import NEGATIVE, NEUTRAL, POSITIVE, assert_odd_inputs_scored

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")]

TEXTS = NEGATIVE + POSITIVE + NEUTRAL


@pytest.fixture(scope="module")
def on_gpu() -> SentimentModel:
    return SentimentModel("finance-minilm")  # device and precision left to the model


@pytest.fixture(scope="module")
def exact() -> np.ndarray:
    return SentimentModel("finance-minilm", device="cpu", precision="fp32").predict(TEXTS)


def test_auto_picks_the_gpu_in_fp16_with_wide_batches(on_gpu):
    assert on_gpu.device.type == "cuda"
    assert on_gpu.precision == "fp16"
    assert on_gpu.batch_size == 256
    assert next(on_gpu.model.parameters()).dtype == torch.float16


def test_the_gpu_scores_as_the_cpu_does_in_fp32(on_gpu, exact):
    probs = on_gpu.predict(TEXTS)
    # fp16 keeps 11 bits of mantissa against bf16's 8: within the CPU's bf16 tolerance
    # (tests/test_sentiment_model.py) by a wide margin
    np.testing.assert_allclose(probs, exact, atol=0.05)
    assert (probs.argmax(1) == exact.argmax(1)).all()


def test_one_sentence_scores_alike_alone_and_in_a_wide_batch(on_gpu):
    # the batch is length-sorted and its rows padded; no row may see another's tokens
    alone = np.vstack([on_gpu.predict([text]) for text in TEXTS])
    together = on_gpu.predict(TEXTS * 40)[: len(TEXTS)]
    np.testing.assert_allclose(together, alone, atol=5e-3)


def test_odd_inputs_get_results_not_a_crashed_batch_on_the_gpu(on_gpu):
    assert_odd_inputs_scored(on_gpu)


def test_a_forced_cpu_stays_on_the_cpu_beside_a_gpu():
    model = SentimentModel("finance-minilm", device="cpu")
    assert model.device.type == "cpu" and model.precision in ("bf16", "int8", "fp32")


def test_the_compiled_model_on_the_gpu_scores_as_the_eager_one(on_gpu):
    pytest.importorskip("triton")
    compiled = SentimentModel("finance-minilm", compiled=True)
    assert compiled.compiled, "torch.compile fell back to eager on the GPU"
    np.testing.assert_allclose(compiled.predict(TEXTS), on_gpu.predict(TEXTS), atol=1e-2)
