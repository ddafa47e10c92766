"""The one HTTP client of Catalyst Lens.

Every network read goes through `Fetcher.get`: http/https only, connect/read timeouts and a
total deadline, bounded retries with backoff on 429/5xx (honouring Retry-After), a response
size cap enforced while streaming, conditional GET with the ETag/Last-Modified remembered per
URL (a 304 returns `not_modified` and costs no parsing), and an honest User-Agent.

A feed URL is chosen by whoever wrote the feed list, and a redirect by whoever runs the server,
so neither may point the tool at the user's own network (server-side request forgery): unless
`allow_private_hosts` is set (`--allow-private-hosts`), every hop of a redirect chain is
resolved and refused when any address it resolves to is loopback, private, link-local or
otherwise not public. The check runs twice: before each hop, to name the hop in the error, and
again when the connection is opened, on the very addresses connected to, so a name that
resolves to a public address for the first look and to 127.0.0.1 for the second (DNS
rebinding) still cannot reach it. The connection layer also enforces the total deadline on
every socket read, so a server that trickles one byte at a time (slow-loris) is cut off too.
"""

from __future__ import annotations

import contextvars
import ipaddress
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Protocol
from urllib.parse import urlsplit

import httpcore
import httpx

from .errors import FetchError

log = logging.getLogger(__name__)

USER_AGENT = "CatalystLens/0.1 (market-news research tool; +https://pypi.org/project/catalyst-lens/)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
PRIVATE_HINT = "pass --allow-private-hosts to read from your own network"

# (host, port) -> IP addresses; socket.getaddrinfo by default, replaced in tests.
Resolver = Callable[[str, int], list[str]]


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
    # Loopback, private, link-local and other non-public addresses are refused unless set.
    allow_private_hosts: bool = False


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


def system_resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def address_kind(address: str) -> str | None:
    """None for a public internet address, else what it is ('loopback', 'private', ...)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    for kind in ("unspecified", "loopback", "link_local", "private", "multicast", "reserved"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    return None if ip.is_global else "non-public"


class Refused(Exception):
    """A host that resolves to an address the policy does not allow."""


class HostGuard:
    """Resolves a host and vets every address it resolves to."""

    def __init__(self, allow_private: bool, resolve: Resolver = system_resolve):
        self.allow_private = allow_private
        self.resolve = resolve

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses to connect to; raises Refused for a non-public one and
        httpcore.ConnectError for a name that does not resolve."""
        host = host.strip("[]")
        addresses = _literal(host)
        if addresses is None:
            try:
                addresses = self.resolve(host, port)
            except (OSError, UnicodeError) as exc:
                raise httpcore.ConnectError(f"cannot resolve host {host!r} ({exc})") from None
        if not addresses:
            raise httpcore.ConnectError(f"host {host!r} resolves to no address")
        if not self.allow_private:
            for address in addresses:
                kind = address_kind(address)
                if kind:
                    article = "an" if kind[0] in "aeiou" else "a"
                    named = f"{host} is" if host == address else f"{host} resolves to {address},"
                    raise Refused(f"{named} {article} {kind} address: refused")
        return addresses


def _literal(host: str) -> list[str] | None:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    return [host]


# The monotonic time by which the Fetcher.get in progress must be done; read by every socket
# operation of the guarded connection layer.
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("lens_fetch_deadline", default=None)


