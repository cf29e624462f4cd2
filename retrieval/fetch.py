"""Fetching an article from a link, safely.

A link comes from a person (an operator's command line, an admin's chat message), so the fetch
is bounded in every way a hostile server could stretch it:

- time: one deadline (``TIMEOUT``) over the whole fetch, redirects included: name lookups, connecting,
  TLS, every read and write;
- size: ``max_bytes`` on the wire and after decompression, which goes in steps of at most 64 KB, so a
  compression bomb stops at the cap; only gzip and deflate are asked for and read, never stacked;
- redirects: at most ``MAX_REDIRECTS``, each one checked as the first link is; content type.

Addresses on this machine's own networks (loopback, private, link-local, multicast, reserved, and
IPv6 addresses that embed such an IPv4 address) are refused unless ``CITEBOT_FETCH_PRIVATE=1``. The
connection goes only to an address that was checked in the same lookup, never to the name itself, so
a name that resolves differently when connecting (DNS rebinding) cannot reach an internal address;
TLS still verifies the certificate against the name in the link.
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import os
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from retrieval.errors import CitebotError

MAX_BYTES = 10 * 1024 * 1024  # on the wire and after decompression
MAX_REDIRECTS = 5
TIMEOUT = 20.0  # seconds for the whole fetch, redirects included
CONTENT_TYPES = {
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
    "text/markdown": ".md",
}
USER_AGENT = "citebot/0.1 (+https://github.com/citebot; fetches one article per request)"

_STEP = 64 * 1024  # most bytes one decompression step may produce: the size cap is checked after each
_GZIP = 16 + zlib.MAX_WBITS
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the last 32 bits are the IPv4 address
_COMPATIBLE = ipaddress.ip_network("::/96")  # IPv4-compatible (deprecated)
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # IPv4-translated (RFC 2765)
_REFUSED_V6 = (
    ipaddress.ip_network("64:ff9b:1::/48"),  # local-use NAT64 (RFC 8215): where the IPv4 sits is local policy
    ipaddress.ip_network("fec0::/10"),  # site-local (deprecated, still routed on some networks)
)


class FetchError(CitebotError):
    """A link that could not be fetched; the message is one line a person can act on."""


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    kind: str  # the file suffix its content type maps to: ".html", ".pdf", ".txt", ".md"
    data: bytes


def is_url(text: str) -> bool:
    return text.lower().startswith(("http://", "https://"))


def private_allowed() -> bool:
    return os.environ.get("CITEBOT_FETCH_PRIVATE", "").strip() == "1"


def fetch(url: str, *, allow_private: bool | None = None, max_bytes: int = MAX_BYTES) -> Fetched:
    """The body of ``url`` and what kind of article it is; raises ``FetchError`` with the reason."""
    allow = private_allowed() if allow_private is None else allow_private
    deadline = time.monotonic() + TIMEOUT
    backend = _Backend(deadline, allow)
    headers = {"User-Agent": USER_AGENT, "Accept": ", ".join(CONTENT_TYPES), "Accept-Encoding": "gzip, deflate"}
    try:
        with httpx.Client(
            transport=_transport(backend),
            follow_redirects=False,
            headers=headers,
            timeout=httpx.Timeout(10.0, connect=5.0),  # per step; the backend cuts each to the deadline
            trust_env=False,
        ) as client:
            for _ in range(MAX_REDIRECTS + 1):
                _check_address(url, allow, deadline)
                backend.url = url
                with client.stream("GET", url) as response:
                    if response.is_redirect:  # its body is never read
                        url = _next_url(url, response.headers.get("location", ""))
                        continue
                    if response.status_code != 200:
                        raise FetchError(f"{_shown(url)}: the server answered {response.status_code}")
                    kind = _kind(response.headers.get("content-type", ""), url)
                    return Fetched(str(response.url), kind, _body(response, url, max_bytes, deadline))
    except httpx.TimeoutException:
        raise FetchError(f"{_shown(url)}: no answer in time") from None
    except (httpx.InvalidURL, ValueError):  # "http://[::1/x": urlsplit and httpx refuse to read it
        raise FetchError(f"{_shown(url)}: not a valid web link") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"{_shown(url)}: cannot fetch ({type(exc).__name__})") from None
    raise FetchError(f"{_shown(url)}: more than {MAX_REDIRECTS} redirects")


def _shown(url: str) -> str:
    """The link as it may appear in a message: bounded, no credentials."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
    except ValueError:
        return "that link"
    text = f"{parts.scheme}://{host}{parts.path}"
    return text if len(text) <= 120 else text[:119] + "…"


