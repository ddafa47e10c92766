"""Bad prices through the whole market stage and the report (issue #8 item 4): a missing
folder, tickers the news names without a price file, NaN/zero/negative prices, duplicated
dates, a split-like jump, a benchmark with a gap and one with no prices. Each gets one line
naming the file and the reason; an unusable ticker is skipped with that reason, shown in the
report's "Data problems" section; every other ticker is still processed."""

from __future__ import annotations

from pathlib import Path

import exchange_calendars as xcals
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from lens.cli import app
from lens.report.build import build_report
from lens.run import STORE_NAME, market_stage
from lens.store import Store
from lens.tables import to_arrow

SESSIONS = xcals.get_calendar("XNYS", start="2024-01-02", end="2025-06-30").sessions.tz_localize(None)
HK_SESSIONS = xcals.get_calendar("XHKG", start="2024-01-02", end="2025-06-30").sessions.tz_localize(None)
GAP = slice(250, 270)  # SPY sessions missing from its file
JUMP_AT = 200  # PDD's split-like day
BAD_ROWS = (100, 101, 102)  # BABA's NaN, zero and negative prices
HOSTILE = '<img src=x onerror=alert(1)>'


def series(seed: int, dates=SESSIONS, drift: np.ndarray | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0003, 0.012, len(dates))
    if drift is not None:
        steps = steps + drift
    return 100 * np.exp(np.cumsum(steps))


def write(folder, ticker, price, dates=SESSIONS, text_prices=None):
    frame = pd.DataFrame({"date": pd.DatetimeIndex(dates).strftime("%Y-%m-%d"),
                          "adj_close": text_prices if text_prices is not None else price})
    frame.to_csv(folder / f"{ticker}.csv", index=False)


@pytest.fixture
def bad_prices(tmp_path):
    folder = tmp_path / "prices"
    folder.mkdir()
    for n, ticker in enumerate(("QQQM", "KWEB", "CQQQ", "FXI")):
        write(folder, ticker, series(n))
    # SPY rises 15% while its file is silent: read as one day's return, the day after the
    # gap would be a huge move of SPY and of everything measured against it.
    drift = np.zeros(len(SESSIONS))
    drift[GAP] = np.log(1.15) / (GAP.stop - GAP.start)
    spy = series(10, drift=drift)
    keep = np.ones(len(SESSIONS), bool)
    keep[GAP] = False
    write(folder, "SPY", spy[keep], SESSIONS[keep])
    baba = series(11).astype(object)
    baba[BAD_ROWS[0]], baba[BAD_ROWS[1]], baba[BAD_ROWS[2]] = "nan", 0, -5
    write(folder, "BABA", None, text_prices=baba)
    write(folder, "BIDU", None, text_prices=["0"] * len(SESSIONS))  # nothing usable
    jd = series(12)
    dup = pd.DataFrame({"date": SESSIONS.strftime("%Y-%m-%d"), "adj_close": jd})
    pd.concat([dup.iloc[:200], dup.iloc[[199]].assign(adj_close=jd[199] * 1.01), dup.iloc[200:]]).to_csv(
        folder / "JD.csv", index=False)
    pdd = series(13)
    pdd[JUMP_AT:] *= 4  # an unadjusted 4-for-1 reverse split
    write(folder, "PDD", pdd)
    write(folder, "1810.HK", series(14, HK_SESSIONS), HK_SESSIONS)  # its benchmark ^HSI has no file
    (folder / f"{HOSTILE}.csv").write_text("")
    return folder


def store_with_events(out, entity_ids):
    out.mkdir(parents=True, exist_ok=True)
    rows = [{"event_id": f"e{n}", "catalyst_type": "corporate.earnings", "title": f"news about {eid}",
             "event_date": SESSIONS[340].date(), "n_mentions": 1, "n_articles": 1, "n_sources": 1,
             "sentiment": 0.2, "entity_ids": [eid], "article_ids": [f"a{n}"], "evidence": ["beat estimates"],
             "direction": 1.0, "date_basis": "text"} for n, eid in enumerate(entity_ids)]
    with Store(out / STORE_NAME) as store:
        store.replace_table("events", to_arrow("events", rows))
    return out


@pytest.fixture
def stage(tmp_path, bad_prices):
    out = store_with_events(tmp_path / "run", ["netease", "alibaba", "kweb", "fxi", "pdd", "xiaomi"])
    return out, market_stage(out, bad_prices)


def the_line(problems: list[str], *parts: str) -> str:
    found = [line for line in problems if all(p in line for p in parts)]
    assert len(found) == 1, f"expected one line with {parts}, got {found}"
    assert "\n" not in found[0]
    return found[0]


