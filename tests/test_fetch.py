"""Fetching articles from links: a real HTTP server on 127.0.0.1, every limit a hostile server could test."""

from __future__ import annotations

import contextlib
import functools
import gzip
import ipaddress
import socket
import ssl
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from retrieval import fetch as fetch_module
from retrieval.corpus import read_corpus
from retrieval.fetch import MAX_REDIRECTS, FetchError, fetch
from tests.hostile_http import RawServer, endless, tls_server, trickle

ARTICLE = "# Harbour news\n\nThe ferry to the island leaves at noon.\n\nTickets cost four euros.\n"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        path = self.path
        if path == "/article.md":
            self._send(200, "text/markdown; charset=utf-8", ARTICLE.encode())
        elif path.startswith("/hop/"):
            n = int(path.rsplit("/", 1)[1])
            self._send(302, "text/plain", b"", location="/article.md" if n == 0 else f"/hop/{n - 1}")
        elif path == "/image":
            self._send(200, "image/png", b"\x89PNG....")
        elif path == "/missing":
            self._send(404, "text/plain", b"no")
        elif path == "/huge":
            self._send(200, "text/plain", b"a" * (2 * 1024 * 1024))
        elif path == "/bomb":
            body = gzip.compress(b"a" * (4 * 1024 * 1024))
            self._send(200, "text/plain", body, encoding="gzip")
        elif path == "/to-ftp":
            self._send(302, "text/plain", b"", location="ftp://127.0.0.1/x")
        elif path in COMPRESSED:
            encoding, body = COMPRESSED[path]()
            self._send(200, "text/markdown", body, encoding=encoding)
        else:
            self._send(404, "text/plain", b"")

    def _send(self, status: int, kind: str, body: bytes, location: str = "", encoding: str = "") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        if location:
            self.send_header("Location", location)
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client stopped reading, rightly
            self.wfile.write(body)


