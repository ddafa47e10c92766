"""The fitted catalyst model's disk cache (nlp/catalyst_cache.py): a cached model scores
exactly as the fitted one, any input of the fit changes the key, and a bad file is refitted."""

from __future__ import annotations

import numpy as np
import pytest

from nlp import catalyst_cache
from nlp.catalysts import fit_catalyst_model, load_taxonomy


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LENS_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def fitted():
    """A model fitted on synthetic vectors: each type's examples cluster around its own direction."""
    taxonomy = load_taxonomy()
    n_types = len(taxonomy.type_ids)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(n_types + 1, 32))
    labels = np.zeros((12 * (n_types + 1), n_types + 1), dtype=np.int8)
    rows = []
    for j in range(n_types + 1):
        for k in range(12):
            labels[12 * j + k, j] = 1
            rows.append(centres[j] + 0.3 * rng.normal(size=32))
    vectors = np.asarray(rows, dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    hits = labels[:, :n_types].astype(bool) & (rng.random(labels[:, :n_types].shape) < 0.5)
    return taxonomy, fit_catalyst_model(taxonomy, vectors, hits, labels), vectors, hits


def key(**changes) -> str:
    args = dict(taxonomy_digest="abc", encoder_space="finance-minilm@0a1b2c3d4e5f/bf16", precision="bf16", device="cpu",
                candidate_floor=0.2, spacy_model="core_web_sm-3.8.0")
    args.update(changes)
    return catalyst_cache.model_key(**args)


def test_a_cached_model_scores_exactly_like_the_fitted_one(cache, fitted):
    _, model, vectors, hits = fitted
    path = catalyst_cache.save(model, "k1")
    assert path is not None and path.parent == cache and path.exists()
    assert not [p for p in cache.iterdir() if p.name.startswith(".tmp-")]  # written, then renamed
    loaded = catalyst_cache.load("k1")
    assert loaded.type_ids == model.type_ids
    want, got = model.score(vectors, hits), loaded.score(vectors, hits)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    # and the scores mean something: each example's own type is its most confident one
    assert (want[0][hits].min() > 0.5)


def test_the_calibrator_matches_scikit_learn(fitted):
    """The plain-array calibrator computes what LogisticRegression.predict_proba does."""
    from sklearn.linear_model import LogisticRegression

    from nlp.catalysts import _LinearCalibrator

    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 4)).astype(np.float32)
    y = (x @ np.array([1.5, -2.0, 0.5, 1.0]) + rng.normal(size=200) > 0).astype(int)
    reference = LogisticRegression().fit(x, y)
    ours = _LinearCalibrator(reference.coef_[0], reference.intercept_[0])
    np.testing.assert_allclose(ours.predict_proba(x), reference.predict_proba(x), rtol=0, atol=1e-6)  # scikit-learn works in float32 here


def test_every_input_of_the_fit_changes_the_key():
    base = key()
    assert key() == base  # deterministic
    for change in ({"taxonomy_digest": "abd"}, {"precision": "fp32"}, {"device": "cuda"},
                   {"candidate_floor": 0.25}, {"spacy_model": "core_web_sm-3.8.1"},
                   {"encoder_space": "/x/other-encoder/bf16"},
                   # retrained weights, same name and precision: only the digest differs
                   {"encoder_space": "finance-minilm@ffffffffffff/bf16"}):
        assert key(**change) != base, change


def test_a_changed_feature_code_changes_the_key(tmp_path, monkeypatch):
    """The key covers the source of the code that makes the fit's features."""
    fake = tmp_path / "nlp"
    fake.mkdir()
    real = catalyst_cache.Path(catalyst_cache.__file__).parent
    for name in ("catalysts.py", "timex.py", "sentiment.py", "int8.py"):
        (fake / name).write_bytes((real / name).read_bytes())
    monkeypatch.setattr(catalyst_cache, "__file__", str(fake / "catalyst_cache.py"))
    # sentiment.py and int8.py are in the key: they decide what a precision does to the encoder
    for name in ("timex.py", "sentiment.py", "int8.py"):
        before = key()
        with (fake / name).open("a") as handle:
            handle.write("\n# changed\n")
        assert key() != before, name


def test_a_truncated_file_is_ignored_and_nothing_breaks(cache, fitted, caplog):
    _, model, _, _ = fitted
    path = catalyst_cache.save(model, "k2")
    path.write_bytes(path.read_bytes()[:200])
    assert catalyst_cache.load("k2") is None
    assert "unreadable cached catalyst model" in caplog.text


def test_the_cache_can_be_turned_off(monkeypatch, fitted):
    monkeypatch.setenv("LENS_CACHE_DIR", "off")
    assert catalyst_cache.save(fitted[1], "k3") is None and catalyst_cache.load("k3") is None


def test_an_unwritable_cache_folder_is_a_warning_not_a_failure(tmp_path, monkeypatch, fitted, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("LENS_CACHE_DIR", str(blocker / "cache"))
    assert catalyst_cache.save(fitted[1], "k4") is None
    assert "not cached" in caplog.text
