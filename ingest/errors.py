"""Ingestion errors: each names the source (file or URL), the reason, and where useful the fix.

The CLI prints `str(error)` as one line; nothing here is meant to surface as a traceback.
"""

from __future__ import annotations


class IngestError(Exception):
    """A source that could not be read, fetched or parsed."""

    def __init__(self, source: str, reason: str, hint: str | None = None):
        self.source = str(source)
        self.reason = reason
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        line = f"{self.source}: {self.reason}"
        return f"{line} ({self.hint})" if self.hint else line


class FetchError(IngestError):
    """A URL that could not be fetched (network, status, size, scheme)."""


class UnsupportedSource(IngestError):
    """Content that is neither feed, page, text nor batch."""
