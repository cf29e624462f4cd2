"""A document reader for the sandbox's own tests: it sleeps as long as it is told to, then answers."""

from __future__ import annotations

import time


def read(data: bytes, *, seconds: float) -> dict[str, int]:
    time.sleep(seconds)
    return {"length": len(data)}
