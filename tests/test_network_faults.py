"""Network faults and hostile servers, all on loopback: pytest-httpserver, a raw socket server
thread written here for what HTTP servers will not do (resets, silence, trickled headers), and
httpx.MockTransport with a stub resolver for "public" names. No external address is used.

Loopback is itself a private address, so tests that must reach these servers opt in with
allow_private_hosts=True; the tests of the private-address guard leave it off."""

from __future__ import annotations

import gzip
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from typer.testing import CliRunner
from werkzeug import Response

from ingest.errors import FetchError
from ingest.fetch import Fetcher, FetchPolicy, address_kind
from lens.cli import app
from lens.run import ingest
from lens.store import Store

runner = CliRunner()
MB = 1024 * 1024


def policy(**kw) -> FetchPolicy:
    values = dict(backoff=0.01, deadline=10, retries=2, allow_private_hosts=True)
    return FetchPolicy(**{**values, **kw})


# ------------------------------------------------------------------------------ a raw loopback server


class RawServer:
    """A loopback TCP server thread; each connection is answered by `handler(conn, stop)`.
    Everything is bounded: handlers give up on `stop`, on a closed peer or after a few seconds."""

    def __init__(self, handler: Callable[[socket.socket, threading.Event], None]):
        self.handler = handler
        self.connections = 0
        self.stop = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/feed.xml"
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> RawServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(2)
        self.sock.close()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                read_request(conn)
                self.handler(conn, self.stop)
            except OSError:
                pass  # the client hung up: what these tests expect


def read_request(conn: socket.socket) -> bytes:
    conn.settimeout(2)
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def reset(conn: socket.socket, stop: threading.Event) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close → RST


def silent(conn: socket.socket, stop: threading.Event) -> None:
    stop.wait(3)


def trickle(payload: bytes, every: float = 0.05) -> Callable:
    def handler(conn: socket.socket, stop: threading.Event) -> None:
        for byte in payload[: int(5 / every)]:  # at most ~5 s
            if stop.is_set():
                return
            conn.sendall(bytes([byte]))
            time.sleep(every)

    return handler


# ------------------------------------------------------------------------------ timeouts, resets, slow-loris


def test_connection_reset_is_retried_a_bounded_number_of_times():
    with RawServer(reset) as server, Fetcher(policy(retries=2)) as fetcher:
        with pytest.raises(FetchError, match="network error after 3 attempts") as err:
            fetcher.get(server.url)
    assert server.connections == 3 and server.url in str(err.value)


def test_silent_server_times_out_per_read():
    with RawServer(silent) as server, Fetcher(policy(retries=1, read_timeout=0.3)) as fetcher:
        started = time.monotonic()
        with pytest.raises(FetchError, match=r"network error after 2 attempts \(ReadTimeout"):
            fetcher.get(server.url)
    assert server.connections == 2 and time.monotonic() - started < 2


def test_slow_loris_headers_are_cut_by_the_total_deadline():
    # One header byte every 50 ms never trips the 1 s read timeout; only a deadline on every
    # socket read (the guarded connection layer) ends it.
    headers = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-Pad-%d: slow\r\n" % i for i in range(40))
    with RawServer(trickle(headers)) as server, Fetcher(policy(deadline=1, read_timeout=1)) as fetcher:
        started = time.monotonic()
        with pytest.raises(FetchError, match="took longer than the 1 s deadline"):
            fetcher.get(server.url)
    assert time.monotonic() - started < 2


def test_slow_loris_body_is_cut_by_the_total_deadline():
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n" + b"x" * 500
    with RawServer(trickle(response, every=0.02)) as server, Fetcher(policy(deadline=1, read_timeout=1)) as fetcher:
        started = time.monotonic()
        with pytest.raises(FetchError, match="deadline"):
            fetcher.get(server.url)
    assert time.monotonic() - started < 2


# ------------------------------------------------------------------------------ size cap


