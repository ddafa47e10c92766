"""Choose the margin threshold of a sentiment cascade on the validation rows.

    .venv/bin/python models/fit_cascade.py ../shared/data/sentiment --share 0.2

A cascade (nlp/cascade.py) scores every sentence with a fast model and again with an accurate one
where the fast model's two most likely labels are closer than a threshold. This script scores the
validation rows that both models' training runs kept apart (the same split: seeds and shares from
their lens_sentiment.json) with both bundled models in fp32, sets the threshold at the ``--share``
quantile of the fast model's margins over them, so that share of them gets the second opinion, and
prints validation and held-out figures for the fast model, the accurate model and the cascade. The
held-out rows choose nothing; the threshold goes into models/registry.py: CASCADES by hand.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from models.registry import ARTEFACT_META, BUNDLED  # noqa: E402
from models.train_sentiment import (  # noqa: E402
    LABEL_TO_ID,
    carve_validation,
    load_splits,
    scores,
    training_sources,
)
from nlp.cascade import top_two_margin as margins  # noqa: E402

# with the sources trained on, what must agree between the two runs for their validation and
# held-out rows to be the same
SPLIT_ARGS = ("holdout_frac", "split_seed", "val_frac")


def split_args(fast: str, accurate: str) -> dict:
    metas = [json.loads((BUNDLED[name] / ARTEFACT_META).read_text()) for name in (fast, accurate)]
    args = [{k: m["train_args"].get(k) for k in SPLIT_ARGS}
            | {"sources": training_sources(m["train_args"]["mix"], m["train_args"].get("stage2_mix"))}
            for m in metas]
    if args[0] != args[1] or metas[0]["holdout_digest"] != metas[1]["holdout_digest"]:
        raise SystemExit(f"{fast} and {accurate} were trained on different splits ({args[0]} against {args[1]}); "
                         "a threshold chosen on one's validation rows would be chosen on the other's training rows")
    return args[0]


def figures(labels: list[str], probs: np.ndarray) -> dict:
    """Accuracy, macro-F1 and weighted-F1 as training reports them (train_sentiment.scores)."""
    found = scores(np.array([LABEL_TO_ID[label] for label in labels]), probs.argmax(axis=1))
    return {k: v for k, v in found.items() if k not in ("n", "confusion")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--fast", default="finance-minilm")
    parser.add_argument("--accurate", default="finance-mpnet")
    parser.add_argument("--share", type=float, default=0.2, help="share of validation rows the accurate model sees")
    args = parser.parse_args(argv)
    if not 0 < args.share < 1:
        raise SystemExit(f"--share {args.share}: must be between 0 and 1")

    from nlp.sentiment import shared_sentiment_model

    split = split_args(args.fast, args.accurate)
    sources = split["sources"]
    splits = load_splits(args.data_dir, sources, split["holdout_frac"], split["split_seed"])
    _, val = carve_validation(splits, sources, split["val_frac"], split["split_seed"])
    sets = {f"validation {s}": val[s] for s in sources} | {f"held-out {s}": splits[s][1] for s in sources}
    models = {name: shared_sentiment_model(name, device="cpu", precision="fp32") for name in (args.fast, args.accurate)}
    probs = {name: {k: m.predict(frame["text"].tolist()) for k, frame in sets.items()} for name, m in models.items()}

    fast, accurate = probs[args.fast], probs[args.accurate]
    pooled = np.concatenate([margins(fast[k]) for k in sets if k.startswith("validation")])
    threshold = float(np.quantile(pooled, args.share))
    print(f"threshold {threshold:.3f}: the fast model's top-two margin below it on {args.share:.0%} of "
          f"{len(pooled)} validation rows")
    for key, frame in sets.items():
        unsure = margins(fast[key]) < threshold
        both = np.where(unsure[:, None], accurate[key], fast[key])
        labels = frame["label"].tolist()
        print(f"{key:16s} rows {len(frame):5d}  second opinion {unsure.mean():.1%}  "
              f"{args.fast} {figures(labels, fast[key])}  {args.accurate} {figures(labels, accurate[key])}  "
              f"cascade {figures(labels, both)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
