"""The fitted catalyst model, kept on disk between runs.

Fitting it (lemmatising and encoding the labelled sentences, ~370 then and ~1,700 since
models/catalyst_sentences.yaml, then 5-fold cross-validated logistic regressions) took 8 s of
every process that analysed anything, which is 13% of
`lens run corpus` and as much again for each Ray actor. The fit is deterministic, so its
result is saved under a key of everything it depends on: the taxonomy file, the code that
turns sentences into features (this package's catalysts.py and timex.py), the encoder, its
precision, sentiment.py and int8.py (which say what a precision does to it), the spaCy model
and the scikit-learn version. Any change misses the cache and refits.

Plain arrays in an .npz read with allow_pickle=False (a cache file is never code), written to a
temporary file and renamed. The folder is $LENS_CACHE_DIR, else $XDG_CACHE_HOME/catalyst-lens,
else ~/.cache/catalyst-lens; LENS_CACHE_DIR=off (or a folder that cannot be written) turns the
cache off without failing the run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np

# the one cache folder of the tool, also where base encoders are unpacked
from models.bases import cache_dir

log = logging.getLogger(__name__)

FORMAT = 1
# sentiment.py and int8.py decide what "int8" and "bf16" do to the encoder
_SOURCES = ("catalysts.py", "timex.py", "sentiment.py", "int8.py")


def model_key(taxonomy_digest: str, encoder_space: str, precision: str, device: str, candidate_floor: float,
              spacy_model: str) -> str:
    """`encoder_space` names the encoder's weights (its `vector_space`: for the bundled model a
    digest of them), so vectors from other weights never meet a classifier fitted on these."""
    import sklearn

    here = Path(__file__).parent
    h = hashlib.sha256()
    for part in (str(FORMAT), taxonomy_digest, encoder_space, precision, device, repr(candidate_floor),
                 spacy_model, sklearn.__version__):
        h.update(part.encode() + b"\0")
    for name in _SOURCES:
        h.update((here / name).read_bytes())
    return h.hexdigest()[:24]


def save(model, key: str) -> Path | None:
    """Write `model` (a nlp.catalysts.CatalystModel) under `key`; None when there is no cache."""
    folder = cache_dir()
    if folder is None:
        return None
    report = {k: v for k, v in model.report.items() if not isinstance(v, np.ndarray)}
    arrays = {
        "type_ids": np.array(json.dumps(list(model.type_ids))),
        "classifier_c": np.array(model.classifier.c, dtype=np.float64),
        "classifier_weights": model.classifier.weights,
        "classifier_bias": model.classifier.bias,
        "protos": model.protos,
        "proto_labels": model.proto_labels,
        "calibrator_coef": model.calibrator.coef,
        "calibrator_intercept": np.array(model.calibrator.intercept, dtype=np.float64),
        "candidate_floor": np.array(model.candidate_floor, dtype=np.float64),
        "report": np.array(json.dumps(report)),
    }
    return write(f"catalyst-model-{key}.npz", lambda handle: np.savez(handle, **arrays))


def write(name: str, fill: Callable[[IO[bytes]], None]) -> Path | None:
    """Write the cache file `name` with `fill(handle)`, whole or not at all: into a temporary
    file of its own (processes filling the cache at once never mix bytes), then renamed. None
    when the cache is off or its folder cannot be written."""
    folder = cache_dir()
    if folder is None:
        return None
    target = folder / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".tmp-", suffix=target.suffix, delete=False) as handle:
            fill(handle)
        os.replace(handle.name, target)
    except OSError as exc:
        log.warning("%s not cached (%s): %s", name, folder, exc)
        return None
    return target


def load(key: str):
    """The CatalystModel saved under `key`, or None (no cache, no file, or an unreadable one)."""
    from .catalysts import CatalystModel, _LinearCalibrator, _OneVsRest

    folder = cache_dir()
    path = folder / f"catalyst-model-{key}.npz" if folder else None
    if path is None or not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            classifier = _OneVsRest(float(data["classifier_c"]))
            classifier.weights, classifier.bias = data["classifier_weights"], data["classifier_bias"]
            model = CatalystModel(
                type_ids=tuple(json.loads(str(data["type_ids"]))),
                classifier=classifier,
                protos=data["protos"],
                proto_labels=data["proto_labels"],
                calibrator=_LinearCalibrator(data["calibrator_coef"], float(data["calibrator_intercept"])),
                candidate_floor=float(data["candidate_floor"]),
                report=json.loads(str(data["report"])),
            )
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:  # truncated or foreign file: refit
        log.warning("ignoring unreadable cached catalyst model %s: %s", path, exc)
        return None
    return model
