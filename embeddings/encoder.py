"""Text in, unit-length float32 vectors out.

``Embedder.encode`` is the one entry point. sentence-transformers (and torch behind it) is
imported only when something is actually encoded: it costs seconds, and many commands
(``--help``, a no-change rebuild) never need it.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embeddings.cache import EmbeddingCache, cache_key
from embeddings.errors import EmbeddingError
from embeddings.model import ModelSpec, resolve_model

if TYPE_CHECKING:
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

PROGRESS_MIN = 64  # show a progress bar only when encoding at least this many texts


class Embedder:
    """Encodes texts with one sentence-transformers model, optionally through a cache."""

    def __init__(self, spec: ModelSpec | str | None = None, *, batch_size: int = 32, threads: int | None = None):
        self.spec = spec if isinstance(spec, ModelSpec) else resolve_model(spec)
        self.batch_size = batch_size
        self.threads = threads

    @property
    def model_id(self) -> str:
        """Stable identity of the weights: the name, plus the file hash when we know it."""
        return f"{self.spec.name}@{self.spec.sha256[:16]}" if self.spec.sha256 else self.spec.name

    @cached_property
    def _config(self) -> dict[str, Any]:
        path = Path(self.spec.location) / "sentence_bert_config.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    @cached_property
    def max_seq_length(self) -> int:
        """The model's window in tokens, special tokens included; the rest is truncated."""
        if "max_seq_length" in self._config:
            return int(self._config["max_seq_length"])
        return int(self._model.max_seq_length)

    @cached_property
    def window_tokens(self) -> int:
        """How many content tokens fit in one window, after the model's special tokens."""
        return self.max_seq_length - self._special_tokens

    @cached_property
    def _special_tokens(self) -> int:
        if self._tokenizer is not None:
            return len(self._tokenizer.encode("").ids)
        return len(self._model.tokenizer("")["input_ids"])

    @cached_property
    def dim(self) -> int:
        """Vector width, read from the model's files when they say it (no model load)."""
        root = Path(self.spec.location)
        modules = root / "modules.json"
        pooling = root / "1_Pooling" / "config.json"
        if modules.is_file() and pooling.is_file():
            kinds = [m.get("type", "") for m in json.loads(modules.read_text())]
            if not any("Dense" in k for k in kinds):
                return int(json.loads(pooling.read_text())["word_embedding_dimension"])
        return int(self._model.get_sentence_embedding_dimension())

    @cached_property
    def _tokenizer(self) -> Tokenizer | None:
        path = Path(self.spec.location) / "tokenizer.json"
        if not path.is_file():
            return None
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(path))
        tok.no_padding()
        tok.no_truncation()
        return tok

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Content token counts, without the special tokens the model adds once per text."""
        if self._tokenizer is not None:
            return [len(enc.ids) for enc in self._tokenizer.encode_batch(list(texts), add_special_tokens=False)]
        tok = self._model.tokenizer
        return [len(ids) for ids in tok(list(texts), add_special_tokens=False)["input_ids"]]

    @cached_property
    def _model(self) -> Any:
        with _LOAD_LOCK:  # a warm-up thread and the first question may race to load it
            return _load_model(self.spec.location, self.spec.is_local, self.threads)

    def encode(
        self, texts: Sequence[str], *, cache: EmbeddingCache | None = None, progress: bool = False
    ) -> np.ndarray:
        """Return one unit-length float32 row per text, in order."""
        vectors, _ = self.encode_with_spans(texts, [()] * len(texts), cache=cache, progress=progress)
        return vectors

    def encode_with_spans(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[tuple[int, int]]],
        *,
        cache: EmbeddingCache | None = None,
        progress: bool = False,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Embed each text, and each character span inside it, in one forward pass.

        A span's vector mean-pools the text's contextual token embeddings over the tokens
        inside the span ("late chunking"): sentences get vectors that know their paragraph,
        at no extra model cost. Returns the text vectors and, per text, a (spans, dim) array.
        With a cache, only texts it does not hold are run through the model.
        """
        n = len(texts)
        rows: list[np.ndarray | None] = [None] * n
        keys: list[bytes] = []
        if cache is not None:
            keys = [cache_key(self.model_id, _span_key(t, s)) for t, s in zip(texts, spans, strict=False)]
            found = cache.lookup(keys, self.dim)
            for i, key in enumerate(keys):
                got = found.get(key)
                if got is not None and len(got) == 1 + len(spans[i]):
                    rows[i] = got
        todo = [i for i in range(n) if rows[i] is None]
        if cache is not None:
            cache.hits += n - len(todo)
            cache.misses += len(todo)
        todo.sort(key=lambda i: len(texts[i]))  # similar lengths batch with little padding
        bar = _progress(len(todo), enabled=progress and len(todo) >= PROGRESS_MIN)
        for start in range(0, len(todo), ENCODE_CHUNK):
            part = todo[start : start + ENCODE_CHUNK]
            encoded = self._encode_chunk([texts[i] for i in part], [spans[i] for i in part])
            for i, block in zip(part, encoded, strict=False):
                rows[i] = block
            if cache is not None:
                cache.store((keys[i], rows[i]) for i in part)
            bar.update(len(part))
        bar.close()
        vectors = np.stack([r[0] for r in rows]) if n else np.zeros((0, self.dim), np.float32)
        return vectors, [r[1:] for r in rows]

    def _encode_chunk(self, texts: list[str], spans: list[Sequence[tuple[int, int]]]) -> list[np.ndarray]:
        outputs = self._model.encode(
            texts,
            batch_size=self.batch_size,
            output_value=None,  # pooled embedding and (padded) token embeddings
        )
        offsets = self._token_offsets(texts)
        blocks = []
        for out, text_spans, offs in zip(outputs, spans, offsets, strict=False):
            pooled = _numpy(out["sentence_embedding"])
            pooled = pooled / max(float(np.linalg.norm(pooled)), 1e-12)
            block = np.empty((1 + len(text_spans), pooled.shape[0]), dtype=np.float32)
            block[0] = pooled
            if text_spans:
                length = int(_numpy(out["attention_mask"]).sum())  # rows past it are padding
                if length != len(offs):
                    raise EmbeddingError(f"tokenizer disagrees with model on a text ({length} vs {len(offs)} tokens)")
                tokens = _numpy(out["token_embeddings"])[:length]
                block[1:] = _pool_spans(tokens, offs, text_spans, pooled)
            blocks.append(block)
        return blocks

    def _token_offsets(self, texts: list[str]) -> list[list[tuple[int, int]]]:
        if self._tokenizer is not None:
            self._tokenizer.enable_truncation(self.max_seq_length)
            try:
                return [enc.offsets for enc in self._tokenizer.encode_batch(texts)]
            finally:
                self._tokenizer.no_truncation()
        tok = self._model.tokenizer
        return tok(texts, truncation=True, max_length=self.max_seq_length, return_offsets_mapping=True)[
            "offset_mapping"
        ]


