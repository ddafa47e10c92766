"""`lens annotate`'s view of a ticker's moves."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from rich.console import Console

from lens.moves_view import render_moves

EXPLANATION = (
    "KWEB rose 8.1% on 2025-05-12 (abnormal +7.0%, z +3.2) — most likely trade.negotiations: US and China "
    "slash tariffs for 90 days in Geneva truce (2025-05-12; 4 articles, 3 sources, positive; holding link). "
    "Evidence: “Washington and Beijing agreed on Monday to roll back most of the tariffs they imposed in April.”"
)


def moves() -> pd.DataFrame:
    return pd.DataFrame({
        "date": [dt.date(2025, 5, 12), dt.date(2025, 4, 7)],
        "kind": ["day", "run"], "n_sessions": [1, 3],
        "ret": [0.081, -0.175], "abnormal_ret": [0.070, -0.181], "zscore": [3.2, -3.7],
        "top_catalyst_type": ["trade.negotiations", None], "attribution_score": [0.81, np.nan],
        "explanation": [EXPLANATION, "KWEB fell 17.5% over 3 sessions to 2025-04-07: unexplained."],
    })


def test_figures_stay_in_one_line_per_move_and_explanations_read_as_whole_paragraphs():
    console = Console(width=90, record=True, color_system=None)
    console.print(render_moves(moves(), "kweb"))
    text = console.export_text()
    lines = text.split("\n")
    assert all(len(line) <= 90 for line in lines)
    rows = [line for line in lines if line.startswith("│ 2025-")]
    assert [r.split("│")[1].strip() for r in rows] == ["2025-04-07", "2025-05-12"]  # by date
    assert "3d" in rows[0] and "—" in rows[0] and "trade.negotiations" in rows[1] and "0.81" in rows[1]
    assert " ".join(text.split()).count(" ".join(EXPLANATION.split())) == 1  # whole, wrapped only at spaces
    assert "KWEB MOVES" in text.upper()


def test_annotate_says_how_many_unexplained_moves_it_hides(tmp_path):
    from typer.testing import CliRunner

    from lens.cli import app

    frame = moves().assign(ticker="KWEB", top_event_id=["e1", None])
    frame.to_parquet(tmp_path / "moves.parquet", index=False)
    shown = CliRunner().invoke(app, ["annotate", "--ticker", "kweb", "--out", str(tmp_path)])
    assert shown.exit_code == 0, shown.output
    assert "1 unexplained move of KWEB not shown (--all shows them)" in shown.output
    assert "2025-04-07" not in shown.stdout
    every = CliRunner().invoke(app, ["annotate", "--ticker", "kweb", "--out", str(tmp_path), "--all"])
    assert "2025-04-07" in every.stdout and "not shown" not in every.output


def test_on_a_narrow_terminal_the_figures_stay_whole_and_the_catalyst_name_gives_way():
    frame = moves().assign(ret=[0.560, -0.226], abnormal_ret=[0.463, -0.268], zscore=[10.5, -5.3],
                           top_catalyst_type=["policy.monetary_stimulus", None])  # fmt: skip
    console = Console(width=72, record=True, color_system=None)  # an 80-column terminal, less a margin
    console.print(render_moves(frame, "cqqq"))
    text = console.export_text()
    for figure in ("+56.0%", "+46.3%", "+10.5", "-22.6%", "-26.8%", "-5.3", "0.81"):
        assert figure in text, figure
    table = text[: text.index("2025-04-07  ")]
    assert "policy.moneta" in table and "policy.monetary_stimulus" not in table  # cut to fit


def test_annotate_tells_a_ticker_without_prices_from_one_without_moves(tmp_path):
    import json

    from typer.testing import CliRunner

    from lens.cli import app

    prices = tmp_path / "prices"
    prices.mkdir()
    (prices / "MSFT.csv").write_text("date,adj_close\n")
    moves().assign(ticker="KWEB").to_parquet(tmp_path / "moves.parquet", index=False)
    (tmp_path / "run_meta.json").write_text(json.dumps({"prices": str(prices)}))
    unpriced = CliRunner().invoke(app, ["annotate", "--ticker", "aapl", "--out", str(tmp_path)], env={"COLUMNS": "300"})
    assert unpriced.exit_code == 2 and f"no price file {prices / 'AAPL.csv'}" in unpriced.output
    quiet = CliRunner().invoke(app, ["annotate", "--ticker", "msft", "--out", str(tmp_path)], env={"COLUMNS": "300"})
    assert quiet.exit_code == 2 and "no significant moves for msft" in quiet.output and "KWEB" in quiet.output
