"""A content-hash cache of vectors, so an unchanged text is never embedded twice.

Keys hash the model id together with the text: the same words under another model are a
different vector. A cache may fall back to an older one (the previous index build); every
vector it hands out is written to itself, so after a build it holds exactly the vectors that
build used and stale entries disappear with the old build.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

_CHUNK = 500  # SQLite's default limit on host parameters is far above this


def cache_key(model_id: str, text: str) -> bytes:
    return hashlib.blake2b(f"{model_id}\0{text}".encode(), digest_size=16).digest()


class EmbeddingCache:
    """Vectors keyed by ``cache_key`` in one SQLite file."""

    def __init__(self, path: Path, *, fallback: EmbeddingCache | None = None, readonly: bool = False):
        self.path = Path(path)
        self.fallback = fallback
        self.readonly = readonly
        if readonly:
            self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        else:
            self._db = sqlite3.connect(self.path)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vec BLOB NOT NULL) WITHOUT ROWID"
            )
        self.hits = 0
        self.misses = 0

    def lookup(self, keys: Sequence[bytes], dim: int) -> dict[bytes, np.ndarray]:
        """Return the (rows, dim) arrays this cache (or its fallback) holds for ``keys``."""
        found: dict[bytes, np.ndarray] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = list(keys[start : start + _CHUNK])
            marks = ",".join("?" * len(chunk))
            for key, blob in self._db.execute(f"SELECT key, vec FROM vectors WHERE key IN ({marks})", chunk):
                flat = np.frombuffer(blob, dtype=np.float32)
                if flat.size and flat.size % dim == 0:
                    found[key] = flat.reshape(-1, dim)
        if self.fallback is not None:
            missing = [k for k in keys if k not in found]
            if missing:
                inherited = self.fallback.lookup(missing, dim)
                if inherited and not self.readonly:
                    self.store(inherited.items())
                found.update(inherited)
        return found

    def store(self, items: Iterable[tuple[bytes, np.ndarray]]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                ((key, np.ascontiguousarray(vec, dtype=np.float32).tobytes()) for key, vec in items),
            )

    def __len__(self) -> int:
        return self._db.execute("SELECT count(*) FROM vectors").fetchone()[0]

    def close(self) -> None:
        self._db.close()
        if self.fallback is not None:
            self.fallback.close()