def test_50_mb_page_is_cut_at_the_cap_without_reading_it_all(httpserver):
    sent = []

    def fifty_megabytes():
        for _ in range(50 * MB // 65536):
            sent.append(65536)
            yield b"<p>" + b"x" * 65529 + b"</p>"

    httpserver.expect_request("/big").respond_with_response(Response(fifty_megabytes(), content_type="text/html"))
    with Fetcher(policy(max_bytes=MB)) as fetcher, pytest.raises(FetchError, match="exceeds the 1048576-byte cap"):
        fetcher.get(httpserver.url_for("/big"))
    assert sum(sent) < 8 * MB  # what the socket buffers held, not 50 MB


def test_declared_oversize_length_is_refused_before_the_body():
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % (50 * MB)
    with RawServer(trickle(head + b"<html>" * 100, every=0.001)) as server, Fetcher(policy(max_bytes=MB)) as fetcher:
        with pytest.raises(FetchError, match=f"response of {50 * MB} bytes exceeds the {MB}-byte cap"):
            fetcher.get(server.url)


def test_endless_chunked_response_is_cut_at_the_cap(httpserver):
    produced = []

    def endless():
        while len(produced) < 100_000:  # "endless", but a bounded loop
            produced.append(1)
            yield b"y" * 16384

    httpserver.expect_request("/endless").respond_with_response(Response(endless(), content_type="text/plain"))
    with Fetcher(policy(max_bytes=256 * 1024)) as fetcher, pytest.raises(FetchError, match="cap"):
        fetcher.get(httpserver.url_for("/endless"))
    assert len(produced) < 500


def test_gzip_bomb_is_cut_on_decompressed_size(httpserver):
    bomb = gzip.compress(b"\0" * (16 * MB), compresslevel=9)  # ~16 kB on the wire
    assert len(bomb) < 20_000
    httpserver.expect_request("/bomb").respond_with_response(
        Response(bomb, headers={"Content-Encoding": "gzip", "Content-Type": "application/rss+xml"}))
    with Fetcher(policy(max_bytes=MB)) as fetcher, pytest.raises(FetchError, match="cap"):
        fetcher.get(httpserver.url_for("/bomb"))


# ------------------------------------------------------------------------------ status codes


def test_500_burst_shorter_than_the_retries_recovers(httpserver):
    for _ in range(3):
        httpserver.expect_ordered_request("/burst").respond_with_data("down", status=500)
    httpserver.expect_ordered_request("/burst").respond_with_data("<rss/>")
    with Fetcher(policy(retries=3)) as fetcher:
        assert fetcher.get(httpserver.url_for("/burst")).content == b"<rss/>"
    assert len(httpserver.log) == 4


def test_500_burst_longer_than_the_retries_fails_after_a_bounded_number(httpserver):
    httpserver.expect_request("/down").respond_with_data("down", status=500)
    waits = []
    with Fetcher(policy(retries=3, backoff=0.5), sleep=waits.append) as fetcher:
        with pytest.raises(FetchError, match="HTTP 500"):
            fetcher.get(httpserver.url_for("/down"))
    assert len(httpserver.log) == 4 and waits == [0.5, 1.0, 2.0]  # exponential backoff


def test_429_retry_after_as_http_date_is_honoured(httpserver):
    when = (datetime.now(UTC) + timedelta(seconds=3)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    httpserver.expect_ordered_request("/busy").respond_with_data("", status=429, headers={"Retry-After": when})
    httpserver.expect_ordered_request("/busy").respond_with_data("ok")
    waits = []
    with Fetcher(policy(), sleep=waits.append) as fetcher:
        assert fetcher.get(httpserver.url_for("/busy")).content == b"ok"
    assert len(waits) == 1 and 1 <= waits[0] <= 3


def test_429_asking_for_more_than_the_deadline_gives_up_at_once(httpserver):
    httpserver.expect_request("/later").respond_with_data("", status=429, headers={"Retry-After": "3600"})
    waits = []
    with Fetcher(policy(deadline=5, max_retry_after=60), sleep=waits.append) as fetcher:
        with pytest.raises(FetchError, match="gave up: HTTP 429, retrying would pass the 5 s deadline"):
            fetcher.get(httpserver.url_for("/later"))
    assert waits == [] and len(httpserver.log) == 1


def test_redirect_loop_is_bounded(httpserver):
    httpserver.expect_request("/a").respond_with_response(Response("", status=302, headers={"Location": "/b"}))
    httpserver.expect_request("/b").respond_with_response(Response("", status=301, headers={"Location": "/a"}))
    with Fetcher(policy(max_redirects=4)) as fetcher, pytest.raises(FetchError, match="more than 4 redirects"):
        fetcher.get(httpserver.url_for("/a"))
    assert len(httpserver.log) == 5


@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://files.example/feed.xml",
                                      "javascript:alert(1)", "gopher://127.0.0.1:25/xHELO"])