def _bounded(timeout: float | None, expired: type[Exception]) -> float | None:
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise expired("the total deadline has passed")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read and write ends by the total deadline."""

    def __init__(self, inner: httpcore.NetworkStream):
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> httpcore.NetworkStream:
        return _DeadlineStream(
            self._inner.start_tls(ssl_context, server_hostname, _bounded(timeout, httpcore.ConnectTimeout))
        )

    def get_extra_info(self, info: str):
        return self._inner.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    """Connects only to addresses the guard vetted (the name is resolved once, here), and
    hands back deadline-bound streams. TLS still verifies the certificate against the host
    name: httpcore passes the URL's host as server_hostname, not the address."""

    def __init__(self, guard: HostGuard, inner: httpcore.NetworkBackend):
        self._guard = guard
        self._inner = inner

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        failure: Exception | None = None
        for address in self._guard.addresses(host, port):
            try:
                stream = self._inner.connect_tcp(
                    address, port, _bounded(timeout, httpcore.ConnectTimeout), local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                failure = exc
                continue
            return _DeadlineStream(stream)
        raise failure or httpcore.ConnectError(f"cannot connect to {host}")

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise httpcore.ConnectError("unix sockets are not used")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def guarded_transport(guard: HostGuard) -> httpx.HTTPTransport:
    transport = httpx.HTTPTransport(retries=0)
    pool = getattr(transport, "_pool", None)
    if not isinstance(getattr(pool, "_network_backend", None), httpcore.NetworkBackend):
        # Better no client than one that silently skips the address check.
        raise RuntimeError("this httpx/httpcore version hides the connection backend; "
                           "the private-address guard cannot be installed")
    pool._network_backend = _GuardedBackend(guard, pool._network_backend)
    return transport


class Fetcher:
    def __init__(
        self,
        policy: FetchPolicy | None = None,
        cache: ValidatorCache | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        resolve: Resolver = system_resolve,
    ):
        self.policy = policy or FetchPolicy()
        self.cache = cache
        self._sleep = sleep
        self._guard = HostGuard(self.policy.allow_private_hosts, resolve)
        self._client = httpx.Client(
            timeout=httpx.Timeout(
                self.policy.read_timeout, connect=self.policy.connect_timeout
            ),
            # Redirects are followed by hand, one vetted hop at a time (_request).
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"},
            transport=transport or guarded_transport(self._guard),
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
        token = _deadline.set(started + self.policy.deadline)
        try:
            response = self._get_with_retries(url, headers, started)
        finally:
            _deadline.reset(token)

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

    def _get_with_retries(self, url: str, headers: dict, started: float) -> Response:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._request(url, headers, started)
            except FetchError:
                raise
            except httpx.InvalidURL as exc:
                raise FetchError(url, f"not a valid URL ({exc})") from None
            except httpx.UnsupportedProtocol as exc:
                raise FetchError(url, f"not fetched ({exc})") from None
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if time.monotonic() - started >= self.policy.deadline:
                    raise FetchError(url, f"took longer than the {self.policy.deadline:g} s deadline") from None
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
            return response

    def _request(self, url: str, headers: dict, started: float) -> Response:
        """One attempt: follow redirects hop by hop, vetting each target before connecting."""
        target = httpx.URL(url)
        for _hop in range(self.policy.max_redirects + 1):
            where = "" if str(target) == url else f"redirected to {target}: "
            if target.scheme not in ("http", "https"):
                raise FetchError(url, f"{where}not an http(s) URL; refused")
            if not target.host:
                raise FetchError(url, f"{where}URL has no host")
            try:
                if not self.policy.allow_private_hosts:
                    self._guard.addresses(target.host, target.port or (443 if target.scheme == "https" else 80))
                with self._client.stream("GET", target, headers=headers) as r:
                    location = r.headers.get("location")
                    if r.status_code not in REDIRECT_STATUSES or not location:
                        return self._read_body(url, r, started)
                    try:
                        target = r.url.join(location.strip())
                    except httpx.InvalidURL:
                        raise FetchError(url, f"redirected to an invalid URL {location[:200]!r}") from None
            except Refused as exc:
                raise FetchError(url, f"{where}{exc}", PRIVATE_HINT) from None
            except httpcore.ConnectError as exc:  # raised by the guard before httpx maps it
                raise httpx.ConnectError(str(exc)) from None
            except httpx.InvalidURL as exc:  # httpx parses every Location, followed or not
                raise FetchError(url, f"{where}redirected to an invalid URL ({exc}); refused") from None
        raise FetchError(url, f"more than {self.policy.max_redirects} redirects")

    def _read_body(self, url: str, r: httpx.Response, started: float) -> Response:
        cap = self.policy.max_bytes
        declared = r.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > cap:
            raise FetchError(url, f"response of {int(declared)} bytes exceeds the {cap}-byte cap")
        chunks, size = [], 0
        for chunk in r.iter_bytes():  # decompressed bytes: a gzip bomb hits the cap too
            size += len(chunk)
            if size > cap:
                raise FetchError(url, f"response exceeds the {cap}-byte cap")
            if time.monotonic() - started > self.policy.deadline:
                raise FetchError(url, f"took longer than the {self.policy.deadline:g} s deadline")
            chunks.append(chunk)
        return Response(str(r.url), r.status_code, b"".join(chunks), dict(r.headers))

    def _wait(self, url: str, delay: float, started: float, reason: str) -> None:
        if time.monotonic() - started + delay > self.policy.deadline:
            raise FetchError(url, f"gave up: {reason}, retrying would pass the {self.policy.deadline:g} s deadline")
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
