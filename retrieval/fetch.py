"""Fetching an article from a link, safely.

A link comes from a person (an operator's command line, an admin's chat message), so the fetch
is bounded in every way a hostile server could stretch it: time, size after decompression,
redirects (each one re-checked), content type. Addresses on this machine's own networks
(loopback, private, link-local, multicast, reserved) are refused unless ``CITEBOT_FETCH_PRIVATE=1``:
both the DNS answers before connecting and the address actually connected to (a name that
resolves differently the second time cannot slip through).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from retrieval.errors import CitebotError

MAX_BYTES = 10 * 1024 * 1024  # after decompression
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
    headers = {"User-Agent": USER_AGENT, "Accept": ", ".join(CONTENT_TYPES)}
    try:
        with httpx.Client(follow_redirects=False, headers=headers, trust_env=False) as client:
            for _ in range(MAX_REDIRECTS + 1):
                _check_address(url, allow)
                remaining = max(0.1, deadline - time.monotonic())
                timeout = httpx.Timeout(min(10.0, remaining), connect=min(5.0, remaining))
                with client.stream("GET", url, timeout=timeout) as response:
                    _check_peer(response, url, allow)
                    if response.is_redirect:
                        url = _next_url(url, response.headers.get("location", ""))
                        continue
                    if response.status_code != 200:
                        raise FetchError(f"{_shown(url)}: the server answered {response.status_code}")
                    kind = _kind(response.headers.get("content-type", ""), url)
                    return Fetched(str(response.url), kind, _body(response, url, max_bytes, deadline))
    except httpx.TimeoutException:
        raise FetchError(f"{_shown(url)}: no answer in time") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"{_shown(url)}: cannot fetch ({type(exc).__name__})") from None
    raise FetchError(f"{_shown(url)}: more than {MAX_REDIRECTS} redirects")


def _shown(url: str) -> str:
    """The link as it may appear in a message: bounded, no credentials."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    text = f"{parts.scheme}://{host}{parts.path}"
    return text if len(text) <= 120 else text[:119] + "…"


def _next_url(url: str, location: str) -> str:
    target = urljoin(url, location.strip())
    if not is_url(target):
        raise FetchError(f"{_shown(url)}: redirects to something that is not a web link")
    return target


def _check_address(url: str, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        raise FetchError(f"{_shown(url)}: not an http(s) link")
    if parts.username or parts.password:
        raise FetchError(f"{_shown(url)}: links with a user name or password are not fetched")
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        answers = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError, UnicodeError):
        raise FetchError(f"{_shown(url)}: the host name does not resolve") from None
    if not allow_private:
        for *_, sockaddr in answers:
            _refuse_private(sockaddr[0], url)


def _check_peer(response: httpx.Response, url: str, allow_private: bool) -> None:
    """The address the connection really went to (the DNS answer may have changed since the check)."""
    if allow_private:
        return
    stream = response.extensions.get("network_stream")
    peer = stream.get_extra_info("server_addr") if stream is not None else None
    if not peer:
        raise FetchError(f"{_shown(url)}: cannot tell which address answered")
    _refuse_private(peer[0], url)


def _refuse_private(address: str, url: str) -> None:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if not ip.is_global or ip.is_multicast:
        raise FetchError(
            f"{_shown(url)}: points to a private or local address ({ip}); "
            "set CITEBOT_FETCH_PRIVATE=1 to allow that (tests, intranets)"
        )


def _kind(content_type: str, url: str) -> str:
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime in CONTENT_TYPES:
        return CONTENT_TYPES[mime]
    if mime in {"", "application/octet-stream"} and urlsplit(url).path.lower().endswith(".pdf"):
        return ".pdf"
    raise FetchError(f"{_shown(url)}: not a web page, PDF or text (it is {mime[:60] or 'of no stated type'})")


def _body(response: httpx.Response, url: str, max_bytes: int, deadline: float) -> bytes:
    """The decompressed body, refused as soon as it passes ``max_bytes`` or the deadline."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"{_shown(url)}: larger than {max_bytes // 2**20} MB")
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(f"{_shown(url)}: larger than {max_bytes // 2**20} MB")
        if time.monotonic() > deadline:
            raise FetchError(f"{_shown(url)}: no answer in time")
        chunks.append(chunk)
    return b"".join(chunks)