@functools.cache
def zeros_gzipped(megabytes: int) -> bytes:
    """``megabytes`` MB of zero bytes, gzipped without ever holding them (about 1 KB on the wire per MB)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(2**20)
    return b"".join(compressor.compress(block) for _ in range(megabytes)) + compressor.flush()


def _deflate(data: bytes, wbits: int) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, wbits)
    return compressor.compress(data) + compressor.flush()


# path: what Content-Encoding the server states, and the body it sends
COMPRESSED: dict[str, Callable[[], tuple[str, bytes]]] = {
    "/gzip": lambda: ("gzip", gzip.compress(ARTICLE.encode())),
    "/x-gzip": lambda: ("x-gzip", gzip.compress(ARTICLE.encode())),
    "/gzip-members": lambda: ("gzip", b"".join(gzip.compress(p.encode()) for p in (ARTICLE[:20], ARTICLE[20:]))),
    "/gzip-padded": lambda: ("gzip", gzip.compress(ARTICLE.encode()) + bytes(8)),  # trailing bytes are ignored
    "/deflate-zlib": lambda: ("deflate", _deflate(ARTICLE.encode(), zlib.MAX_WBITS)),
    "/deflate-raw": lambda: ("deflate", _deflate(ARTICLE.encode(), -zlib.MAX_WBITS)),
    "/identity-gzip": lambda: ("identity, gzip", gzip.compress(ARTICLE.encode())),
    "/br": lambda: ("br", b"\x1b\x4a\x00\xf8\x9d\x05"),
    "/gzip-bomb": lambda: ("gzip", zeros_gzipped(128)),
    "/gzip-gzip": lambda: ("gzip, gzip", gzip.compress(zeros_gzipped(128))),
    "/gzip-gzip-gzip": lambda: ("gzip, gzip, gzip", gzip.compress(gzip.compress(zeros_gzipped(128)))),
    "/deflate-gzip": lambda: ("deflate, gzip", gzip.compress(_deflate(zeros_gzipped(128), zlib.MAX_WBITS))),
}


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_fetches_an_article_through_redirects(server: str) -> None:
    fetched = fetch(f"{server}/hop/{MAX_REDIRECTS - 1}", allow_private=True)
    assert fetched.kind == ".md" and fetched.data.decode() == ARTICLE
    assert fetched.url == f"{server}/article.md"


def test_read_corpus_indexes_a_link_with_its_url(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEBOT_FETCH_PRIVATE", "1")
    corpus = read_corpus([f"{server}/article.md"])
    [article] = corpus.articles
    assert article.title == "Harbour news"
    assert article.paragraphs == ("The ferry to the island leaves at noon.", "Tickets cost four euros.")
    assert article.url == f"{server}/article.md" and article.article_id == "127.0.0.1/article.md"


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        (f"/hop/{MAX_REDIRECTS}", "more than 5 redirects"),
        ("/image", "not a web page, PDF or text"),
        ("/missing", "answered 404"),
        ("/huge", "larger than 1 MB"),
        ("/bomb", "larger than 1 MB"),  # 4 MB once decompressed, 4 KB on the wire
        ("/to-ftp", "not a web link"),
    ],
)
def test_refuses_what_a_hostile_server_sends(server: str, path: str, reason: str) -> None:
    with pytest.raises(FetchError, match=reason):
        fetch(f"{server}{path}", allow_private=True, max_bytes=1024 * 1024)


def test_a_bad_link_is_one_warning_not_a_failed_build(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEBOT_FETCH_PRIVATE", "1")
    corpus = read_corpus([f"{server}/image", f"{server}/article.md"])
    assert [a.title for a in corpus.articles] == ["Harbour news"]
    assert len(corpus.warnings) == 1 and "not a web page" in corpus.warnings[0]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x",
        "http://localhost:9/x",
        "http://10.0.0.1/x",
        "http://192.168.1.1/x",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://[::1]:9/x",
        "http://[::ffff:127.0.0.1]:9/x",
        "http://224.0.0.1/x",
        "http://0.0.0.0:9/x",
    ],
)
def test_refuses_private_and_local_addresses(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CITEBOT_FETCH_PRIVATE", raising=False)
    with pytest.raises(FetchError, match="private or local address"):
        fetch(url)


def test_refuses_a_name_that_resolves_elsewhere_when_connecting(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: the check sees a public address, the connection then goes to 127.0.0.1."""
    port = int(server.rsplit(":", 1)[1])
    real = socket.getaddrinfo
    answers = iter(["93.184.216.34"])  # the first answer only

    def rebinding(host: str, *args: object, **kwargs: object) -> list:
        if host == "news.example":
            address = next(answers, "127.0.0.1")
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.delenv("CITEBOT_FETCH_PRIVATE", raising=False)
    with pytest.raises(FetchError, match=r"private or local address \(127\.0\.0\.1\)"):
        fetch(f"http://news.example:{port}/article.md")



# --- compression: the size cap holds however the body is compressed ---


@pytest.mark.parametrize(
    "path", ["/gzip", "/x-gzip", "/gzip-members", "/gzip-padded", "/deflate-zlib", "/deflate-raw", "/identity-gzip"]
)
def test_reads_compressed_pages(server: str, path: str) -> None:
    """gzip (one member or several, RFC 1952), deflate (zlib-wrapped, or raw as browsers also accept)."""
    assert fetch(f"{server}{path}", allow_private=True).data.decode() == ARTICLE


def test_asks_only_for_the_codings_it_can_bound(server: str) -> None:
    answer = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    with RawServer(lambda conn: conn.sendall(answer)) as raw, pytest.raises(FetchError, match="404"):
        fetch(f"http://127.0.0.1:{raw.port}/x", allow_private=True)
    [head] = raw.requests
    assert b"\r\naccept-encoding: gzip, deflate\r\n" in head.lower()


