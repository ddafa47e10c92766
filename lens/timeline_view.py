"""The catalyst timeline for people: a terminal table, `timeline.csv` and `timeline.md`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from rich.table import Table

from nlp.events import date_label

from .atomic import write_text
from .csv_safe import write_csv
from .terminal import plain

# event_id last: the key annotated_moves.csv (top_event_id) and market_problems.txt name events by
COLUMNS = ["event_date", "date_precision", "catalyst_type", "title", "n_articles", "n_sources", "sentiment", "entities",
           "evidence", "event_id"]
# under the Markdown table: what a date with a word after it means
PRECISION_NOTE = ("A date followed by (week), (month), (quarter) or (year): the texts date the event only that "
                  "precisely, and the date is the first day of the span they name.")


def load_events(out: Path) -> pd.DataFrame | None:
    path = out / "events.parquet"
    if not path.exists():
        return None
    return pd.read_parquet(path).sort_values(["event_date", "catalyst_type"]).reset_index(drop=True)


def entity_names(out: Path) -> dict[str, str]:
    """Entity id → the name the run's entities table gives it ("jerome_powell" → "Jerome
    Powell"), for the views people read; the CSV keeps the ids, which join with other tables."""
    path = out / "entities.parquet"
    if not path.exists():
        return {}
    frame = pd.read_parquet(path, columns=["entity_id", "name"]).dropna().drop_duplicates("entity_id")
    return dict(zip(frame.entity_id, frame.name, strict=True))


def _flat(events: pd.DataFrame, names: dict[str, str] | None = None) -> pd.DataFrame:
    flat = events.copy()
    flat["entities"] = flat.entity_ids.map(lambda ids: ", ".join(list(ids)[:6]) if ids is not None else "")
    names = names or {}
    flat["entity_names"] = flat.entity_ids.map(
        lambda ids: ", ".join(names.get(i, i) for i in list(ids)[:6]) if ids is not None else "")
    flat["evidence"] = flat.evidence.map(lambda ev: list(ev)[0] if ev is not None and len(ev) else "")
    flat["sentiment"] = flat.sentiment.round(2) + 0.0  # + 0.0: a tone of -0.001 is 0.00, not -0.00
    if "date_precision" not in flat:  # events stored before it was recorded
        flat["date_precision"] = None
    return flat[[*COLUMNS, "entity_names"]]


def _date(row) -> str:
    return date_label(row.event_date, row.date_precision)


def write_files(events: pd.DataFrame, out: Path) -> tuple[Path, Path]:
    flat = _flat(events, entity_names(out))
    csv_path, md_path = out / "timeline.csv", out / "timeline.md"
    write_csv(flat[COLUMNS], csv_path)
    lines = ["# Catalyst timeline", "", "| date | type | title | articles | sources | tone | entities | evidence |",
             "|---|---|---|---|---|---|---|---|"]
    for row in flat.itertuples(index=False):
        cells = [_date(row), row.catalyst_type, row.title, str(row.n_articles), str(row.n_sources),
                 "" if pd.isna(row.sentiment) else f"{row.sentiment:+.2f}", row.entity_names, row.evidence]
        lines.append("| " + " | ".join(md_cell(c) for c in cells) + " |")
    if flat.date_precision.isin(["week", "month", "quarter", "year"]).any():
        lines += ["", PRECISION_NOTE]
    write_text(md_path, "\n".join(lines) + "\n")
    return csv_path, md_path


def md_cell(cell) -> str:
    """Pipes and line breaks would break the table; HTML-like text is escaped for renderers."""
    return (str(cell).replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;"))


def render_table(events: pd.DataFrame, width: int | None = None, names: dict[str, str] | None = None) -> Table:
    """One line per event, entities by their `names` (entity_names). Within `width` (the
    terminal's) the title and the entities are cut short, not wrapped over ten lines; the files
    keep them whole."""
    flat = _flat(events, names)
    longest_type = int(events.catalyst_type.str.len().max()) if len(events) else 4
    longest_date = max((len(_date(row)) for row in flat.itertuples(index=False)), default=10)
    fixed = {"date": max(10, longest_date), "type": max(4, longest_type), "art.": 4, "src.": 4, "tone": 5}
    # each of the 7 columns takes 3 characters of padding and border, plus the outer border
    room = None if width is None else max(20, width - sum(fixed.values()) - 7 * 3 - 1)
    table = Table(title="Catalyst timeline")
    table.add_column("date", no_wrap=True, min_width=fixed["date"])
    table.add_column("type", no_wrap=True, min_width=fixed["type"])
    table.add_column("title", no_wrap=True, overflow="ellipsis", max_width=None if room is None else room * 3 // 5)
    for name in ("art.", "src.", "tone"):
        table.add_column(name, no_wrap=True, justify="right", min_width=fixed[name])
    table.add_column("entities", no_wrap=True, overflow="ellipsis", max_width=None if room is None else room * 2 // 5)
    for row in flat.itertuples(index=False):
        tone = "" if pd.isna(row.sentiment) else f"{row.sentiment:+.2f}"
        table.add_row(_date(row), row.catalyst_type, plain(row.title[:70]), str(row.n_articles),
                      str(row.n_sources), tone, row.entity_names)
    return table