def test_each_bad_price_case_is_one_line_naming_file_and_reason(stage, bad_prices):
    _, result = stage
    problems = result.problems
    the_line(problems, str(bad_prices / "BABA.csv"), "3 rows with missing, zero or negative prices dropped")
    the_line(problems, str(bad_prices / "BIDU.csv"), "no positive prices", "ticker skipped")
    the_line(problems, str(bad_prices / "JD.csv"), "1 duplicated dates")
    the_line(problems, str(bad_prices / "PDD.csv"), f"split-like jump on {SESSIONS[JUMP_AT].date()} (+3",
             "return is excluded")
    the_line(problems, str(bad_prices / "SPY.csv"), f"gap in the data before {SESSIONS[GAP.stop].date()}",
             "return across it is excluded")
    the_line(problems, str(bad_prices / "NTES.csv"), "no price file for NTES", "1 timeline event", "ticker skipped")
    the_line(problems, str(bad_prices / "1810.HK.csv"), "benchmark ^HSI has no usable prices", "own history")
    the_line(problems, "not a readable CSV", "ticker skipped")


def test_unusable_tickers_are_skipped_and_the_others_processed(stage):
    _, result = stage
    skipped = set(result.prices.skipped())
    assert {"BIDU", "NTES", "9999.HK", HOSTILE.upper()} <= skipped
    processed = {"QQQM", "KWEB", "CQQQ", "FXI", "SPY", "BABA", "JD", "PDD", "1810.HK"}
    assert set(result.prices.tickers) == processed
    day = SESSIONS[350]
    for ticker in processed - {"1810.HK"}:  # abnormal returns exist for every usable ticker
        assert result.result.attribute_day(ticker, day) is not None, ticker
    assert result.result.attribute_day("1810.HK", HK_SESSIONS[350]) is not None
    studied = set(result.result.event_study.ticker)
    assert {"BABA", "KWEB", "FXI", "PDD"} <= studied and "NTES" not in studied


def test_bad_days_are_left_out_not_taken_for_moves(stage):
    _, result = stage
    attribute_day = result.result.attribute_day
    assert attribute_day("PDD", SESSIONS[JUMP_AT]) is None  # the split day has no return
    for day in BAD_ROWS:
        assert attribute_day("BABA", SESSIONS[day]) is None
    after_gap = SESSIONS[GAP.stop]
    assert attribute_day("SPY", after_gap) is None  # the return across the gap is not one day's
    assert attribute_day("FXI", after_gap) is None  # ... nor a benchmark return for FXI
    moves = result.result.moves
    assert moves[(moves.ticker.isin(["SPY", "FXI"])) & (pd.to_datetime(moves.date) == after_gap)].empty
    assert attribute_day("FXI", SESSIONS[GAP.start + 5]) is None  # no benchmark that day


def test_market_problems_file_lists_every_problem_once(stage):
    out, result = stage
    lines = (out / "market_problems.txt").read_text().splitlines()
    assert lines == result.problems
    assert sum("BIDU" in line for line in lines) == 1


def test_report_lists_skipped_tickers_with_reasons_escaped(stage):
    out, result = stage
    html = build_report(out, result.prices, result.result.placements, {"run_name": "bad prices"}).html.read_text()
    section = html[html.index('<section id="data-problems">'):]
    section = section[: section.index("</section>")]
    rows = section.split("<tr>")[2:]
    skipped = [r for r in rows if ">skipped<" in r]
    assert any(">BIDU<" in r and "no positive prices" in r for r in skipped)
    assert any(">NTES<" in r and "no price file for NTES" in r for r in skipped)
    assert any(">BABA<" in r and ">kept<" in r and "dropped" in r for r in rows)
    assert rows.index(skipped[-1]) < min(rows.index(r) for r in rows if ">kept<" in r)  # skipped first
    assert "&lt;IMG SRC=X ONERROR=ALERT(1)&gt;" in section
    assert "<IMG SRC" not in html and "<img src=x" not in html


def test_report_says_when_every_price_file_was_usable(tmp_path):
    folder = tmp_path / "prices"
    folder.mkdir()
    write(folder, "QQQM", series(1))
    write(folder, "KWEB", series(2))
    out = store_with_events(tmp_path / "run", ["kweb"])
    result = market_stage(out, folder)
    assert result.problems == [] or all("event" in p for p in result.problems)
    html = build_report(out, result.prices, result.result.placements, {"run_name": "clean"}).html.read_text()
    assert "Every price file was usable." in html


