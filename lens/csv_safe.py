"""CSV exports that are safe to open in a spreadsheet: cells that a spreadsheet would run as a
formula (starting with =, +, -, @, tab or carriage return) are prefixed with a quote, and cells
holding line breaks are quoted so that none can start a row of its own."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .atomic import replacing

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    if isinstance(value, str) and value.startswith(FORMULA_START):
        # A plain negative number is data, not a formula.
        try:
            float(value)
            return value
        except ValueError:
            return "'" + value
    return value


def write_csv(frame: pd.DataFrame, target: Path) -> None:
    safe = frame.copy()
    for column in safe.columns:
        # pandas 3 stores text as the "str" dtype, not object: both are text to neutralise.
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column].dtype):
            safe[column] = safe[column].map(neutralise)
    # RFC 4180 line ends: the csv writer then quotes every cell holding a CR or LF. With "\n"
    # alone a bare CR went out unquoted, and "x\r=cmd|..." opened as a new row whose first
    # cell is a formula.
    with replacing(target) as tmp:
        safe.to_csv(tmp, index=False, lineterminator="\r\n")
