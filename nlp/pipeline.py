"""The one spaCy pipeline of Catalyst Lens, and the single place where Docs become table rows.

    en_core_web_sm (tok2vec, tagger, lens_paragraphs, lens_sentence_guards, parser, attribute_ruler, lemmatizer, ner)
      → lens_entities   knowledge-base ruler + linker (nlp/entities.py)
      → lens_dates      date expressions → dated intervals (nlp/timex.py)
      → lens_sentiment  sentence sentiment, batched across documents (nlp/sentiment.py); the
                        bundled model's pass gives the sentence vectors too
      → lens_catalysts  taxonomy patterns + embedding classifier over those vectors (nlp/catalysts.py)
      → lens_catalyst_tone  the accurate sentiment model over the sentences with a catalyst
                        (nlp/catalyst_tone.py)

`parse` runs everything up to lens_dates (in worker processes when there are cores to spare),
`annotate` the two transformer components, in this process, over batches of Docs.

Each article is analysed as `title + "\\n\\n" + text`, so the headline's entities and catalysts
count; `start_char`/`end_char` in the tables refer to that string (sentence 0 is the title).
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import minibatch

from models.registry import CASCADES, TONE_MODEL

# Importing the component modules registers their factories with spaCy.
from . import catalyst_tone as _catalyst_tone
from . import catalysts as _catalysts  # noqa: F401
from . import sentiment as _sentiment
from .catalysts import catalyst_rows
from .entities import entity_rows
from .sentences import sentence_starts
from .sentences import sentences as sentence_spans
from .spacy_stage import RULE_COMPONENTS, SPACY_MODEL, load_spacy_stage, make_docs

log = logging.getLogger(__name__)


def release_free_heap() -> None:
    """Hand the heap glibc keeps after a chunk back to the OS (a no-op elsewhere). The parent's
    RSS otherwise ratchets up with freed-but-kept memory: after 4 chunks of 128 articles,
    1,804-2,039 MB before and 1,318-1,447 MB after `malloc_trim(0)`, data unchanged."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


COMPONENTS = ("lens_entities", "lens_dates", "lens_sentiment", "lens_catalysts", "lens_catalyst_tone")
# The transformers: they run once, in the calling process, over batches of Docs (`annotate`).
# The other components are pure rules over the parse and run with en_core_web_sm (`parse`), in
# its worker processes when it has them, which spreads ~20% of the annotation time over the cores.
MODEL_COMPONENTS = ("lens_catalysts", "lens_sentiment", "lens_catalyst_tone")


