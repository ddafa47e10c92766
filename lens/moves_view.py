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
    rows, notes = [], []
    for m in moves.itertuples(index=False):
        kind = m.kind if m.n_sessions == 1 else f"{m.n_sessions}d"
        score = "" if pd.isna(m.attribution_score) else f"{m.attribution_score:.2f}"
        rows.append([str(m.date), kind, f"{m.ret:+.1%}", f"{m.abnormal_ret:+.1%}", f"{m.zscore:+.1f}",
                     m.top_catalyst_type if isinstance(m.top_catalyst_type, str) else "—", score])  # fmt: skip
        if isinstance(m.explanation, str) and m.explanation:
            notes.append(Text.assemble((f"{m.date}  ", "bold"), plain(m.explanation)))
    table = Table(title=f"{ticker.upper()} moves")
    # The figures keep their full width (a return cut to "+56.…" says nothing); on a narrow
    # terminal the catalyst's name gives way instead.
    for k, name in enumerate(("date", "kind", "ret", "AR", "z")):
        widest = max([len(name)] + [len(r[k]) for r in rows])
        table.add_column(name, no_wrap=True, min_width=widest, justify="left" if name in ("date", "kind") else "right")
    table.add_column("catalyst", min_width=8, overflow="ellipsis")  # wrappable: the one that shrinks
    table.add_column("score", no_wrap=True, min_width=5, justify="right")
    for row in rows:
        table.add_row(*row)
    return Group(table, *notes)
