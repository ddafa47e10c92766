"""The distributed engine: the per-article analysis on a Ray cluster (or Ray on this machine).

    pending articles ─► Parquet ─► ray.data.read_parquet ─► map_batches(ChunkAnalyzer)
        ─► Parquet (one row per article, its table rows nested) ─► the store, chunk by chunk

Each Ray actor loads the models once and analyses whole chunks with `analyze_chunk`, the
function the local engine calls; the driver then writes every chunk through
`Store.replace_analysis`, so the store stays the one place results land and an interrupted run
resumes exactly as a local one does. The cross-article stages (timeline, attribution) run
afterwards on the gathered rows, as for the local engine.

A Ray batch is one local chunk: the same articles in the same order. The sentiment model runs in
bf16 on CPUs that have it, and there the batch a sentence is scored in can change the last bits
of its probabilities; equal batches make the two engines' tables equal, not merely close. (The
int8 form of CPUs without bf16 uses fixed scales, so there the batch does not matter.)
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import groupby
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .tables import PER_ARTICLE, SCHEMAS

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install -e '.[ray]'"
ARTICLE_COLUMNS = ("article_id", "title", "text", "published_at", "content_hash")


class RayUnavailable(RuntimeError):
    """Ray is not installed in this environment."""


@dataclass
class RayOptions:
    address: str | None = None  # None: start Ray on this machine; else a cluster ("auto", "ray://host:10001")
    actors: int = 1  # analysers, each with its own copy of the models


def require_ray():
    """Import Ray with its usage reporting off (it would otherwise phone home), or say in one
    line how to install it."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
        import ray.data  # noqa: F401 - the [data] extra, not only the core
    except ImportError as exc:
        raise RayUnavailable(
            f"--engine ray needs Ray Data, which is not installed here ({exc.name or exc}): {INSTALL_HINT}"
        ) from None
    return ray


