"""Test hook for crash-safety tests: named points where a run may be killed on purpose.

`LENS_TEST_KILL_AT=<point>[:<n>]` makes the process SIGKILL itself the n-th time (default: the
first) it reaches `<point>`, so tests/test_crash_safety.py can interrupt `lens run` at an exact
step and prove that the next run loses nothing and duplicates nothing. SIGKILL, not an
exception: no `finally`, no rollback handler and no atexit code runs, as with a power cut or
the OOM killer. Points:

    ingest-item            after the n-th source item is read (it may still be uncommitted)
    ingest-commit          inside the n-th article transaction, before COMMIT
    analyze-commit         inside the n-th analysis-chunk transaction, before COMMIT
    write-<file name>      an output file fully written to its temp name, not yet renamed

Unset (every normal run), a point costs one environment lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "LENS_TEST_KILL_AT"
_reached: dict[str, int] = {}


def crash_point(point: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    name, sep, count = spec.rpartition(":")
    if not sep or not count.isdigit():
        name, count = spec, "1"
    if name != point:
        return
    _reached[point] = _reached.get(point, 0) + 1
    if _reached[point] == int(count):
        os.kill(os.getpid(), signal.SIGKILL)
