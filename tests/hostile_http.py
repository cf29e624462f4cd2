"""Loopback servers that misbehave in ways http.server will not: bytes trickled, bodies compressed by hand, TLS."""

from __future__ import annotations

import contextlib
import datetime
import itertools
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class RawServer:
    """A TCP server on 127.0.0.1 that records each request head and answers with ``answer(connection)``.

    Every loop is bounded: the accept loop stops with the context, each answer is on its own clock.
    """

    def __init__(self, answer: Callable[[socket.socket], None]) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def port(self) -> int:
        return self._sock.getsockname()[1]

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(5)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                data = conn.recv(4096)
                if not data:
                    break
                head += data
            self.requests.append(head)
            self.answer(conn)


def trickle(conn: socket.socket, data: Iterable[int], every: float = 0.2, seconds: float = 8.0) -> None:
    """Sends ``data`` one byte each ``every`` seconds, until it ends, ``seconds`` pass or the client hangs up."""
    stop = time.monotonic() + seconds
    for byte in data:
        if time.monotonic() > stop:
            return
        try:
            conn.sendall(bytes([byte]))
        except OSError:
            return
        time.sleep(every)


def endless(prefix: bytes, filler: bytes = b"a") -> Iterator[int]:
    """``prefix``, then ``filler`` for ever (``trickle`` bounds it)."""
    return itertools.chain(prefix, itertools.cycle(filler))


def tls_server(tmp: Path, name: str, handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, bytes]:
    """An HTTPS server on 127.0.0.1 whose certificate is for ``name``, and the PEM of the test CA that signed it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: str, signer: ec.EllipticCurvePrivateKey, ca: bool):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
        else:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_pem = cert("citebot test CA", ca_key, "citebot test CA", ca_key, True).public_bytes(serialization.Encoding.PEM)
    leaf = cert(name, key, "citebot test CA", ca_key, False)
    (tmp / "leaf.pem").write_bytes(
        leaf.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp / "leaf.pem")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    return httpd, ca_pem
