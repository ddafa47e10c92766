"""The HTTP client against a local pytest-httpserver (loopback only).

The server listens on 127.0.0.1, which the client refuses by default (see
test_network_faults.py), so these tests opt in with allow_private_hosts=True."""

import gzip

import pytest
from werkzeug import Response

from ingest.errors import FetchError
from ingest.fetch import CacheEntry, Fetcher, FetchPolicy


class MemoryCache:
    def __init__(self):
        self.entries = {}

    def get_validators(self, url):
        return self.entries.get(url)

    def put_validators(self, url, entry):
        self.entries[url] = entry


def fast(**kw):
    return FetchPolicy(backoff=0.01, deadline=10, allow_private_hosts=True, **kw)


def test_sends_honest_user_agent(httpserver):
    httpserver.expect_request("/ua").respond_with_data("ok")
    with Fetcher(fast()) as f:
        f.get(httpserver.url_for("/ua"))
    ua = httpserver.log[0][0].headers["User-Agent"]
    assert ua.startswith("CatalystLens/")


def test_500_then_200_is_retried(httpserver):
    httpserver.expect_ordered_request("/flaky").respond_with_data("down", status=500)
    httpserver.expect_ordered_request("/flaky").respond_with_data("fine", status=200)
    with Fetcher(fast()) as f:
        r = f.get(httpserver.url_for("/flaky"))
    assert (r.status, r.content) == (200, b"fine") and len(httpserver.log) == 2


def test_retries_are_bounded(httpserver):
    httpserver.expect_request("/down").respond_with_data("no", status=503)
    with Fetcher(fast(retries=2)) as f, pytest.raises(FetchError, match="HTTP 503"):
        f.get(httpserver.url_for("/down"))
    assert len(httpserver.log) == 3


def test_429_honours_retry_after(httpserver):
    waits = []
    httpserver.expect_ordered_request("/busy").respond_with_data("slow down", status=429, headers={"Retry-After": "2"})
    httpserver.expect_ordered_request("/busy").respond_with_data("ok")
    with Fetcher(fast(), sleep=waits.append) as f:
        assert f.get(httpserver.url_for("/busy")).content == b"ok"
    assert waits == [2.0]


def test_conditional_get_304_is_not_modified(httpserver):
    cache = MemoryCache()
    url = httpserver.url_for("/feed")
    httpserver.expect_ordered_request("/feed").respond_with_data("<rss/>", headers={"ETag": '"v1"', "Last-Modified": "Mon, 12 May 2025 10:00:00 GMT"})
    httpserver.expect_ordered_request("/feed", headers={"If-None-Match": '"v1"'}).respond_with_data("", status=304)
    with Fetcher(fast(), cache=cache) as f:
        first = f.get(url)
        second = f.get(url)
    assert not first.not_modified and cache.entries[url] == CacheEntry('"v1"', "Mon, 12 May 2025 10:00:00 GMT")
    assert second.not_modified and second.content == b""
    assert httpserver.log[1][0].headers["If-Modified-Since"] == "Mon, 12 May 2025 10:00:00 GMT"


def test_size_cap_stops_large_and_gzip_bomb_bodies(httpserver):
    httpserver.expect_request("/big").respond_with_data(b"x" * 5000)
    bomb = gzip.compress(b"\0" * 200_000)
    httpserver.expect_request("/bomb").respond_with_response(
        Response(bomb, headers={"Content-Encoding": "gzip", "Content-Type": "text/html"}))
    with Fetcher(fast(max_bytes=1000)) as f:
        with pytest.raises(FetchError, match="cap"):
            f.get(httpserver.url_for("/big"))
        with pytest.raises(FetchError, match="cap"):
            f.get(httpserver.url_for("/bomb"))


def test_only_http_and_https(tmp_path):
    with Fetcher(fast()) as f, pytest.raises(FetchError, match="scheme 'file'"):
        f.get((tmp_path / "x").as_uri())


def test_unreachable_host_is_one_clear_error():
    with Fetcher(FetchPolicy(retries=1, backoff=0.01, connect_timeout=1, allow_private_hosts=True)) as f:
        with pytest.raises(FetchError) as err:
            f.get("http://127.0.0.1:9/feed.xml")  # discard port: connection refused
    assert "127.0.0.1:9/feed.xml" in str(err.value) and "network error" in str(err.value)


def test_redirect_loop_is_refused(httpserver):
    httpserver.expect_request("/loop").respond_with_response(
        Response("", status=302, headers={"Location": "/loop"}))
    with Fetcher(fast()) as f, pytest.raises(FetchError, match="redirects"):
        f.get(httpserver.url_for("/loop"))
