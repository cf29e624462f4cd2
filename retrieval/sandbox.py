"""Document readers run in child processes, each capped in memory and time.

A parser fed a hostile document can take gigabytes or minutes: lxml, under trafilatura, took
2.5 GB and 20 s of CPU for a 10 MB page of elements with 199 attributes each. In the bot's
process that stalls every chat and can bring the whole bot down. So a reader runs in a child:
this file run as a script, which loads the reader's module by its path (the child imports the
parser, nothing of citebot's) and caps its own address space. The parent gives every document
a wall-clock limit and kills the child that passes it. A child is kept for the next document
(starting one and importing trafilatura costs ~0.4 s) unless it failed, and is replaced after
``USES`` documents so that what a parser leaks stays bounded.

Only this standard-library module is shared by both sides; requests and replies are JSON
frames (and the document's bytes) on the child's stdin and stdout.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

USES = 200  # documents one child reads before it is replaced
_LENGTH = struct.Struct(">Q")


class SandboxFailed(Exception):
    """The child did not answer: the message says why, in words for a person ("it needs too much memory")."""


class Sandbox:
    """Children that run ``function(data, **arguments) -> dict`` of the module at ``module``."""

    def __init__(self, module: Path, function: str, *, memory_bytes: int, seconds: float, keep: int = 2):
        self.module, self.function = module, function
        self.memory_bytes, self.seconds, self.keep = memory_bytes, seconds, keep
        self._idle: list[_Child] = []
        self._lock = threading.Lock()
        atexit.register(self.close)

    def run(self, data: bytes, arguments: dict[str, Any]) -> dict[str, Any]:
        """The reader's reply for one document; ``SandboxFailed`` if the child ran out of memory or time, or died."""
        with self._lock:
            child = self._idle.pop() if self._idle else None
        child = child or _Child(self)
        try:
            reply = child.call(data, arguments, self.seconds)
        except BaseException:
            child.kill()
            raise
        with self._lock:
            if child.uses < USES and len(self._idle) < self.keep:
                self._idle.append(child)
                child = None
        if child is not None:
            child.kill()
        return reply

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for child in idle:
            child.kill()


class _Child:
    def __init__(self, sandbox: Sandbox):
        arguments = [str(sandbox.module), sandbox.function, str(sandbox.memory_bytes)]
        self.proc = subprocess.Popen(
            [sys.executable, "-I", str(Path(__file__).resolve()), *arguments],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # parsers' own warnings; the reply carries the reason
        )
        self.uses = 0

    def call(self, data: bytes, arguments: dict[str, Any], seconds: float) -> dict[str, Any]:
        self.uses += 1
        deadline = time.monotonic() + seconds
        try:
            assert self.proc.stdin is not None and self.proc.stdout is not None
            _send(self.proc.stdin, json.dumps(arguments).encode())
            _send(self.proc.stdin, data)
            self.proc.stdin.flush()
            reply = json.loads(_receive(self.proc.stdout.fileno(), deadline))
        except TimeoutError:
            raise SandboxFailed(f"still reading after {seconds:g} s") from None
        except (OSError, EOFError, ValueError):
            raise SandboxFailed(self._death()) from None
        if reply.get("failed") == "memory":
            raise SandboxFailed("it needs too much memory")
        return reply

    def _death(self) -> str:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "the reader failed"
        return "it needs too much memory or time" if code < 0 else "the reader failed"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


def _send(pipe: Any, payload: bytes) -> None:
    pipe.write(_LENGTH.pack(len(payload)))
    pipe.write(payload)


def _receive(fd: int, deadline: float) -> bytes:
    """One frame from ``fd``, or ``TimeoutError`` once ``deadline`` passes."""
    size = _LENGTH.unpack(_exactly(fd, _LENGTH.size, deadline))[0]
    return _exactly(fd, size, deadline)


def _exactly(fd: int, size: int, deadline: float) -> bytes:
    parts, left = [], size
    while left:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            raise TimeoutError
        part = os.read(fd, min(left, 1 << 20))
        if not part:
            raise EOFError
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _frame(stream: Any) -> bytes | None:
    """The child's side of ``_receive``: None when the parent has gone (end of input)."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    payload = stream.read(_LENGTH.unpack(head)[0])
    return payload


def _serve(module_path: str, function: str, memory_bytes: int) -> None:
    """Read documents until the parent closes our input; a MemoryError ends this child (its heap is suspect)."""
    import importlib.util
    import resource

    replies = os.fdopen(os.dup(1), "wb")  # stdout is the reply channel; whatever a library prints goes nowhere
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of this process
    spec = importlib.util.spec_from_file_location("_citebot_reader", module_path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    read = getattr(module, function)
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))  # after the imports: documents only
    while (arguments := _frame(sys.stdin.buffer)) is not None:
        data = _frame(sys.stdin.buffer) or b""
        try:
            reply = json.dumps(read(data, **json.loads(arguments))).encode()
        except MemoryError:
            reply = b'{"failed": "memory"}'
        replies.write(_LENGTH.pack(len(reply)) + reply)
        replies.flush()
        if reply == b'{"failed": "memory"}':
            return


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2], int(sys.argv[3]))
