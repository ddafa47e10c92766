"""A JSONL output file that an interrupted run leaves as it was and the next run continues.

`lens sentiment --input IN --output OUT` writes its lines to OUT.part as it goes, flushed to disk
after every chunk, and renames OUT.part to OUT when the last line is written. So:

* OUT is only ever a finished file: the old one stays until a new one is complete, whatever
  stops the run in between (Ctrl-C, a kill, a crash, a full disk).
* OUT.part holds the finished chunks of an interrupted run. The same command again reads it back,
  drops a line cut off mid-write, and continues after the last line it holds. OUT.part.json
  records what wrote it (the input, the model and its form); a run of another input or model
  starts again from nothing instead of mixing its lines with the old ones.

The lines are matched to the input by position, each checked by its id: the n-th line of OUT.part
is the result of the n-th input item that gets a result (lens.cli_sentiment), so repeated or odd
ids resume as well as unique ones.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO


class PartialOutput:
    def __init__(self, final: Path, settings: dict[str, Any]) -> None:
        self.final = final
        self.part = final.with_name(final.name + ".part")
        self.meta = final.with_name(final.name + ".part.json")
        self.settings = settings
        self.done: list[str] = []  # the ids already in OUT.part, as JSON text, in order
        self.restarted_because: str | None = None  # why an OUT.part found was not continued
        self._handle: TextIO | None = None

    def open(self) -> PartialOutput:
        """Read back what an interrupted run left (`done`), or start OUT.part empty."""
        if self.part.exists():
            why = self._why_not_continue()
            if why is None:
                self.done = self._read_back()
            else:
                self.restarted_because = why
                self.part.unlink()
        self.meta.write_text(json.dumps(self.settings, sort_keys=True), encoding="utf-8")
        self._handle = self.part.open("a", encoding="utf-8")
        return self

    def _why_not_continue(self) -> str | None:
        try:
            written_by = json.loads(self.meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return f"{self.meta.name} is missing or unreadable, so what wrote it is unknown"
        changed = sorted(k for k in set(written_by) | set(self.settings) if written_by.get(k) != self.settings.get(k))
        if changed:
            return "it was written with another " + ", ".join(changed)
        return None

    def _read_back(self) -> list[str]:
        """The ids of the whole lines of OUT.part; a last line cut off mid-write (or anything after
        a line that is not a result) is cut away, to be scored again."""
        raw = self.part.read_bytes()
        ids: list[str] = []
        keep = 0
        for line in raw.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break
            try:
                record = json.loads(line)
            except ValueError:
                break
            if not isinstance(record, dict) or "id" not in record:
                break
            ids.append(json.dumps(record["id"], ensure_ascii=False, sort_keys=True))
            keep += len(line)
        if keep < len(raw):
            with self.part.open("r+b") as handle:
                handle.truncate(keep)
        return ids

    def matches(self, first_ids: Sequence[Any]) -> bool:
        """Whether OUT.part holds the results of these input items (the first len(done) that get
        a result); if not, it is emptied and the run starts again."""
        expected = [json.dumps(i, ensure_ascii=False, sort_keys=True) for i in first_ids[: len(self.done)]]
        if expected == self.done:
            return True
        self.restarted_because = "its lines are not those of this input's first items"
        self.done = []
        self._handle.seek(0)
        self._handle.truncate()
        return False

    def write(self, line: str) -> None:
        self._handle.write(line)

    def checkpoint(self) -> None:
        """Everything written so far is on disk: a run stopped after this loses none of it."""
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def finish(self) -> None:
        """OUT.part becomes OUT, in one step."""
        self.checkpoint()
        self.close()
        os.replace(self.part, self.final)
        self.meta.unlink(missing_ok=True)

    def discard(self) -> None:
        """Nothing came of the run: OUT stays as it was (or absent), and no part is left."""
        self.close()
        self.part.unlink(missing_ok=True)
        self.meta.unlink(missing_ok=True)

    def close(self) -> None:
        if self._handle is not None and not self._handle.closed:
            self._handle.close()
