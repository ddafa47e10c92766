"""Files that readers see whole or not at all: write beside the target, then rename."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .crash_points import crash_point


@contextmanager
def replacing(target: Path) -> Iterator[Path]:
    """Yield a temp path in the target's folder; on success rename it over `target` (atomic on
    one filesystem), on failure remove it. An interrupted run leaves the old file intact."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    crash_point(f"write-{target.name}")
    os.replace(tmp, target)


def write_text(target: Path, text: str) -> None:
    """`target.write_text(text)` (UTF-8), whole or not at all."""
    with replacing(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
