"""The catalyst timeline as printed and as written."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from rich.console import Console

from lens.timeline_view import render_table, write_files

LONG_TITLE = "Washington and Beijing agree to extend their tariff truce for another ninety days after talks"


def events() -> pd.DataFrame:
    return pd.DataFrame({
        "event_date": [dt.date(2025, 8, 11), dt.date(2025, 1, 27)],
        "catalyst_type": ["trade.negotiations", "technology.ai_model_release"],
        "title": [LONG_TITLE, "DeepSeek's R1 shakes chip stocks"],
        "n_articles": [12, 3],
        "n_sources": [4, 2],
        "sentiment": [0.31, -0.42],
        "entity_ids": [["united_states", "china", "donald_trump", "xi_jinping", "ustr"], ["deepseek", "nvidia"]],
        "evidence": [["Trump signed the order on Monday."], ["DeepSeek released R1."]],
        "event_id": ["9f1c2a7b0d3e", "4be0c1d2e3f4"],
    })


def printed(width: int) -> list[str]:
    console = Console(width=width, record=True, color_system=None)
    console.print(render_table(events(), width=width))
    return console.export_text().rstrip("\n").split("\n")


def test_a_narrow_terminal_cuts_titles_and_entities_instead_of_wrapping_rows():
    lines = printed(100)
    assert all(len(line) <= 100 for line in lines)
    rows = [line for line in lines if "2025-" in line]
    assert len(rows) == 2  # one line per event
    assert "technology.ai_model_release" in rows[1] and "2025-01-27" in rows[1]
    assert "…" in rows[0] and LONG_TITLE not in rows[0]
    assert all(cell in rows[0] for cell in ("12", "4", "+0.31"))


def test_a_wide_terminal_shows_more_of_the_title_and_the_files_keep_it_whole(tmp_path):
    narrow = next(line for line in printed(100) if "2025-08-11" in line)
    wide = next(line for line in printed(200) if "2025-08-11" in line)
    assert len(wide.split("│")[3].strip()) > len(narrow.split("│")[3].strip())
    _, md = write_files(events(), tmp_path)
    assert LONG_TITLE in md.read_text()


def test_lens_timeline_prints_the_latest_events_and_writes_them_all(tmp_path):
    from typer.testing import CliRunner

    from lens.cli import app

    frame = events()
    third = frame.iloc[[0]].assign(event_date=[dt.date(2024, 9, 24)], catalyst_type=["policy.monetary_stimulus"],
                                   title=["PBoC unveils its broadest stimulus"])  # fmt: skip
    undated = frame.iloc[[1]].assign(event_date=[None], title=["A release whose year the texts disagree on"])
    pd.concat([frame, third, undated]).to_parquet(tmp_path / "events.parquet")
    res = CliRunner().invoke(app, ["timeline", "--out", str(tmp_path), "--limit", "2"], env={"COLUMNS": "160"})
    assert res.exit_code == 0, res.output
    assert "2025-01-27" in res.output and "2025-08-11" in res.output
    assert "2024-09-24" not in res.output and "disagree" not in res.output  # neither old nor undated
    assert "the latest 2 of 4 events shown" in res.output
    assert (tmp_path / "timeline.csv").read_text().count("\n") == 5  # header and every event
    trade = CliRunner().invoke(app, ["timeline", "--out", str(tmp_path), "--type", "trade"], env={"COLUMNS": "160"})
    assert "trade.negotiations" in trade.output and "1 event shown" in trade.output
    # a filter narrows what is printed; the files stay the run's whole timeline
    assert (tmp_path / "timeline.csv").read_text().count("\n") == 5
    # a misspelt type is a usage error that names the families, and leaves the files alone
    typo = CliRunner().invoke(app, ["timeline", "--out", str(tmp_path), "--type", "trde"], env={"COLUMNS": "160"})
    assert typo.exit_code == 2 and "trde" in typo.output and "trade" in typo.output
    # the last part of a type, as people remember it, gets the type suggested
    short = CliRunner().invoke(app, ["timeline", "--out", str(tmp_path), "--type", "tariffs"], env={"COLUMNS": "300"})
    assert short.exit_code == 2 and "did you mean trade.tariffs?" in short.output
    assert (tmp_path / "timeline.csv").read_text().count("\n") == 5
    # a type of the taxonomy that this run has no event of is no error
    none = CliRunner().invoke(app, ["timeline", "--out", str(tmp_path), "--type", "trade.export_controls"])
    assert none.exit_code == 0 and "0 events shown" in none.output


def test_a_date_the_texts_give_only_roughly_says_so_in_every_view(tmp_path):
    frame = events().assign(date_precision=["day", "month"])
    _, md = write_files(frame, tmp_path)
    text = md.read_text()
    assert "| 2025-01-27 (month) |" in text and "| 2025-08-11 |" in text
    assert "the texts date the event only that precisely" in text
    csv = pd.read_csv(tmp_path / "timeline.csv")
    assert csv.date_precision.tolist() == ["day", "month"] and csv.event_date.tolist() == ["2025-08-11", "2025-01-27"]
    # the key annotated_moves.csv's top_event_id refers to
    assert csv.event_id.tolist() == ["9f1c2a7b0d3e", "4be0c1d2e3f4"]
    console = Console(width=120, record=True, color_system=None)
    console.print(render_table(frame, width=120))
    assert "2025-01-27 (month)" in console.export_text()
    # events stored before the column existed read as plain dates, with no note
    _, md = write_files(events(), tmp_path)
    assert "(month)" not in md.read_text() and "precisely" not in md.read_text()


def test_a_tone_that_rounds_to_zero_has_no_sign(tmp_path):
    _, md = write_files(events().assign(sentiment=[-0.001, 0.004]), tmp_path)
    assert "-0.00" not in md.read_text() and md.read_text().count("| +0.00 |") == 2


def test_people_read_entity_names_and_the_csv_keeps_the_ids(tmp_path):
    pd.DataFrame({"entity_id": ["donald_trump", "ustr", None], "name": ["Donald Trump", "Office of the USTR", None]}
                 ).to_parquet(tmp_path / "entities.parquet")  # fmt: skip
    _, md = write_files(events(), tmp_path)
    row = next(line for line in md.read_text().splitlines() if "trade.negotiations" in line)
    # named where the run's entities table names them, else the id as it is
    assert "| united_states, china, Donald Trump, xi_jinping, Office of the USTR |" in row
    csv = pd.read_csv(tmp_path / "timeline.csv")
    assert csv.entities[0] == "united_states, china, donald_trump, xi_jinping, ustr"
    console = Console(width=200, record=True, color_system=None)
    console.print(render_table(events(), width=200, names={"deepseek": "DeepSeek"}))
    assert "DeepSeek, nvidia" in console.export_text()
