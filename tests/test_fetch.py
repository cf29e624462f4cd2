"""Fetching articles from links: a real HTTP server on 127.0.0.1, every limit a hostile server could test."""

from __future__ import annotations

import contextlib
import gzip
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from retrieval.corpus import read_corpus
from retrieval.fetch import MAX_REDIRECTS, FetchError, fetch

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


def test_credentials_in_links_are_refused_and_never_shown() -> None:
    with pytest.raises(FetchError) as caught:
        fetch("http://user:s3cret@example.org/x")
    assert "s3cret" not in str(caught.value) and "user name or password" in str(caught.value)
