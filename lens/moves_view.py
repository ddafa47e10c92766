"""A ticker's annotated moves for people: a compact table of the figures, then each move's
explanation as a paragraph, which reads at any terminal width (a table cell wrapped the
explanation into a column a few words wide)."""

from __future__ import annotations

import pandas as pd
from rich.console import Group
from rich.table import Table
from rich.text import Text

from .terminal import plain


def render_moves(moves: pd.DataFrame, ticker: str) -> Group:
    moves = moves.sort_values("date")
    longest_type = max([len(t) for t in moves.top_catalyst_type.dropna()] + [8])
    table = Table(title=f"{ticker.upper()} moves")
    for name in ("date", "kind", "ret", "AR", "z"):
        table.add_column(name, no_wrap=True, justify="left" if name in ("date", "kind") else "right")
    table.add_column("catalyst", no_wrap=True, min_width=longest_type)
    table.add_column("score", no_wrap=True, justify="right")
    notes = []
    for m in moves.itertuples(index=False):
        kind = m.kind if m.n_sessions == 1 else f"{m.n_sessions}d"
        score = "" if pd.isna(m.attribution_score) else f"{m.attribution_score:.2f}"
        table.add_row(str(m.date), kind, f"{m.ret:+.1%}", f"{m.abnormal_ret:+.1%}", f"{m.zscore:+.1f}",
                      m.top_catalyst_type if isinstance(m.top_catalyst_type, str) else "—", score)  # fmt: skip
        if isinstance(m.explanation, str) and m.explanation:
            notes.append(Text.assemble((f"{m.date}  ", "bold"), plain(m.explanation)))
    return Group(table, *notes)