@dataclass
class PipelineConfig:
    spacy_model: str = SPACY_MODEL
    # The model that scores every sentence of the pipeline; the bundled default's pass also gives
    # the sentence vectors of the catalyst classifier and the narratives.
    sentiment_model: str = "finance-minilm"
    # The model `lens sentiment` and `lens eval-sentiment` score with when not told otherwise.
    # They need tone alone, not vectors, so a slower and more accurate model than the
    # pipeline's (models/registry.py: TONE_MODEL).
    tone_model: str = TONE_MODEL
    # Scores again the sentences that report a catalyst (nlp/catalyst_tone.py says why); "none"
    # leaves every tone to sentiment_model, and so does naming the same model.
    catalyst_tone_model: str = _catalyst_tone.DEFAULT_TONE_MODEL
    # Which of them: those whose top-two margin under sentiment_model is below this; 1 asks
    # every one. None: every one on a GPU, below the cascade's margin (0.475) on the CPU.
    catalyst_tone_margin: float | None = None
    device: str = "auto"
    # Of both transformers (the sentiment model and, through it or the packaged encoder, the
    # catalyst sentence vectors): auto, fp32, bf16, fp16 or int8 (nlp/sentiment.py:
    # select_precision). "fp32" on an AVX2 CPU gives up int8's speed for fp32's exact numbers.
    precision: str = "auto"
    # Documents per batch of the en_core_web_sm stage: its peak memory grows with the batch
    # (tok2vec and NER activations of every token at once; 64 long articles peaked ~650 MB
    # higher than 16) while its speed does not. Two workers parsing 96 bench articles: 1,022
    # MB PSS together with batches of 16, 665 with 4, 526 with 1, in 24.6-28.7 s either way.
    batch_size: int = 4
    # Documents per batch of the lens_* components: the transformers want many sentences at a
    # time (16 articles gave 20% lower throughput than 64). Used as is when it divides the
    # commit chunk, else the chunk is the batch (lens.run.analyze_chunks), so batches never
    # cross a commit and every engine's numbers match.
    component_batch_size: int = 64
    sentiment_batch_size: int | None = None  # sentences per transformer batch (None: 256 on CUDA, 64 on CPU)
    # Worker processes of the en_core_web_sm stage (with the rule components); None: one per
    # core up to 4 on the CPU (the stage is single-threaded, so a second core otherwise idles
    # while it runs), up to 8 with CUDA (the parent's transformers leave the cores to spaCy).
    # 1 keeps spaCy in the parent, on the GPU when cupy is installed.
    n_process: int | None = None
    # Articles per store transaction: an interrupted run redoes at most this many, and a
    # larger chunk commits less often.
    commit_every: int = 128
    threads: int | None = None
    disable: tuple[str, ...] = field(default_factory=tuple)

    def catalyst_tone(self) -> str | None:
        """The model lens_catalyst_tone runs, or None when the pipeline has no use for it."""
        name = (self.catalyst_tone_model or "").strip()
        if name.lower() in ("", "none") or name == self.sentiment_model:
            return None
        if {name, self.sentiment_model} <= _catalyst_tone.ACCURATE:
            return None  # the sentence pass is already one of the accurate models (finance-mpnet, -mpnet6)
        if "lens_catalyst_tone" in self.disable or "lens_catalysts" in self.disable or "lens_sentiment" in self.disable:
            return None
        cascade = CASCADES.get(self.sentiment_model)
        if (cascade and {cascade[1], name} <= _catalyst_tone.ACCURATE and (margin := self.tone_margin()) is not None
                and margin <= cascade[2]):
            # the cascade has asked that model about every sentence its fast model was unsure of
            # at this margin or wider: asking again would give the same tone
            return None
        return name

    def tone_margin(self) -> float | None:
        """lens_catalyst_tone's margin: the configured one, else its device's default (None: all)."""
        if self.catalyst_tone_margin is not None:
            return float(self.catalyst_tone_margin)
        return _catalyst_tone.default_margin(self.device, self.precision)

    def rule_components(self) -> tuple[str, ...]:
        """The rule components this pipeline has (the spaCy stage's, nlp/spacy_stage.py)."""
        return tuple(name for name in RULE_COMPONENTS if name not in self.disable)


def build_pipeline(config: PipelineConfig | None = None) -> Language:
    config = config or PipelineConfig()
    if _sentiment.select_device(config.device).type == "cuda":
        if config.n_process == 1:
            # Before loading: spaCy allocates on the GPU only when asked first (it needs cupy).
            # Only for a single process: the worker processes parse on the CPU (nlp/parse_workers.py).
            on_gpu = spacy.prefer_gpu()
            log.info("spaCy on %s", "the GPU" if on_gpu else "the CPU (cupy is not installed); transformers on the GPU")
        else:
            log.info("spaCy on the CPU in worker processes; transformers on the GPU")
    nlp = load_spacy_stage(config.spacy_model, config.rule_components())
    configs = {
        "lens_sentiment": {
            "model": config.sentiment_model,
            "device": config.device,
            "batch_size": config.sentiment_batch_size,
            "threads": config.threads,
            "precision": config.precision,
        },
        # the bundled sentiment model is the sentence encoder too: the same device and precision
        # give the same instance
        "lens_catalysts": {"device": config.device, "precision": config.precision},
    }
    if config.catalyst_tone() is not None:
        configs["lens_catalyst_tone"] = {"model": config.catalyst_tone(), "device": config.device,
                                         "precision": config.precision, "margin": config.tone_margin()}
    for name in COMPONENTS:
        if name in configs and name not in config.disable:
            nlp.add_pipe(name, config=configs[name])
    log.info("pipeline: %s", " → ".join(nlp.pipe_names))
    return nlp


def analysis_text(title: str | None, text: str | None) -> str:
    title, text = (title or "").strip(), (text or "").strip()
    if title and text:
        return f"{title}\n\n{text}"
    return title or text