@pytest.mark.parametrize(
    ("path", "reason", "max_bytes"),
    [
        ("/gzip-bomb", "larger than 1 MB", 2**20),  # 128 MB of zeros in 128 KB, one layer
        ("/gzip-gzip", "compressed more than once", None),  # 128 MB in 1 KB: two layers
        ("/gzip-gzip-gzip", "compressed more than once", None),
        ("/deflate-gzip", "compressed more than once", None),
        ("/br", "compressed in a way citebot does not read", None),
    ],
)
def test_refuses_compression_bombs_without_inflating_them(server: str, path: str, reason: str, max_bytes: int) -> None:
    """Each decompression step is capped, so memory stays near the size cap, and stacked codings are refused."""
    COMPRESSED[path]()  # built before measuring
    started = time.monotonic()
    tracemalloc.start()
    try:
        with pytest.raises(FetchError, match=reason):
            fetch(f"{server}{path}", allow_private=True, max_bytes=max_bytes or fetch_module.MAX_BYTES)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 * 2**20, f"{peak / 2**20:.0f} MB at the peak"
    assert time.monotonic() - started < 10


# --- one deadline for the whole fetch ---

OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
TRICKLED = {
    "headers": lambda conn: trickle(conn, endless(OK_HEAD + b"X-Slow: ")),
    "body": lambda conn: (conn.sendall(OK_HEAD + b"Content-Length: 100000\r\n\r\n"), trickle(conn, endless(b""))),
    "chunk extension": lambda conn: (
        conn.sendall(OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n"),
        trickle(conn, endless(b"1;x=")),
    ),
    "gzip file name": lambda conn: (  # the FNAME field of a gzip header, never terminated
        conn.sendall(OK_HEAD + b"Content-Encoding: gzip\r\nConnection: close\r\n\r\n\x1f\x8b\x08\x08\0\0\0\0\0\xff"),
        trickle(conn, endless(b"")),
    ),
}


@pytest.mark.parametrize("what", TRICKLED)
def test_a_trickling_server_is_cut_off_at_the_deadline(what: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every byte arrives well within the per-read timeout; only the deadline over the whole fetch stops it."""
    monkeypatch.setattr(fetch_module, "TIMEOUT", 1.5)
    with RawServer(TRICKLED[what]) as raw:
        started = time.monotonic()
        with pytest.raises(FetchError, match="no answer in time"):
            fetch(f"http://127.0.0.1:{raw.port}/x", allow_private=True)
        assert time.monotonic() - started < 1.5 + 2


def test_a_slow_name_lookup_counts_against_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch_module, "TIMEOUT", 1.5)
    real = socket.getaddrinfo

    def slow(host: str, *args: object, **kwargs: object) -> list:
        if host == "slow.example":
            time.sleep(5)
            raise socket.gaierror("no such name")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    started = time.monotonic()
    with pytest.raises(FetchError, match="no answer in time"):
        fetch("http://slow.example/x", allow_private=True)
    assert time.monotonic() - started < 1.5 + 2


# --- where the connection goes: only to an address that was checked ---


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every address a socket connects to; any but loopback is refused here, so no packet leaves the machine."""
    attempts: list[object] = []
    real = socket.socket.connect

    def connect(sock: socket.socket, address: object) -> None:
        attempts.append(address)
        host = address[0] if isinstance(address, tuple) else ""
        if host not in {"127.0.0.1", "::1"}:
            raise ConnectionRefusedError(f"test: no connection to {host}")
        real(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return attempts


def test_no_byte_reaches_the_address_a_name_rebinds_to(monkeypatch: pytest.MonkeyPatch, connects: list) -> None:
    """DNS rebinding: checked as public, then 127.0.0.1 when connecting; the internal server must see nothing."""
    with RawServer(lambda conn: conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")) as internal:
        answers = iter(["93.184.216.34"])
        real = socket.getaddrinfo

        def rebinding(host: str, *args: object, **kwargs: object) -> list:
            if host == "news.example":
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers, "127.0.0.1"), internal.port))]
            return real(host, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", rebinding)
        monkeypatch.delenv("CITEBOT_FETCH_PRIVATE", raising=False)
        with pytest.raises(FetchError):
            fetch(f"http://news.example:{internal.port}/latest/meta-data/")
        time.sleep(0.2)  # a request in flight would have arrived by now
    assert internal.requests == []
    assert all(address[0] != "127.0.0.1" for address in connects)


def test_connects_to_the_address_it_checked(monkeypatch: pytest.MonkeyPatch, connects: list) -> None:
    """The name resolves to a public address: the connection goes to that very address (refused here)."""
    real = socket.getaddrinfo

    def public(host: str, port: int, *args: object, **kwargs: object) -> list:
        if host == "news.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", public)
    with pytest.raises(FetchError, match="cannot fetch"):
        fetch("http://news.example/x", allow_private=False)
    assert connects and set(connects) == {("93.184.216.34", 80)}


