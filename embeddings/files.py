"""Weights files checked against the sha256 they were pinned or recorded with.

A damaged or swapped weights file does not fail: it quietly changes every vector. So each one is
hashed before use, and a mismatch is one line that says how to get the right file back.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from embeddings.errors import EmbeddingError


def file_sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def checked_sha256(path: Path, expected: str, remedy: str) -> str:
    """``path``'s sha256, which must be ``expected``; else an ``EmbeddingError`` ending in ``remedy``."""
    actual = file_sha256(path)
    if actual != expected:
        raise EmbeddingError(f"{path} has sha256 {actual[:12]}…, expected {expected[:12]}…: {remedy}")
    return actual