def test_redirect_to_a_non_http_scheme_is_refused(httpserver, location):
    httpserver.expect_request("/feed").respond_with_response(Response("", status=302, headers={"Location": location}))
    with Fetcher(policy()) as fetcher, pytest.raises(FetchError, match=r"redirected to .*(not an http\(s\) URL|invalid URL).*; refused"):
        fetcher.get(httpserver.url_for("/feed"))
    assert len(httpserver.log) == 1


# ------------------------------------------------------------------------------ private addresses


@pytest.mark.parametrize("address, kind", [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("10.1.2.3", "private"), ("172.16.5.4", "private"),
    ("172.31.255.255", "private"), ("192.168.1.1", "private"), ("169.254.169.254", "link-local"),
    ("fe80::1", "link-local"), ("fe80::1%eth0", "link-local"), ("::ffff:127.0.0.1", "loopback"),
    ("0.0.0.0", "unspecified"), ("fc00::1", "private"), ("224.0.0.1", "multicast"), ("100.64.0.1", "non-public"),
    ("93.184.215.14", None), ("2606:4700::1111", None), ("172.32.0.1", None),
])
def test_address_kinds(address, kind):
    assert address_kind(address) == kind


def test_loopback_url_is_refused_before_any_connection(httpserver):
    httpserver.expect_request("/feed.xml").respond_with_data("<rss/>")
    with Fetcher(policy(allow_private_hosts=False)) as fetcher, pytest.raises(FetchError) as err:
        fetcher.get(httpserver.url_for("/feed.xml"))
    assert "localhost resolves to 127.0.0.1, a loopback address: refused" in str(err.value)
    assert "--allow-private-hosts" in str(err.value) and len(httpserver.log) == 0


def test_allow_private_hosts_lets_loopback_through(httpserver):
    httpserver.expect_request("/feed.xml").respond_with_data("<rss/>")
    with Fetcher(policy(allow_private_hosts=True)) as fetcher:
        assert fetcher.get(httpserver.url_for("/feed.xml")).content == b"<rss/>"


PUBLIC = {"news.example": ["93.184.215.14"], "cdn.example": ["2606:4700::1111"],
          "intranet.example": ["10.20.30.40"], "localhost": ["127.0.0.1", "::1"],
          "split.example": ["93.184.215.14", "192.168.0.10"]}


def stub_resolve(host: str, port: int) -> list[str]:
    if host not in PUBLIC:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return PUBLIC[host]


