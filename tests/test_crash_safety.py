"""Crash safety (issue #8 item 3): `lens run` killed with SIGKILL during ingest, during the
language pipeline, while writing tables and the report, and at a random moment, then run
again, ends with exactly the tables of a run never interrupted: no article lost, no row twice.

The kills at named steps use the test hook of lens/crash_points.py (LENS_TEST_KILL_AT); the
random one is a SIGKILL from this process after a seeded random share of the reference run's
wall time. Store and commit chunks are 2 articles (lens.toml below), so 8 articles make
several transactions in each stage and a kill can fall between two of them.

Columns that legitimately differ between runs are left out of the comparison:
  articles.fetched_at    when the item was read: a re-run reads the sources again
  analyzed.analyzed_at   when a chunk was committed
  http_cache.updated_at  when validators were stored (file sources store none)
  source_log             a log of every read attempt: an interrupted run's reads happened too
  report.html            states when it was generated and how long the run took (checked whole)
  run_meta.json          holds the run's wall time (checked readable)
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
TEXTS = ("deepseek_r1_release.md", "us_tariff_china_retaliation.md", "alibaba_qwq32b_hong_kong.md",
         "hk_stocks_worst_day_syndicated.txt", "hk_stocks_worst_day_syndicated.meta.json",
         "fed_cut_nvidia_china_curbs.txt", "fed_cut_nvidia_china_curbs.meta.json", "chinese_tech_valuation_note.txt")
PAGES = ("hang_seng_worst_day_2025-04-07.html", "geneva_tariff_truce.html")
NEWS = [REPO / "corpus" / "texts" / name for name in TEXTS] + [REPO / "corpus" / "pages" / name for name in PAGES]
# 6 texts (two dated by a sidecar, one undated, one a syndicated near-copy of the first page) + 2 pages
N_ARTICLES = 8
TICKERS = ("CQQQ", "QQQM", "KWEB", "SPY", "BABA", "NVDA", "^HSI")
COMMIT_EVERY = 2
CONFIG = f"[ingest]\ncommit_every = {COMMIT_EVERY}\n\n[nlp]\ncommit_every = {COMMIT_EVERY}\n"
PARQUET = ("articles", "sentences", "entities", "catalysts", "events", "moves", "event_study", "event_study_by_type")
TEXT_FILES = ("timeline.csv", "timeline.md", "annotated_moves.csv", "annotated_moves.md", "market_problems.txt")
IGNORED_COLUMNS = {"articles": ["fetched_at"], "analyzed": ["analyzed_at"], "http_cache": ["updated_at"]}
IGNORED_TABLES = {"source_log"}
SEED = 20250407


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("crash")
    (root / "news").mkdir()
    for path in NEWS:
        shutil.copy(path, root / "news" / path.name)
    (root / "prices").mkdir()
    for ticker in TICKERS:
        shutil.copy(REPO / "corpus" / "prices" / f"{ticker}.csv", root / "prices")
    (root / "lens.toml").write_text(CONFIG)
    return root


def lens_run(inputs: Path, out: Path, kill_at: str | None = None, kill_after: float | None = None) -> tuple[int, float]:
    """Run `lens run` in a subprocess; returns (exit status, wall seconds). A status of -9 means
    it died by SIGKILL (the hook's or ours)."""
    env = {k: v for k, v in os.environ.items() if k != "LENS_TEST_KILL_AT"}
    if kill_at:
        env["LENS_TEST_KILL_AT"] = kill_at
    cmd = [sys.executable, "-m", "lens.cli", "-q", "-c", str(inputs / "lens.toml"), "run", str(inputs / "news"),
           "--prices", str(inputs / "prices"), "--out", str(out)]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = proc.communicate(timeout=kill_after if kill_after is not None else 900)
    except subprocess.TimeoutExpired:
        if kill_after is None:
            proc.kill()
            raise
        proc.send_signal(signal.SIGKILL)
        output, _ = proc.communicate()
    if proc.returncode not in (0, -signal.SIGKILL):
        pytest.fail(f"lens run exited {proc.returncode}:\n{output[-3000:]}")
    return proc.returncode, time.monotonic() - started


def store_tables(out: Path) -> dict[str, pa.Table]:
    """Every store table, sorted on all its columns, without the columns that may differ."""
    con = duckdb.connect(str(out / "lens.duckdb"), read_only=True)
    try:
        names = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        tables = {}
        for name in sorted(set(names) - IGNORED_TABLES):
            exclude = IGNORED_COLUMNS.get(name)
            columns = f"* EXCLUDE ({', '.join(exclude)})" if exclude else "*"
            tables[name] = con.sql(f"SELECT {columns} FROM {name} ORDER BY ALL").to_arrow_table()
        return tables
    finally:
        con.close()


def count(out: Path, sql: str) -> int:
    con = duckdb.connect(str(out / "lens.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()[0][0]
    finally:
        con.close()


def parquet(out: Path, name: str) -> pa.Table:
    table = pq.read_table(out / f"{name}.parquet")
    return table.drop_columns(IGNORED_COLUMNS.get(name, []))


def assert_same_run(out: Path, reference: Path) -> None:
    ref_tables, tables = store_tables(reference), store_tables(out)
    assert sorted(tables) == sorted(ref_tables)
    for name, ref in ref_tables.items():
        assert tables[name].num_rows == ref.num_rows, f"store table {name}: {tables[name].num_rows} rows, reference {ref.num_rows}"
        assert tables[name].equals(ref), f"store table {name} differs from the uninterrupted run"
    for name in PARQUET:
        assert parquet(out, name).equals(parquet(reference, name)), f"{name}.parquet differs from the uninterrupted run"
    for name in TEXT_FILES:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), f"{name} differs from the uninterrupted run"
    assert sorted(p.name for p in out.glob("chart_*.png")) == sorted(p.name for p in reference.glob("chart_*.png"))
    assert (out / "report.html").read_text(encoding="utf-8").rstrip().endswith("</html>")
    json.loads((out / "run_meta.json").read_text())
    assert not list(out.glob(".*.tmp")), "temp files left behind by a completed run"
    # No lost articles and no row twice, said directly (the equalities above imply them).
    articles = pq.read_table(out / "articles.parquet").column("article_id").to_pylist()
    assert len(articles) == len(set(articles)) == N_ARTICLES  # the syndicated near-copy is kept, flagged
    sentences = pq.read_table(out / "sentences.parquet").select(["article_id", "sent_idx"]).to_pylist()
    assert len({(r["article_id"], r["sent_idx"]) for r in sentences}) == len(sentences)
    assert {r["article_id"] for r in sentences} == set(articles)


@pytest.fixture(scope="module")
def reference(inputs) -> tuple[Path, float]:
    out = inputs / "reference"
    status, seconds = lens_run(inputs, out)
    assert status == 0
    return out, seconds


def test_killed_at_each_stage_then_rerun_matches_an_uninterrupted_run(inputs, reference):
    out = inputs / "killed"

    # 1. Inside the second article transaction of the ingest: the first one stays, whole.
    assert lens_run(inputs, out, "ingest-commit:2")[0] == -signal.SIGKILL
    assert count(out, "SELECT count(*) FROM articles") == COMMIT_EVERY
    assert count(out, "SELECT count(*) FROM minhashes") == COMMIT_EVERY  # same transaction as the articles
    assert not (out / "articles.parquet").exists()

    # 2. The re-run finishes the ingest, then dies inside the second analysis transaction.
    assert lens_run(inputs, out, "analyze-commit:2")[0] == -signal.SIGKILL
    stored = count(out, "SELECT count(*) FROM articles")
    assert count(out, "SELECT count(DISTINCT article_id) FROM articles") == stored
    assert count(out, "SELECT count(*) FROM analyzed") == COMMIT_EVERY
    for table in ("sentences", "article_scores"):  # rows only, and all rows, of the committed chunk
        assert count(out, f"SELECT count(DISTINCT article_id) FROM {table}") == COMMIT_EVERY
        assert count(out, f"SELECT count(*) FROM {table} WHERE article_id NOT IN (SELECT article_id FROM analyzed)") == 0

    # 3. Resumes the analysis, dies with events.parquet written to its temp name, not renamed.
    assert lens_run(inputs, out, "write-events.parquet")[0] == -signal.SIGKILL
    assert count(out, "SELECT count(*) FROM analyzed") == stored
    assert not (out / "events.parquet").exists()
    assert (out / ".events.parquet.tmp").exists()
    assert pq.read_table(out / "sentences.parquet").num_rows > 0  # exported before: whole and readable

    # 4. Dies with the report written but not yet in place.
    assert lens_run(inputs, out, "write-report.html")[0] == -signal.SIGKILL
    assert not (out / "report.html").exists()
    assert pq.read_table(out / "moves.parquet").num_rows > 0

    # 5. A plain re-run completes and matches the run that was never interrupted.
    assert lens_run(inputs, out)[0] == 0
    assert_same_run(out, reference[0])


def test_killed_at_a_random_moment_then_rerun_matches_an_uninterrupted_run(inputs, reference):
    out = inputs / "timer"
    share = random.Random(SEED).uniform(0.1, 0.9)
    status, seconds = lens_run(inputs, out, kill_after=share * reference[1])
    # Where it died depends on the machine's speed; say so, the outcome must not depend on it.
    try:
        stage = "not at all (finished first)" if status == 0 else (
            f"with {count(out, 'SELECT count(*) FROM articles')} articles stored, "
            f"{count(out, 'SELECT count(*) FROM analyzed')} analysed")
    except (duckdb.Error, FileNotFoundError):
        stage = "before the store was set up"
    print(f"timer kill after {seconds:.1f} s ({share:.0%} of the reference run): killed {stage}")
    assert lens_run(inputs, out)[0] == 0
    assert_same_run(out, reference[0])


KILLED_MID_ANALYSIS = """
import os, signal, sys
from nlp.pipeline import COMPONENTS, PipelineConfig, analyze, build_pipeline
nlp = build_pipeline(PipelineConfig(disable=COMPONENTS))  # the spaCy stage only: no transformers
articles = [{"article_id": str(i), "title": "T", "text": "Shares rose. " * 200} for i in range(40)]
for i, _ in enumerate(analyze(nlp, articles, batch_size=2, n_process=2)):
    if i == 3:
        os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.slow
def test_spacy_workers_die_with_a_killed_analysis():
    """A SIGKILLed analysis leaves no en_core_web_sm worker behind (they waited forever before)."""
    marker = f"lens-orphan-check-{os.getpid()}"
    analysis = subprocess.Popen([sys.executable, "-c", KILLED_MID_ANALYSIS, marker], cwd=REPO,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert analysis.wait(timeout=300) == -signal.SIGKILL
    # the worker server and the workers it forks carry the killed analysis's pid on their command line
    server = f"nlp.parse_workers\0{analysis.pid}\0".encode()

    def survivors() -> list[int]:
        found = []
        for proc in Path("/proc").iterdir():
            try:
                cmdline = (proc / "cmdline").read_bytes() if proc.name.isdigit() else b""
                if marker.encode() in cmdline or server in cmdline:
                    found.append(int(proc.name))
            except OSError:
                continue
        return found

    deadline = time.monotonic() + 10
    while survivors() and time.monotonic() < deadline:
        time.sleep(0.2)
    left = survivors()
    for pid in left:  # do not leave them to the next test either
        os.kill(pid, signal.SIGKILL)
    assert not left, f"{len(left)} worker(s) outlived the killed analysis"