def actor_resources(nodes: list[dict], actors: int, device: str) -> tuple[dict[str, float], int]:
    """What each analyser asks Ray for, and how many threads its models use, from the cluster's
    live nodes (`ray.nodes()`).

    The actors share the CPUs evenly, but never more than the largest node has, or no node
    could host one. Each reserves one CPU less than its share: Ray Data's read, repartition and
    write tasks need a CPU of their own, and with every CPU reserved by an actor they would wait
    for ever. The models still use the whole share as threads (those tasks are light). Each
    actor takes a GPU, or an equal share where there are fewer GPUs than actors, unless the
    device is forced to the CPU."""
    alive = [n.get("Resources", {}) for n in nodes if n.get("Alive", True)]
    cpus = [int(r.get("CPU", 0)) for r in alive] or [1]
    gpus = sum(float(r.get("GPU", 0)) for r in alive)
    share = max(1, min(sum(cpus) // max(actors, 1), max(cpus)))
    resources: dict[str, float] = {"num_cpus": float(max(1, share - 1))}
    if gpus >= 1 and (device or "auto").split(":", 1)[0] in ("auto", "cuda"):
        resources["num_gpus"] = min(1.0, gpus / actors)
    return resources, share


# ---------------------------------------------------------------------------- rows on the wire


def nest(tables: dict[str, pa.Table], articles: pd.DataFrame, device: str | None) -> pa.Table:
    """One row per article of a chunk (columns article_id, content_hash, chunk, position, device)
    with that article's rows of every per-article table as a list of structs, so one Parquet
    dataset carries tables of different shapes. Each article keeps its rows in their order."""
    ids = articles["article_id"].tolist()
    where = {aid: i for i, aid in enumerate(ids)}
    columns = {
        "article_id": pa.array(ids, pa.string()),
        "content_hash": pa.array(articles["content_hash"].tolist(), pa.string()),
        "chunk": pa.array(articles["chunk"].tolist(), pa.int64()),
        "position": pa.array(articles["position"].tolist(), pa.int64()),
        "device": pa.array([device] * len(ids), pa.string()),
    }
    for name in PER_ARTICLE:
        table = tables[name]
        owner = [where[aid] for aid in table["article_id"].to_pylist()]
        table = table.take(pa.array(sorted(range(len(owner)), key=owner.__getitem__), pa.int64()))  # stable
        counts = Counter(owner)
        offsets = [0]
        for i in range(len(ids)):
            offsets.append(offsets[-1] + counts.get(i, 0))
        values = pa.StructArray.from_arrays([c.combine_chunks() for c in table.columns], fields=list(table.schema))
        columns[name] = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)
    return pa.table(columns)


def unnest(rows: pa.Table) -> dict[str, pa.Table]:
    """The per-article tables of nested rows (the inverse of `nest`), in the rows' order and
    with the tables' own schemas."""
    tables = {}
    for name in PER_ARTICLE:
        values = rows[name].combine_chunks().flatten()
        tables[name] = pa.Table.from_struct_array(values).cast(SCHEMAS[name])
    return tables


class ChunkAnalyzer:
    """The Ray Data UDF: one instance per actor, so the models load once per actor."""

    def __init__(self, config, chunk_size: int):
        from nlp.pipeline import build_pipeline

        from .run import pipeline_device

        self.config = config
        self.chunk_size = chunk_size  # the local engine's: the components batch alike
        self.nlp = build_pipeline(config)
        self.device = pipeline_device(self.nlp)

    def __call__(self, batch: pa.Table) -> pa.Table:
        from .run import analyze_chunk

        frame = batch.to_pandas()
        out = []
        # A batch is one chunk when Ray keeps the blocks aligned (see analyze_pending); grouping
        # makes a chunk that arrived in pieces still come out right.
        for _, part in frame.groupby("chunk", sort=True):
            part = part.sort_values("position")
            records = part[list(ARTICLE_COLUMNS)].to_dict("records")
            # One process per actor: Ray's actors are the parallelism here.
            nested = nest(analyze_chunk(self.nlp, records, self.config, n_process=1, chunk_size=self.chunk_size),
                          part, self.device)
            out.append(nested.append_column("chunk_seen", pa.array([len(part)] * len(part), pa.int64())))
        return pa.concat_tables(out)


# ---------------------------------------------------------------------------- the driver


@dataclass
class RayAnalysis:
    analysed: int = 0
    truncated: int = 0
    device: str | None = None


def analyze_pending(
    store,
    pending: pd.DataFrame,
    config,
    chunk_size: int,
    options: RayOptions,
    staging_root: Path,
    on_progress: Callable[[int, int], None] | None = None,
) -> RayAnalysis:
    """Analyse `pending` (the store's pending articles, in the local engine's order) on Ray, one
    Ray batch per chunk of `chunk_size` articles, and write the results into `store`, chunk by
    chunk. The articles and the analysed rows are staged as Parquet under `staging_root` (in
    the run folder): on a cluster of several machines that must be a folder every node mounts."""
    ray = require_ray()
    from ray.data import ActorPoolStrategy, DataContext

    started_here = not ray.is_initialized()
    if started_here:
        _start(ray, options.address)
    staging = Path(staging_root) / uuid.uuid4().hex[:12]
    try:
        articles_dir, rows_dir = staging / "articles", staging / "rows"
        articles_dir.mkdir(parents=True)
        frame = pending[list(ARTICLE_COLUMNS)].reset_index(drop=True)
        frame["position"] = range(len(frame))
        frame["chunk"] = frame["position"] // chunk_size
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), articles_dir / "part-0.parquet",
                       row_group_size=chunk_size)

        context = DataContext.get_current()
        context.execution_options.preserve_order = True  # chunk boundaries depend on row order
        context.enable_progress_bars = False  # the CLI draws its own
        if not log.isEnabledFor(logging.DEBUG):  # the execution plan and timings, each run
            logging.getLogger("ray.data").setLevel(logging.ERROR)
        resources, threads = actor_resources(ray.nodes(), options.actors, config.device)
        log.info("ray: %d articles in %d chunk(s) of %d on %d actor(s), each %s and %d threads", len(frame),
                 -(-len(frame) // chunk_size), chunk_size, options.actors, resources, threads)
        # Blocks of exactly one chunk, batches of exactly one chunk: each actor call sees the
        # same articles, in the same order, as one iteration of the local engine.
        (
            ray.data.read_parquet(str(articles_dir))
            .repartition(target_num_rows_per_block=chunk_size, strict=True)
            .map_batches(ChunkAnalyzer, fn_constructor_args=(replace(config, threads=config.threads or threads), chunk_size),
                         batch_size=chunk_size,
                         batch_format="pyarrow", compute=ActorPoolStrategy(size=options.actors), **resources)
            .write_parquet(str(rows_dir))
        )
        result = _gather(store, rows_dir, frame, on_progress)
        result.device = f"{result.device}, {options.actors} Ray actor{'s' if options.actors != 1 else ''}"
        return result
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if started_here:
            ray.shutdown()


def _start(ray, address: str | None) -> None:
    verbose = log.isEnabledFor(logging.DEBUG)  # -v: Ray's own logs and the actors' too
    quiet = {"logging_level": logging.INFO if verbose else logging.ERROR, "log_to_driver": verbose}
    if address:
        ray.init(address=address, **quiet)
    else:  # a private Ray on this machine; no dashboard (a web server nobody asked for)
        ray.init(include_dashboard=False, **quiet)


def _gather(store, rows_dir: Path, frame: pd.DataFrame,
            on_progress: Callable[[int, int], None] | None) -> RayAnalysis:
    """Write the analysed rows into the store, one transaction per chunk, in chunk order."""
    files = sorted(rows_dir.glob("*.parquet"),
                   key=lambda f: min(pq.read_table(f, columns=["chunk"])["chunk"].to_pylist(), default=-1))
    expected = frame.groupby("chunk").size().to_dict()
    result, total = RayAnalysis(), len(frame)
    for path in files:
        rows = pq.read_table(path).sort_by([("chunk", "ascending"), ("position", "ascending")])
        start = 0
        for chunk, run in groupby(rows["chunk"].to_pylist()):
            length = len(list(run))
            part, start = rows.slice(start, length), start + length
            if part["chunk_seen"][0].as_py() != expected[chunk]:
                log.warning("ray: chunk %d reached its actor in pieces; its sentiment may differ from the "
                            "local engine's in the last bits", chunk)
            tables = unnest(part)
            ids = part["article_id"].to_pylist()
            store.replace_analysis(ids, dict(zip(ids, part["content_hash"].to_pylist(), strict=True)), tables)
            result.analysed += len(ids)
            result.truncated += sum(v or 0 for v in tables["article_scores"]["n_truncated"].to_pylist())
            result.device = result.device or part["device"][0].as_py()
            if on_progress:
                on_progress(result.analysed, total)
    if result.analysed != total:
        raise RuntimeError(f"ray: {result.analysed} of {total} pending articles came back analysed; "
                           "the rest stay pending for the next run")
    return result