def public_server(redirect_to: str, seen: list[str]) -> httpx.MockTransport:
    """A "public" site that redirects its feed to `redirect_to`; serves 200 anywhere else."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.host == "news.example":
            return httpx.Response(302, headers={"Location": redirect_to})
        return httpx.Response(200, content=b"<rss/>")

    return httpx.MockTransport(handle)


@pytest.mark.parametrize("target, why", [
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
    ("http://127.0.0.1:8080/admin", "127.0.0.1 is a loopback address"),
    ("http://localhost/", "localhost resolves to 127.0.0.1, a loopback address"),
    ("http://10.0.0.8/", "10.0.0.8 is a private address"),
    ("http://172.16.5.4/", "172.16.5.4 is a private address"),
    ("http://192.168.1.1/router", "192.168.1.1 is a private address"),
    ("http://[::1]/", "::1 is a loopback address"),
    ("http://[fe80::1]/", "fe80::1 is a link-local address"),
    ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1 is a loopback address"),
    ("http://0.0.0.0/", "0.0.0.0 is an unspecified address"),
    ("http://intranet.example/feed", "intranet.example resolves to 10.20.30.40, a private address"),
    ("http://split.example/feed", "split.example resolves to 192.168.0.10, a private address"),
    ("/internal", "news.example"),  # relative: same public host, so it is followed
])
def test_redirect_from_a_public_feed_to_a_private_address_is_refused(target, why):
    seen: list[str] = []
    transport = public_server(target, seen)
    with Fetcher(policy(allow_private_hosts=False), transport=transport, resolve=stub_resolve) as fetcher:
        if target.startswith("/"):
            with pytest.raises(FetchError, match="more than"):
                fetcher.get("http://news.example/feed.xml")
            return
        with pytest.raises(FetchError) as err:
            fetcher.get("http://news.example/feed.xml")
    assert seen == ["http://news.example/feed.xml"]  # the private target was never contacted
    message = str(err.value)
    assert message.startswith("http://news.example/feed.xml: redirected to ")
    assert why in message and "refused" in message and "--allow-private-hosts" in message


def test_redirect_to_a_private_address_is_followed_when_allowed():
    seen: list[str] = []
    transport = public_server("http://169.254.169.254/latest/meta-data/", seen)
    with Fetcher(policy(allow_private_hosts=True), transport=transport, resolve=stub_resolve) as fetcher:
        response = fetcher.get("http://news.example/feed.xml")
    assert response.url == "http://169.254.169.254/latest/meta-data/" and len(seen) == 2


def test_redirect_to_another_public_host_is_followed():
    seen: list[str] = []
    with Fetcher(policy(allow_private_hosts=False), transport=public_server("https://cdn.example/f.xml", seen),
                 resolve=stub_resolve) as fetcher:
        assert fetcher.get("http://news.example/feed.xml").url == "https://cdn.example/f.xml"


def test_dns_rebinding_is_caught_when_connecting(httpserver):
    # The name looks public when vetted, then points at loopback when the connection is made:
    # the connection layer resolves once more, vets again and connects to what it vetted.
    httpserver.expect_request("/feed.xml").respond_with_data("<rss/>")
    answers = iter([["93.184.215.14"], ["127.0.0.1"], ["127.0.0.1"]])
    with Fetcher(policy(allow_private_hosts=False, retries=0), resolve=lambda host, port: next(answers)) as fetcher:
        with pytest.raises(FetchError, match="rebind.example resolves to 127.0.0.1, a loopback address: refused"):
            fetcher.get(f"http://rebind.example:{httpserver.port}/feed.xml")
    assert len(httpserver.log) == 0


def test_connection_goes_to_the_address_the_guard_resolved(httpserver):
    # No system resolver knows feeds.example: reaching the server proves the guarded layer
    # connected to the address it resolved and vetted, with the Host header intact.
    httpserver.expect_request("/feed.xml").respond_with_data("<rss/>")
    with Fetcher(policy(allow_private_hosts=True), resolve=lambda host, port: ["127.0.0.1"]) as fetcher:
        assert fetcher.get(f"http://feeds.example:{httpserver.port}/feed.xml").content == b"<rss/>"
    assert httpserver.log[0][0].headers["Host"] == f"feeds.example:{httpserver.port}"


def make_certificates(folder) -> tuple[str, str, str]:
    """A throwaway CA and a certificate for feeds.example signed by it (openssl, EC keys)."""
    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=Lens test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    openssl("req", *ec, "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=feeds.example")
    (folder / "ext").write_text("subjectAltName=DNS:feeds.example\nbasicConstraints=CA:FALSE\n")
    openssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "srv.pem", "-days", "1", "-extfile", "ext")
    return str(folder / "ca.pem"), str(folder / "srv.pem"), str(folder / "srv.key")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_https_through_the_guard_verifies_the_host_name_not_the_address(tmp_path, monkeypatch):
    # The guard connects to an address, but TLS must still check the certificate against the
    # URL's host name: the right name is served, a wrong name fails verification.
    ca, cert, key = make_certificates(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", ca)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = context.wrap_socket(socket.create_server(("127.0.0.1", 0)), server_side=True)
    listener.settimeout(0.2)
    port, stop = listener.getsockname()[1], threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except (TimeoutError, ssl.SSLError, OSError):
                continue
            with conn:
                read_request(conn)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\n<rss/>")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with Fetcher(policy(retries=0), resolve=lambda host, port: ["127.0.0.1"]) as fetcher:
            assert fetcher.get(f"https://feeds.example:{port}/feed.xml").content == b"<rss/>"
            with pytest.raises(FetchError, match="CERTIFICATE_VERIFY_FAILED"):
                fetcher.get(f"https://impostor.example:{port}/feed.xml")
    finally:
        stop.set()
        thread.join(2)
        listener.close()


def test_unresolvable_host_is_a_network_error_not_a_crash():
    with Fetcher(policy(allow_private_hosts=False, retries=1), resolve=stub_resolve) as fetcher:
        with pytest.raises(FetchError, match="network error after 2 attempts .*cannot resolve host 'nowhere.example'"):
            fetcher.get("http://nowhere.example/feed.xml")


# ------------------------------------------------------------------------------ recorded per source


def test_failures_are_recorded_per_source_with_reason_and_time(tmp_path, httpserver):
    httpserver.expect_request("/ok.xml").respond_with_data(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Loop</title><item><title>Fed cuts</title>'
        "<link>https://loop.example/1</link><description>The Fed cut rates.</description></item></channel></rss>")
    with RawServer(reset) as server:
        dead = server.url
        before = datetime.now(UTC)
        result = ingest([httpserver.url_for("/ok.xml"), dead, "http://127.0.0.1:9/closed.xml"], tmp_path,
                        policy=policy(retries=1))
    assert result.seen == 1
    with Store(tmp_path / "lens.duckdb") as store:
        log = store.source_log().set_index("source")
    assert log.loc[httpserver.url_for("/ok.xml"), "status"] == "ok"
    for url in (dead, "http://127.0.0.1:9/closed.xml"):
        assert log.loc[url, "status"] == "error" and "network error after 2 attempts" in log.loc[url, "reason"]
        assert before - timedelta(seconds=1) <= log.loc[url, "logged_at"] <= datetime.now(UTC)
    shown = runner.invoke(app, ["sources", "--out", str(tmp_path), "--errors"], env={"COLUMNS": "400"})
    assert shown.exit_code == 0
    assert dead in shown.output and "closed.xml" in shown.output and "network error" in shown.output
    assert "ok.xml" not in shown.output
    assert f"{datetime.now(UTC):%Y-%m-%d}" in shown.output


def test_cli_refuses_a_private_feed_url_in_one_line_and_logs_it(tmp_path, httpserver):
    httpserver.expect_request("/feed.xml").respond_with_data("<rss/>")
    url = httpserver.url_for("/feed.xml")
    res = runner.invoke(app, ["ingest", url, "--out", str(tmp_path)], env={"COLUMNS": "400"})
    assert res.exit_code == 1 and len(httpserver.log) == 0
    errors = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and url in errors[0] and "loopback address: refused" in errors[0]
    assert "--allow-private-hosts" in errors[0]
    shown = runner.invoke(app, ["sources", "--out", str(tmp_path)], env={"COLUMNS": "400"})
    assert "loopback address: refused" in shown.output


@pytest.mark.parametrize("command", ["ingest", "analyze", "run"])
def test_every_command_that_fetches_offers_allow_private_hosts(command):
    shown = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0 and "--allow-private-hosts" in shown.output