_LOAD_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def _load_model(location: str, local: bool, threads: int | None) -> Any:
    """Load a model once per process: several ``Embedder`` objects may share it."""
    if local:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging
    except ImportError as exc:
        raise EmbeddingError(f"sentence-transformers is not installed: {exc}") from exc
    hf_logging.disable_progress_bar()
    if threads:
        torch.set_num_threads(threads)
    try:
        model = SentenceTransformer(location, device="cpu")
    except Exception as exc:  # the library raises many types for a bad model
        raise EmbeddingError(f"cannot load model {location}: {exc}") from exc
    log.debug("model loaded", extra={"model": location})
    return model


ENCODE_CHUNK = 256  # texts per model call: bounds memory held in token embeddings


def _span_key(text: str, spans: Sequence[tuple[int, int]]) -> str:
    return text if not spans else text + "\0" + ";".join(f"{a},{b}" for a, b in spans)


def _numpy(value: Any) -> np.ndarray:
    return value.float().numpy() if hasattr(value, "numpy") else np.asarray(value, dtype=np.float32)


def _pool_spans(
    tokens: np.ndarray,
    offsets: Sequence[tuple[int, int]],
    spans: Sequence[tuple[int, int]],
    fallback: np.ndarray,
) -> np.ndarray:
    """Unit-length mean of the token vectors whose characters fall inside each span."""
    starts = np.array([a for a, _ in offsets])
    ends = np.array([b for _, b in offsets])
    real = ends > starts  # special tokens have empty offsets
    out = np.empty((len(spans), tokens.shape[1]), dtype=np.float32)
    for k, (a, b) in enumerate(spans):
        mask = real & (starts >= a) & (ends <= b)
        if not mask.any():  # span beyond the truncated window
            out[k] = fallback
            continue
        vec = tokens[mask].mean(axis=0)
        out[k] = vec / max(float(np.linalg.norm(vec)), 1e-12)
    return out


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, *, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="embedding", unit="passage", leave=False)
