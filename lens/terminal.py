"""Printing text that came from the outside world (titles, URLs, server messages) safely."""

from __future__ import annotations

import re

from rich.text import Text

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(value) -> Text:
    """As is: no rich markup interpreted (a stray "[/]" would crash the print), no terminal
    control codes."""
    return Text(_CONTROL.sub("", "" if value is None else str(value)))