def test_https_is_verified_against_the_host_name_not_the_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection goes to the checked IP address; TLS still sends and verifies the name in the link."""
    pytest.importorskip("cryptography")
    real = socket.getaddrinfo

    def local(host: str, *args: object, **kwargs: object) -> list:
        return real("127.0.0.1" if host.endswith(".example") else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", local)
    httpd, ca = tls_server(tmp_path, "news.example", Handler)
    monkeypatch.setattr(httpx, "create_ssl_context", lambda **_: ssl.create_default_context(cadata=ca.decode()))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        port = httpd.server_address[1]
        assert fetch(f"https://news.example:{port}/article.md", allow_private=True).data.decode() == ARTICLE
        with pytest.raises(FetchError, match="cannot fetch"):  # the same server, named otherwise
            fetch(f"https://other.example:{port}/article.md", allow_private=True)
    finally:
        httpd.shutdown()
        httpd.server_close()


# --- IPv6 addresses that reach IPv4 ones ---

EMBEDDING_PRIVATE = [
    "::127.0.0.1",  # IPv4-compatible
    "::ffff:169.254.169.254",  # IPv4-mapped
    "::ffff:0:127.0.0.1",  # IPv4-translated
    "64:ff9b::a9fe:a9fe",  # NAT64 to 169.254.169.254
    "64:ff9b::a00:1",  # NAT64 to 10.0.0.1
    "64:ff9b:1::808:808",  # local-use NAT64: refused whatever it embeds
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1
    "2001:0:a00:1:8000:63bf:f7f7:f7f7",  # Teredo, server 10.0.0.1
    "fec0::1",  # site-local
]


@pytest.mark.parametrize("address", EMBEDDING_PRIVATE)
def test_refuses_ipv6_addresses_that_reach_private_ones(
    address: str, monkeypatch: pytest.MonkeyPatch, connects: list
) -> None:
    monkeypatch.delenv("CITEBOT_FETCH_PRIVATE", raising=False)
    with pytest.raises(FetchError, match="private or local address"):
        fetch(f"http://[{address}]/x", allow_private=False)
    assert connects == []
    with pytest.raises(FetchError, match="private or local address"):
        fetch_module._refuse_private(address, "http://x/")


@pytest.mark.parametrize(
    "address",
    ["2606:4700::1111", "2002:808:808::1", "64:ff9b::808:808", "::ffff:8.8.8.8", "93.184.216.34"],
)
def test_public_addresses_pass_the_guard(address: str) -> None:
    """The guard itself only (nothing connects): a 6to4 or NAT64 address of a public IPv4 address is public."""
    assert ipaddress.ip_address(address)  # a well-formed address
    fetch_module._refuse_private(address, "http://x/")


def test_credentials_in_links_are_refused_and_never_shown() -> None:
    with pytest.raises(FetchError) as caught:
        fetch("http://user:s3cret@example.org/x")
    assert "s3cret" not in str(caught.value) and "user name or password" in str(caught.value)


def test_a_link_that_cannot_be_parsed_is_a_clear_refusal() -> None:
    """"http://[::1/x" passed the bot's link check and raised ValueError out of fetch (logged as a crash)."""
    with pytest.raises(FetchError, match="not a valid web link"):
        fetch("http://[::1/x")