def _next_url(url: str, location: str) -> str:
    target = urljoin(url, location.strip())
    if not is_url(target):
        raise FetchError(f"{_shown(url)}: redirects to something that is not a web link")
    return target


def _check_address(url: str, allow_private: bool, deadline: float) -> None:
    """Refuses a link before anything connects, with a clear reason (the connection then checks its own lookup)."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        raise FetchError(f"{_shown(url)}: not an http(s) link")
    if parts.username or parts.password:
        raise FetchError(f"{_shown(url)}: links with a user name or password are not fetched")
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        raise FetchError(f"{_shown(url)}: the host name does not resolve") from None
    _addresses(parts.hostname, port, allow_private, deadline, url)


def _addresses(host: str, port: int, allow_private: bool, deadline: float, url: str) -> list[tuple]:
    """The ``getaddrinfo`` answers for ``host``, each address checked; the lookup is bounded by the deadline."""
    answers: list[tuple] = []

    def lookup() -> None:
        with contextlib.suppress(OSError, ValueError, UnicodeError):
            answers.extend(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))

    # getaddrinfo takes no timeout: a lookup past the deadline is left to end in its own thread
    thread = threading.Thread(target=lookup, name="citebot-fetch-lookup", daemon=True)
    thread.start()
    thread.join(max(0.0, deadline - time.monotonic()))
    if thread.is_alive():
        raise FetchError(f"{_shown(url)}: no answer in time")
    if not answers:
        raise FetchError(f"{_shown(url)}: the host name does not resolve")
    if not allow_private:
        for *_, sockaddr in answers:
            _refuse_private(sockaddr[0], url)
    return answers


def _refuse_private(address: str, url: str) -> None:
    """Refuses an address by what it reaches: an IPv6 address embedding an IPv4 one is judged by that one."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if _private(ip):
        raise FetchError(
            f"{_shown(url)}: points to a private or local address ({ip}); "
            "set CITEBOT_FETCH_PRIVATE=1 to allow that (tests, intranets)"
        )


