"""Text in, unit-length float32 vectors out.

``Embedder.encode`` is the one entry point; ``query=True`` for a question. Models trained with
prompts (multilingual-e5: "query: " and "passage: ", from the folder's sentence-transformers
config) get them here, so no caller spells them. The model runs through a backend (see
backends.py): for questions by default an int8 ONNX export of the model, which answers in a
couple of milliseconds without importing torch; for index builds, and as the fallback, the
transformer on torch (sentence-transformers itself for models with other pooling or layers). Nothing heavy is
imported until something is encoded, so ``--help`` or a no-change rebuild never pay for it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embeddings.backends import (
    Backend,
    OnnxBackend,
    SentenceTransformerBackend,
    TextOutput,
    TorchBackend,
    plain_mean_pooling,
    unit_vector,
)
from embeddings.cache import EmbeddingCache, cache_key
from embeddings.errors import EmbeddingError
from embeddings.model import ModelSpec, default_cache_dir, resolve_model

if TYPE_CHECKING:
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

BACKENDS = ("auto", "onnx-int8", "onnx", "torch")
DEFAULT_BACKEND = "auto"
BACKEND_ENV = "CITEBOT_BACKEND"
PROGRESS_MIN = 64  # show a progress bar only when encoding at least this many texts
ENCODE_CHUNK = 256  # texts per backend call: bounds memory held in token vectors


INDEX_BACKEND = "torch"  # passages: exact fp32 vectors, and the fastest batch encoder measured here
QUERY_BACKEND = "auto"  # questions: int8 ONNX, ~2 ms and no torch import
# sentence-transformers' names for the prompt of the text being searched, in its order of preference
_PASSAGE_PROMPTS = ("document", "passage", "corpus")


class Embedder:
    """Encodes texts with one model through one backend, optionally through a cache.

    ``backend``: "auto" (ONNX int8 where the model can be exported, else torch), "onnx-int8",
    "onnx" (fp32, same vectors as torch), or "torch". ``cache_dir`` holds ONNX exports.
    """

    def __init__(
        self,
        spec: ModelSpec | str | None = None,
        *,
        backend: str | None = None,
        cache_dir: Path | None = None,
        threads: int | None = None,
    ):
        self.requested = backend or os.environ.get(BACKEND_ENV) or DEFAULT_BACKEND
        if self.requested not in BACKENDS:
            raise EmbeddingError(f"unknown backend {self.requested!r}: choose one of {', '.join(BACKENDS)}")
        self.cache_dir = cache_dir or default_cache_dir()
        self.spec = spec if isinstance(spec, ModelSpec) else resolve_model(spec, cache_dir=self.cache_dir)
        self.threads = threads

    @cached_property
    def backend_name(self) -> str:
        """The backend actually used: "auto" resolves here, without loading anything heavy."""
        if self.requested == "torch":
            return "torch"
        if not plain_mean_pooling(self.spec):
            if self.requested != "auto":
                log.warning("%s cannot run on ONNX here; using torch", self.spec.name)
            return "torch"
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            log.warning("onnxruntime is not installed; encoding with torch (slower)")
            return "torch"
        return "onnx-int8" if self.requested == "auto" else self.requested

    @property
    def model_id(self) -> str:
        """Identity of the weights: the name, plus the file hash when we know it.

        An index records it, and only a model with the same weights may query that index.
        """
        return f"{self.spec.name}@{self.spec.sha256[:16]}" if self.spec.sha256 else self.spec.name

    @property
    def vector_id(self) -> str:
        """Identity of the vectors, for the embedding cache: the weights, the prompts and, if it
        changes them, the backend. torch and fp32 ONNX agree to a cosine of 0.9999999; int8 differs
        slightly (cosine ~0.995), so its vectors are never mixed into an fp32 cache, nor one
        export format's int8 vectors with another's.
        """
        base = self.model_id
        if self.spec.span_vectors != "late":
            base += "+" + self.spec.span_vectors
        if self.prompts != ("", ""):
            base += "+p" + hashlib.sha256("\0".join(self.prompts).encode()).hexdigest()[:8]
        if self.backend_name != "onnx-int8":
            return base
        from embeddings.export import EXPORT_FORMAT

        return f"{base}+int8.{EXPORT_FORMAT}"

    @cached_property
    def prompts(self) -> tuple[str, str]:
        """The (question, passage) prefixes the model was trained with; ("", "") for most models."""
        configured = Path(self.spec.location) / "config_sentence_transformers.json"
        if configured.is_file():
            found = json.loads(configured.read_text()).get("prompts") or {}
        elif self.spec.is_local:
            found = {}
        else:  # a hub model: sentence-transformers knows its prompts
            found = dict(getattr(self._st, "prompts", None) or {})
        passage = next((found[k] for k in _PASSAGE_PROMPTS if found.get(k)), "")
        return str(found.get("query") or ""), str(passage)

    @cached_property
    def backend(self) -> Backend:
        if self.backend_name == "torch":
            return self._torch()
        from embeddings.export import FP32, INT8, ensure_export

        try:
            folder = ensure_export(self.spec, self.cache_dir)
        except EmbeddingError as exc:
            log.warning("%s; using torch", exc)
            self.__dict__["backend_name"] = "torch"
            return self._torch()
        model = folder / (INT8 if self.backend_name == "onnx-int8" else FP32)
        return OnnxBackend(model, Path(self.spec.location) / "tokenizer.json", self.max_seq_length, self.backend_name)

    def _torch(self) -> Backend:
        if plain_mean_pooling(self.spec):
            return TorchBackend(self.spec, self.max_seq_length, self.threads)
        return SentenceTransformerBackend(self.spec, self.max_seq_length, self.threads)

    @cached_property
    def _st(self) -> Any:
        """The sentence-transformers model, for what only it can tell about a model."""
        return SentenceTransformerBackend(self.spec, 0, self.threads).model

    @cached_property
    def _config(self) -> dict[str, Any]:
        path = Path(self.spec.location) / "sentence_bert_config.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    @cached_property
    def max_seq_length(self) -> int:
        """The model's window in tokens, special tokens included; the rest is truncated."""
        if "max_seq_length" in self._config:
            return int(self._config["max_seq_length"])
        return int(self._st.max_seq_length)

    @cached_property
    def window_tokens(self) -> int:
        """How many content tokens fit in one window, after the model's special tokens and passage prompt."""
        return self.max_seq_length - len(self._tokenize([self.prompts[1]])[0])

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
        return int(self._st.get_sentence_embedding_dimension())

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

    def _tokenize(self, texts: Sequence[str], special: bool = True) -> list[list[int]]:
        if self._tokenizer is not None:
            return [enc.ids for enc in self._tokenizer.encode_batch(list(texts), add_special_tokens=special)]
        tok = self._st.tokenizer
        return tok(list(texts), add_special_tokens=special)["input_ids"]

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Content token counts, without the special tokens the model adds once per text."""
        return [len(ids) for ids in self._tokenize(texts, special=False)]

    def encode(
        self,
        texts: Sequence[str],
        *,
        query: bool = False,
        cache: EmbeddingCache | None = None,
        progress: bool = False,
    ) -> np.ndarray:
        """Return one unit-length float32 row per text, in order; ``query``: the texts are questions."""
        spans: list[Sequence[tuple[int, int]]] = [()] * len(texts)
        vectors, _ = self.encode_with_spans(texts, spans, query=query, cache=cache, progress=progress)
        return vectors

    def encode_with_spans(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[tuple[int, int]]],
        *,
        query: bool = False,
        cache: EmbeddingCache | None = None,
        progress: bool = False,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Embed each text, and each character span inside it, in one forward pass.

        A span's vector mean-pools the text's contextual token vectors over the tokens inside
        the span ("late chunking"): sentences get vectors that know their paragraph, at no
        extra model cost. For a model whose spec says "blend", that vector is averaged with the
        span encoded on its own, one more pass over short texts: some models (multilingual-e5)
        smear a paragraph's tokens together, and their late vectors alone pick the answering
        sentence worse. Returns the text vectors and, per text, a (spans, dim) array. With a
        cache, only texts it does not hold are run through the model.
        """
        n = len(texts)
        prompt = self.prompts[0 if query else 1]
        texts = [prompt + t for t in texts] if prompt else texts
        rows: list[np.ndarray | None] = [None] * n
        keys: list[bytes] = []
        if cache is not None:
            keys = [cache_key(self.vector_id, _span_key(t, s)) for t, s in zip(texts, spans, strict=True)]
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
            outputs = self.backend.run([texts[i] for i in part], batch=len(todo) > 1)
            for i, out in zip(part, outputs, strict=True):
                rows[i] = _block(out, spans[i], len(prompt))
            if self.spec.span_vectors == "blend":
                self._blend([texts[i] for i in part], [spans[i] for i in part], [rows[i] for i in part], prompt)
            if cache is not None:
                cache.store((keys[i], rows[i]) for i in part)
            bar.update(len(part))
        bar.close()
        vectors = np.stack([r[0] for r in rows]) if n else np.zeros((0, self.dim), np.float32)
        return vectors, [r[1:] for r in rows]

    def _blend(self, texts: list[str], spans: list[Sequence[tuple[int, int]]], blocks: list[Any], prompt: str) -> None:
        """Average each span's late vector (rows 1: of its block) with the span encoded alone, in place."""
        shift = len(prompt)
        alone = [
            (b, k, prompt + text[shift + x : shift + y])
            for b, (text, inside) in enumerate(zip(texts, spans, strict=True))
            for k, (x, y) in enumerate(inside)
        ]
        if not alone:
            return
        alone.sort(key=lambda item: len(item[2]))  # similar lengths batch with little padding
        outputs = self.backend.run([text for _, _, text in alone], batch=True)
        for (b, k, _), out in zip(alone, outputs, strict=True):
            # not re-normalised: a question's inner product with it is the mean of its two cosines
            # (normalising lifts sentences whose two vectors disagree: 0.625 fell to 0.533)
            blocks[b][k + 1] = (blocks[b][k + 1] + out.pooled) / 2

    def warm_up(self) -> None:
        """Load the backend now rather than on the first question."""
        self.encode(["warm up"], query=True)


def _span_key(text: str, spans: Sequence[tuple[int, int]]) -> str:
    return text if not spans else text + "\0" + ";".join(f"{a},{b}" for a, b in spans)


def _block(out: TextOutput, spans: Sequence[tuple[int, int]], shift: int = 0) -> np.ndarray:
    """The text's vector, then one vector per span: unit means of the tokens inside each span.

    ``shift``: the length of the prompt before the text; spans are offsets in the text itself,
    and the prompt's own tokens belong to no span.
    """
    block = np.empty((1 + len(spans), out.pooled.shape[0]), dtype=np.float32)
    block[0] = out.pooled
    if not spans:
        return block
    starts = np.maximum(np.array([a for a, _ in out.offsets]) - shift, 0)
    ends = np.maximum(np.array([b for _, b in out.offsets]) - shift, 0)
    real = ends > starts  # special tokens have empty offsets
    for k, (a, b) in enumerate(spans):
        mask = real & (starts >= a) & (ends <= b)
        if not mask.any():  # span beyond the truncated window
            block[k + 1] = out.pooled
            continue
        block[k + 1] = unit_vector(out.tokens[mask].mean(axis=0))
    return block


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
