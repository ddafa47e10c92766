"""The catalyst timeline for people: a terminal table, `timeline.csv` and `timeline.md`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from rich.table import Table

from .atomic import write_text
from .csv_safe import write_csv
from .terminal import plain

COLUMNS = ["event_date", "catalyst_type", "title", "n_articles", "n_sources", "sentiment", "entities", "evidence"]


def load_events(out: Path) -> pd.DataFrame | None:
    path = out / "events.parquet"
    if not path.exists():
        return None
    return pd.read_parquet(path).sort_values(["event_date", "catalyst_type"]).reset_index(drop=True)


def _flat(events: pd.DataFrame) -> pd.DataFrame:
    flat = events.copy()
    flat["entities"] = flat.entity_ids.map(lambda ids: ", ".join(list(ids)[:6]) if ids is not None else "")
    flat["evidence"] = flat.evidence.map(lambda ev: list(ev)[0] if ev is not None and len(ev) else "")
    flat["sentiment"] = flat.sentiment.round(2)
    return flat[COLUMNS]


def write_files(events: pd.DataFrame, out: Path) -> tuple[Path, Path]:
    flat = _flat(events)
    csv_path, md_path = out / "timeline.csv", out / "timeline.md"
    write_csv(flat, csv_path)
    lines = ["# Catalyst timeline", "", "| date | type | title | articles | sources | tone | entities | evidence |",
             "|---|---|---|---|---|---|---|---|"]
    for row in flat.itertuples(index=False):
        cells = [str(row.event_date), row.catalyst_type, row.title, str(row.n_articles), str(row.n_sources),
                 "" if pd.isna(row.sentiment) else f"{row.sentiment:+.2f}", row.entities, row.evidence]
        lines.append("| " + " | ".join(md_cell(c) for c in cells) + " |")
    write_text(md_path, "\n".join(lines) + "\n")
    return csv_path, md_path


def md_cell(cell) -> str:
    """Pipes and line breaks would break the table; HTML-like text is escaped for renderers."""
    return (str(cell).replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;"))


def render_table(events: pd.DataFrame) -> Table:
    table = Table("date", "type", "title", "art.", "src.", "tone", "entities", title="Catalyst timeline")
    for row in _flat(events).itertuples(index=False):
        tone = "" if pd.isna(row.sentiment) else f"{row.sentiment:+.2f}"
        table.add_row(str(row.event_date), row.catalyst_type, plain(row.title[:70]), str(row.n_articles),
                      str(row.n_sources), tone, row.entities)
    return table