@pytest.mark.parametrize("make_folder, reason", [
    (lambda tmp: tmp / "missing", "no such price folder — no prices used"),
    (lambda tmp: (tmp / "empty").mkdir() or tmp / "empty", "no price files (TICKER.csv) in this folder — no prices used"),
])
def test_no_usable_folder_is_one_line_and_the_stage_still_completes(tmp_path, make_folder, reason):
    folder = make_folder(tmp_path)
    out = store_with_events(tmp_path / "run", ["kweb"])
    result = market_stage(out, folder)
    assert the_line(result.problems, str(folder), reason)
    assert result.tickers == 0 and result.moves == 0


def test_cli_refuses_a_missing_price_folder_before_any_work(tmp_path):
    (tmp_path / "news.txt").write_text("Alibaba beat estimates\n\ndate 2025-02-20\n")
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["run", str(tmp_path / "news.txt"), "--prices", str(tmp_path / "nope"),
                                   "--out", str(out)])
    assert res.exit_code == 2
    assert "no such price folder" in res.output and str(tmp_path / "nope") in res.output
    assert not (out / STORE_NAME).exists()  # nothing ingested, no model loaded
    store_with_events(out, ["kweb"])
    res = CliRunner().invoke(app, ["report", "--out", str(out), "--prices", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "no such price folder" in res.output


def test_the_terminal_summary_gives_bad_files_a_line_each_and_gaps_a_line_per_kind(tmp_path, bad_prices):
    # four tickers without a price file, named by 3, 1, 2 and 1 events
    out = store_with_events(tmp_path / "run", ["netease", "netease", "netease", "tencent", "meituan", "meituan",
                                               "xiaomi", "kweb"])
    result = market_stage(out, bad_prices)
    unpriced = [line for line in result.problems if "no price file for" in line]
    summary = result.summary
    the_line(summary, str(bad_prices / "BABA.csv"), "3 rows with missing, zero or negative prices dropped")
    the_line(summary, str(bad_prices / "BIDU.csv"), "no positive prices", "ticker skipped")
    gap = the_line(summary, "no price file for")
    # netease (NTES, 9999.HK) named by 3 events, meituan (3690.HK, MPNGY) by 2, tencent (0700.HK,
    # TCEHY) and xiaomi (XIACY; 1810.HK has a file) by 1: the most named first, then by ticker
    assert len(unpriced) == 7
    assert "no price file for 7 tickers" in gap
    assert "9999.HK (3), NTES (3), 3690.HK (2), MPNGY (2), 0700.HK (1) and 2 more" in gap
    assert len(summary) == len(result.problems) - len(unpriced) + 1


def test_event_studies_short_of_history_are_counted_by_reason():
    from lens.run import problem_summary

    skipped = [f"event study e{n} on {t}: only 58 sessions of history before the event (need 60)"
               for n, t in [(1, "QQQ"), (1, "SPY"), (2, "QQQ")]]
    skipped += ["event study e3 on KWEB: only 3 sessions of prices after the event (need 5)",
                "e4 on KWEB: 2031-01-02 is past the ticker's calendar"]
    assert problem_summary([], skipped, Path("prices")) == [
        "e4 on KWEB: 2031-01-02 is past the ticker's calendar",
        "3 event × ticker studies left out: only 58 sessions of history before the event (need 60)",
        "1 event × ticker study left out: only 3 sessions of prices after the event (need 5)",
    ]


def test_report_and_eval_reread_the_price_folder_the_run_was_made_with(tmp_path, monkeypatch):
    import json

    mine = tmp_path / "my_prices"
    mine.mkdir()
    for n, ticker in enumerate(("QQQM", "KWEB")):
        write(mine, ticker, series(n + 1))
    out = store_with_events(tmp_path / "run", ["kweb"])
    (out / "run_meta.json").write_text(json.dumps({"run_name": "mine", "prices": str(mine)}))
    monkeypatch.chdir(tmp_path)  # no corpus/prices here: only the run's own folder can serve
    res = CliRunner().invoke(app, ["report", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "market: 2 tickers" in res.output
    assert set(pd.read_parquet(out / "moves.parquet").ticker) <= {"QQQM", "KWEB"}
    assert json.loads((out / "run_meta.json").read_text())["prices"] == str(mine.resolve())
    # --prices still names another folder; a folder that has gone is an error naming it
    other = tmp_path / "other"
    other.mkdir()
    write(other, "QQQM", series(9))
    res = CliRunner().invoke(app, ["report", "--out", str(out), "--prices", str(other)])
    assert res.exit_code == 0 and "market: 1 ticker," in res.output
    other_files = list(other.iterdir())
    for f in other_files:
        f.unlink()
    other.rmdir()
    res = CliRunner().invoke(app, ["eval-attribution", "--out", str(out)])
    assert res.exit_code == 2 and f"{other}: no such price folder (the folder" in res.output