def _private(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv4Address):
        return not ip.is_global or ip.is_multicast
    if any(ip in network for network in _REFUSED_V6):
        return True
    embedded = _embedded_ipv4(ip)
    if embedded:  # Python's own flags judge these prefixes by their spelling, not by what they reach
        return any(_private(v4) for v4 in embedded)
    return not ip.is_global or ip.is_multicast


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to: mapped, compatible, translated, NAT64, 6to4, Teredo."""
    last = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.ipv4_mapped or any(ip in network for network in (_COMPATIBLE, _TRANSLATED, _NAT64)):
        return [last]
    if ip.sixtofour:
        return [ip.sixtofour]
    if ip.teredo:
        return list(ip.teredo)  # the server's and the client's (the client's unscrambled)
    return []


class _Stream(httpcore.NetworkStream):
    """A connection whose every read, write and TLS handshake ends by the fetch's deadline."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: float) -> None:
        self._stream = stream
        self._deadline = deadline

    def _left(self, timeout: float | None, error: type[Exception]) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise error("the fetch took longer than its deadline")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        # server_hostname is the name in the link (httpcore passes the request's host): SNI and certificate check
        left = self._left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._stream.start_tls(ssl_context, server_hostname, left), self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _Backend(httpcore.SyncBackend):
    """Connects only to addresses it has just checked, and bounds the connection by the deadline."""

    def __init__(self, deadline: float, allow_private: bool) -> None:
        self.deadline = deadline
        self.allow_private = allow_private
        self.url = ""  # the link being fetched, for messages

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        answers = _addresses(host, port, self.allow_private, self.deadline, self.url)
        failure: Exception = httpcore.ConnectError(f"cannot connect to {host}")
        for address in dict.fromkeys(sockaddr[0] for *_, sockaddr in answers):
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise httpcore.ConnectTimeout("the fetch took longer than its deadline")
            try:  # an IP address: no second lookup
                stream = super().connect_tcp(address, port, min(timeout or left, left), local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
                continue
            return _Stream(stream, self.deadline)
        raise failure


def _transport(backend: httpcore.NetworkBackend) -> httpx.HTTPTransport:
    """httpx's transport with the checking backend: httpx 0.28 takes no backend, so its pool is replaced."""
    ssl_context = httpx.create_ssl_context(trust_env=False)  # as httpx's own: certifi's CAs, hostname checked
    transport = httpx.HTTPTransport(verify=ssl_context)
    transport._pool = httpcore.ConnectionPool(ssl_context=ssl_context, network_backend=backend)  # HTTP/1.1, no proxy
    return transport


def _kind(content_type: str, url: str) -> str:
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime in CONTENT_TYPES:
        return CONTENT_TYPES[mime]
    if mime in {"", "application/octet-stream"} and urlsplit(url).path.lower().endswith(".pdf"):
        return ".pdf"
    raise FetchError(f"{_shown(url)}: not a web page, PDF or text (it is {mime[:60] or 'of no stated type'})")


def _body(response: httpx.Response, url: str, max_bytes: int, deadline: float) -> bytes:
    """The decompressed body, refused as soon as it passes ``max_bytes`` (on the wire or decoded) or the deadline."""
    declared = response.headers.get("content-length", "")
    too_large = FetchError(f"{_shown(url)}: larger than {max_bytes // 2**20} MB")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    coding = _coding(response.headers.get("content-encoding", ""), url)

    def raw() -> Iterator[bytes]:  # as received: httpx's own decoding inflates a whole chunk at once
        size = 0
        for data in response.iter_raw():
            size += len(data)
            if size > max_bytes:
                raise too_large
            yield data

    chunks, size = [], 0
    try:
        for chunk in _decoded(raw(), coding):
            size += len(chunk)
            if size > max_bytes:
                raise too_large
            if time.monotonic() > deadline:
                raise FetchError(f"{_shown(url)}: no answer in time")
            chunks.append(chunk)
    except zlib.error:
        raise FetchError(f"{_shown(url)}: the compressed body is damaged") from None
    return b"".join(chunks)


def _coding(header: str, url: str) -> str:
    """The one content coding of a body: "identity", "gzip" or "deflate"; stacked or unknown codings are refused."""
    codings = [c for c in (part.strip().lower() for part in header.split(",")) if c not in {"", "identity"}]
    if len(codings) > 1:
        raise FetchError(f"{_shown(url)}: compressed more than once ({', '.join(codings)[:60]}), which is refused")
    coding = {"x-gzip": "gzip"}.get(codings[0], codings[0]) if codings else "identity"
    if coding not in {"identity", "gzip", "deflate"}:
        raise FetchError(f"{_shown(url)}: compressed in a way citebot does not read ({coding[:30]})")
    return coding


def _decoded(raw: Iterator[bytes], coding: str) -> Iterator[bytes]:
    """The body decompressed in steps of at most ``_STEP`` bytes, so a bomb stops at the size cap."""
    if coding == "identity":
        yield from raw
        return
    wbits = _GZIP
    if coding == "deflate":  # zlib-wrapped as RFC 9110 says, or raw deflate as some servers send (browsers take both)
        head = b""
        for data in raw:
            head += data
            if len(head) >= 2:
                break
        zlib_header = len(head) >= 2 and head[0] & 0x0F == 8 and int.from_bytes(head[:2], "big") % 31 == 0
        wbits = zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS
        raw = itertools.chain([head], raw)
    decompressor = zlib.decompressobj(wbits)
    for data in raw:
        while data:
            if decompressor.eof:
                if wbits != _GZIP or not b"\x1f\x8b".startswith(data[:2]):
                    return  # bytes after the end of the compressed body are ignored, as browsers do
                # gzip members may be concatenated (RFC 1952): one decompressor reads one member, so each
                # further member gets its own, and its output counts against the same cap
                decompressor = zlib.decompressobj(wbits)
            yield from _inflate(decompressor, data)
            data = decompressor.unused_data if decompressor.eof else b""


def _inflate(decompressor: Any, data: bytes) -> Iterator[bytes]:
    """All that ``data`` decompresses to so far, ``_STEP`` bytes at most per step."""
    while True:
        out = decompressor.decompress(data, _STEP)
        if out:
            yield out
        data = decompressor.unconsumed_tail
        # a full step may leave output inside zlib even once all input is taken: ask again until it runs dry
        if decompressor.eof or (not data and len(out) < _STEP):
            return
