"""SentimentModel(compiled=True): torch.compile's form of a model gives the model's numbers, and a
compiler that fails leaves the model working as it was.

Tiny random BERTs with the real tokenizer (tests/test_cascade.py makes them); compiling even
those takes inductor several seconds, so the test that compiles is slow."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from nlp.cascade import CascadeModel
from tests.test_cascade import TEXTS, tiny_scorer


def test_a_compiler_that_fails_leaves_the_model_uncompiled(tokenizer, tmp_path, monkeypatch, caplog):
    def broken_compile(model, **_):
        def run(*args, **kwargs):
            raise RuntimeError("inductor: no working C++ compiler\nmore detail")
        return run

    eager = tiny_scorer(tokenizer, tmp_path, 0, vectors=True)
    monkeypatch.setattr(torch, "compile", broken_compile)
    with caplog.at_level(logging.WARNING, logger="nlp.sentiment"):
        model = tiny_scorer(tokenizer, tmp_path, 0, vectors=True, compiled=True)
    assert model.compiled is False
    assert "tiny0: cannot compile (inductor: no working C++ compiler); it runs uncompiled" in caplog.text
    # the model is the uncompiled one: same numbers, same vector space
    assert model.vector_space == eager.vector_space == "tiny0@0/fp32"
    np.testing.assert_array_equal(model.predict(TEXTS), eager.predict(TEXTS))


def test_a_bf16_model_that_fails_to_compile_gets_the_prepacked_layers_it_would_have_had(tokenizer, tmp_path, monkeypatch):
    from nlp.prepack import PrepackedLinear, can_prepack

    if not can_prepack(torch.device("cpu"), torch.bfloat16):
        pytest.skip("this CPU's oneDNN has no bf16")
    eager = tiny_scorer(tokenizer, tmp_path, 0, precision="bf16")
    monkeypatch.setattr(torch, "compile", lambda model, **_: None)  # calling None fails: no compiler
    model = tiny_scorer(tokenizer, tmp_path, 0, precision="bf16", compiled=True)
    assert model.compiled is False
    assert any(isinstance(m, PrepackedLinear) for m in model.model.modules())
    np.testing.assert_array_equal(model.predict(TEXTS), eager.predict(TEXTS))


@pytest.mark.slow
def test_a_compiled_model_scores_as_the_model_does(tokenizer, tmp_path):
    eager = tiny_scorer(tokenizer, tmp_path, 0, vectors=True)
    model = tiny_scorer(tokenizer, tmp_path, 0, vectors=True, compiled=True)
    assert model.compiled is True
    # its vectors are not the eager ones to the bit, so they are a space of their own
    assert model.vector_space == "tiny0@0/fp32+compiled"
    # batches of 4 texts of different lengths: several widths and token counts through one graph
    items = TEXTS + ["", 7, "x " * 400]
    want, got = eager.score(items, vectors=True), model.score(items, vectors=True)
    assert got.errors == want.errors and list(got.errors) == [len(TEXTS) + 1]
    ok = [i for i in range(len(items)) if i not in got.errors]
    np.testing.assert_allclose(got.probs[ok], want.probs[ok], atol=1e-4)
    np.testing.assert_allclose(got.vectors[ok], want.vectors[ok], atol=1e-4)
    np.testing.assert_array_equal(got.truncated, want.truncated)

    accurate = tiny_scorer(tokenizer, tmp_path, 1, compiled=True)
    assert CascadeModel("c", model, accurate, 0.5).compiled is True
    assert CascadeModel("c", model, tiny_scorer(tokenizer, tmp_path, 1), 0.5).compiled is False


def test_the_int8_form_is_left_uncompiled(tokenizer, tmp_path, caplog):
    # nlp/int8.py's layers make dynamo recompile layer by layer until its limit: no gain, much noise
    with caplog.at_level(logging.WARNING, logger="nlp.sentiment"):
        # two layers: int8 leaves the first in fp32 and quantises the rest
        model = tiny_scorer(tokenizer, tmp_path, 0, layers=2, precision="int8", compiled=True)
    assert model.precision == "int8" and model.compiled is False
    assert "tiny0: the int8 form is not compiled; it runs as it is" in caplog.text
