"""The one HTTP client of Catalyst Lens.

Every network read goes through `Fetcher.get`: http/https only, connect/read timeouts and a
total deadline, bounded retries with backoff on 429/5xx (honouring Retry-After), a response
size cap enforced while streaming, conditional GET with the ETag/Last-Modified remembered per
URL (a 304 returns `not_modified` and costs no parsing), and an honest User-Agent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from .errors import FetchError

log = logging.getLogger(__name__)

USER_AGENT = "CatalystLens/0.1 (market-news research tool; +https://pypi.org/project/catalyst-lens/)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class FetchPolicy:
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    deadline: float = 60.0  # whole request, all retries included
    retries: int = 3
    backoff: float = 0.5  # seconds, doubled each retry
    max_retry_after: float = 30.0
    max_bytes: int = 20 * 1024 * 1024
    max_redirects: int = 5


@dataclass(frozen=True)
class CacheEntry:
    etag: str | None = None
    last_modified: str | None = None


class ValidatorCache(Protocol):
    """Where ETag/Last-Modified per URL live between runs (the DuckDB store implements it)."""

    def get_validators(self, url: str) -> CacheEntry | None: ...

    def put_validators(self, url: str, entry: CacheEntry) -> None: ...


@dataclass
class Response:
    url: str  # final URL after redirects
    status: int
    content: bytes
    headers: dict[str, str]
    not_modified: bool = False

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


class Fetcher:
    def __init__(
        self,
        policy: FetchPolicy | None = None,
        cache: ValidatorCache | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.policy = policy or FetchPolicy()
        self.cache = cache
        self._sleep = sleep
        self._client = httpx.Client(
            timeout=httpx.Timeout(
                self.policy.read_timeout, connect=self.policy.connect_timeout
            ),
            follow_redirects=True,
            max_redirects=self.policy.max_redirects,
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"},
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def get(self, url: str, conditional: bool = True) -> Response:
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            raise FetchError(url, f"scheme {scheme or '(none)'!r} is not fetched", "only http and https")
        headers = {}
        if conditional and self.cache is not None:
            entry = self.cache.get_validators(url)
            if entry and entry.etag:
                headers["If-None-Match"] = entry.etag
            if entry and entry.last_modified:
                headers["If-Modified-Since"] = entry.last_modified

        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._request(url, headers, started)
            except FetchError:
                raise
            except httpx.TooManyRedirects:
                raise FetchError(url, f"more than {self.policy.max_redirects} redirects") from None
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                if attempt > self.policy.retries:
                    raise FetchError(url, f"network error after {attempt} attempts ({reason})") from None
                self._wait(url, self.policy.backoff * 2 ** (attempt - 1), started, reason)
                continue

            if response.status in RETRY_STATUSES and attempt <= self.policy.retries:
                delay = _retry_after(response.headers.get("retry-after"))
                if delay is None:
                    delay = self.policy.backoff * 2 ** (attempt - 1)
                self._wait(url, min(delay, self.policy.max_retry_after), started, f"HTTP {response.status}")
                continue
            break

        if response.status == 304:
            response.not_modified = True
            return response
        if response.status >= 400:
            raise FetchError(url, f"HTTP {response.status}")
        if self.cache is not None and (response.headers.get("etag") or response.headers.get("last-modified")):
            self.cache.put_validators(
                url,
                CacheEntry(response.headers.get("etag"), response.headers.get("last-modified")),
            )
        return response

    def _request(self, url: str, headers: dict, started: float) -> Response:
        cap = self.policy.max_bytes
        with self._client.stream("GET", url, headers=headers) as r:
            final = str(r.url)
            if urlsplit(final).scheme not in ("http", "https"):
                raise FetchError(url, f"redirected to a non-http URL {final!r}")
            declared = r.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > cap:
                raise FetchError(url, f"response of {int(declared)} bytes exceeds the {cap}-byte cap")
            chunks, size = [], 0
            for chunk in r.iter_bytes():  # decompressed bytes: a gzip bomb hits the cap too
                size += len(chunk)
                if size > cap:
                    raise FetchError(url, f"response exceeds the {cap}-byte cap")
                if time.monotonic() - started > self.policy.deadline:
                    raise FetchError(url, f"took longer than the {self.policy.deadline:.0f} s deadline")
                chunks.append(chunk)
            return Response(final, r.status_code, b"".join(chunks), dict(r.headers))

    def _wait(self, url: str, delay: float, started: float, reason: str) -> None:
        if time.monotonic() - started + delay > self.policy.deadline:
            raise FetchError(url, f"gave up: {reason}, retrying would pass the {self.policy.deadline:.0f} s deadline")
        log.info("retrying %s in %.1fs (%s)", url, delay, reason)
        self._sleep(delay)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