def _published(article: dict) -> datetime | None:
    published = article.get("published_at")
    if published is None or pd.isna(published):
        return None  # undated: NaT must not reach the date resolver as a datetime
    if hasattr(published, "to_pydatetime"):
        published = published.to_pydatetime()
    return published if isinstance(published, datetime) else None


@dataclass
class DocRows:
    article_id: str
    sentences: list[dict]
    entities: list[dict]
    catalysts: list[dict]
    article: dict
    sentence_vectors: list[dict] = field(default_factory=list)  # MiniLM vectors as float16 bytes


def doc_rows(doc: Doc) -> DocRows:
    """Everything the tables need from one analysed Doc (the only Doc → rows conversion)."""
    aid = doc._.article_id
    scored = doc._.sent_probs is not None  # False when lens_sentiment is disabled
    if not len(doc):
        sentences = []
    elif scored:
        sentences = [{"article_id": aid, **row} for row in _sentiment.sentence_rows(doc)]
    else:
        sentences = [{"article_id": aid, "sent_idx": i, "start_char": s.start_char, "end_char": s.end_char,
                      "text": s.text} for i, s in enumerate(sentence_spans(doc))]
    score_of = {row["sent_idx"]: row.get("score") for row in sentences}

    entities = entity_rows(doc) if len(doc) else []
    by_entity: dict[str, set[int]] = {}
    for row in entities:
        by_entity.setdefault(row["entity_id"] or row["text"], set()).add(row["sent_idx"])
    entity_scores = {key: _sentiment.entity_sentiment(doc, sorted(idx)) if scored else None
                     for key, idx in by_entity.items()}
    for row in entities:
        row["sentiment"] = entity_scores[row["entity_id"] or row["text"]]

    catalysts = catalyst_rows(doc) if len(doc) else []
    for row in catalysts:
        row["sentiment"] = score_of.get(row["sent_idx"])

    n = len(sentences)
    weights = _sentiment.sentence_weights(
        n, {r["sent_idx"] for r in entities if r["entity_id"]}, {r["sent_idx"] for r in catalysts}
    )
    article = {
        "article_id": aid,
        "sentiment": _sentiment.article_sentiment(doc, weights) if n and scored else None,
        "n_sentences": n,
        "n_entities": len(entities),
        "n_catalysts": len(catalysts),
        "n_truncated": int(sum(bool(t) for t in (doc._.sent_truncated if doc._.sent_truncated is not None else []))),
        "n_rescored": int(doc._.sent_rescored.sum()) if doc._.sent_rescored is not None else 0,
    }
    return DocRows(aid, sentences, entities, catalysts, article, sentence_vector_rows(doc))


def sentence_vector_rows(doc: Doc) -> list[dict]:
    """`Doc._.sent_vectors` as rows (vector: 384 little-endian float16 bytes), so narrative
    discovery reads the embeddings the catalyst component computed instead of re-encoding.
    No rows when the catalyst component did not run or its vectors do not match the sentences."""
    vectors = doc._.sent_vectors if Doc.has_extension("sent_vectors") else None
    if vectors is None or not len(doc):
        return []
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or len(vectors) != len(sentence_starts(doc)):
        return []
    half = vectors.astype("<f2")
    space = doc._.vector_space
    return [{"article_id": doc._.article_id, "sent_idx": i, "vector": half[i].tobytes(), "space": space}
            for i in range(len(half))]  # fmt: skip


def default_n_process(device: str = "auto") -> int:
    """Worker processes for the en_core_web_sm stage (see PipelineConfig.n_process)."""
    cores = os.cpu_count() or 1
    if _sentiment.select_device(device).type != "cpu":
        # With the transformers on the GPU, spaCy on the CPU is the whole remaining cost, so it
        # gets the cores. Measured on an H100 with 16 cores (docs/scaling.md), 500 articles:
        # spaCy in the parent on the GPU 8.5 articles/s; 4 / 8 / 14 CPU workers 10.4 / 14.5 /
        # 14.8 (beyond 8 the parent is the limit). The workers never touch CUDA: spaCy stays
        # on the CPU whenever n_process is not 1 (build_pipeline).
        return max(1, min(cores, 8))
    return max(1, min(cores, 4))


def parse(nlp: Language, articles: Iterable[dict], batch_size: int = 16, n_process: int = 1) -> Iterator[Doc]:
    """en_core_web_sm, lens_paragraphs and the rule components (all but MODEL_COMPONENTS): Docs
    carrying their article's id and publication time, in input order, made in `n_process`
    worker processes when above 1."""
    skip = [name for name in nlp.pipe_names if name in MODEL_COMPONENTS]
    items = ((analysis_text(a.get("title"), a.get("text")), a["article_id"], _published(a)) for a in articles)
    if n_process > 1:
        yield from _parse_in_workers(nlp, items, batch_size, n_process)
    else:
        yield from nlp.pipe(make_docs(nlp, items), batch_size=batch_size, disable=skip)


AHEAD_DOCS_PER_WORKER = 64


def batches_ahead(n_process: int, batch_size: int) -> int:
    """Batches the workers may have done in advance: about 64 Docs per worker and a component
    batch of 64 more, whatever the batch size, so that they keep parsing while the parent runs
    the transformers over 64 Docs (a window counted in batches starved them when the batches
    shrank from 16 Docs to 4)."""
    return -(-AHEAD_DOCS_PER_WORKER * (n_process + 1) // batch_size)


def start_parse_workers(config: PipelineConfig, n_process: int) -> None:
    """Start `parse`'s worker processes before `build_pipeline(config)`, so that they load
    en_core_web_sm (about 3 s in a fresh process) while this process loads the transformers."""
    from .parse_workers import start

    start(config.spacy_model, config.rule_components(), n_process)


def _parse_in_workers(nlp: Language, items: Iterable[tuple[str, str, datetime | None]], batch_size: int,
                      n_process: int) -> Iterator[Doc]:
    """`nlp.pipe(n_process=...)` without its lockstep, in workers that share nothing with this
    process (nlp/parse_workers.py says why). spaCy's own workers send each batch down a pipe and
    block until the caller reads it, so while the caller ran the transformers over a batch of
    Docs the workers sat idle (measured: 256 articles used 64-80% of two cores, and took 167 s
    against 147 s with workers that parse ahead)."""
    from .parse_workers import parse_in_workers

    # The workers load the same spaCy stage: en_core_web_sm and the rule components this
    # pipeline has.
    rules = tuple(name for name in RULE_COMPONENTS if name in nlp.pipe_names)
    spacy_model = nlp.meta.get("lens_spacy_model", SPACY_MODEL)
    parsed = parse_in_workers(spacy_model, rules, n_process, minibatch(items, size=batch_size),
                              ahead=batches_ahead(n_process, batch_size))
    for data, user_data in parsed:
        doc = Doc(nlp.vocab).from_bytes(data)
        doc.user_data.update(user_data)
        yield doc


def annotate(nlp: Language, docs: Iterable[Doc], component_batch_size: int = 64) -> Iterator[DocRows]:
    """The transformer components (MODEL_COMPONENTS) over parsed Docs, batched
    `component_batch_size` Docs at a time, then the rows. Transformer numbers depend (in the
    last bits) on which sentences share a batch: see lens.run.analyze_chunks for how runs stay
    reproducible."""
    for name in (name for name in nlp.pipe_names if name in MODEL_COMPONENTS):
        proc = nlp.get_pipe(name)
        docs = proc.pipe(docs, batch_size=component_batch_size) if hasattr(proc, "pipe") else map(proc, docs)
    for doc in docs:
        yield doc_rows(doc)


def analyze(nlp: Language, articles: Iterable[dict], batch_size: int = 16, n_process: int = 1,
            component_batch_size: int = 64) -> Iterator[DocRows]:
    """Stream analysed rows, one DocRows per article, in input order: `parse` then `annotate`.

    en_core_web_sm and the rule components run in `n_process` worker processes, which send
    the Docs back; the transformers run here, where they are loaded once. On 2 cores, 256
    articles: 184 s with spaCy's own workers and one torch thread, 167 s with two threads,
    144-147 s with the worker pool of `_parse_in_workers` (the workers parse ahead while the
    transformers run)."""
    yield from annotate(nlp, parse(nlp, articles, batch_size, n_process), component_batch_size)
