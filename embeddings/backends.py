"""Ways to run the model: sentence-transformers on torch, or an exported ONNX graph.

Both return, per text, the pooled unit vector, the contextual token vectors and each token's
character offsets, so the encoder can pool any span. The ONNX backend needs neither torch nor
sentence-transformers at run time: onnxruntime, tokenizers and numpy load in a fraction of a
second, which is what makes a cold ``citebot ask`` fast.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from embeddings.errors import EmbeddingError
from embeddings.model import ModelSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TextOutput:
    pooled: np.ndarray  # (dim,), unit length
    tokens: np.ndarray  # (n_tokens, dim)
    offsets: list[tuple[int, int]]  # character span of each token; (0, 0) for special tokens


class Backend(Protocol):
    name: str

    def run(self, texts: Sequence[str], *, batch: bool) -> list[TextOutput]: ...


def unit_vector(vec: np.ndarray) -> np.ndarray:
    return (vec / max(float(np.linalg.norm(vec)), 1e-12)).astype(np.float32, copy=False)


class _Transformer:
    """Tokenize once (ids and offsets), run the transformer in padded batches, mean-pool.

    This is what sentence-transformers does for a Transformer + mean Pooling (+ Normalize)
    model, without its per-text overhead and second tokenization pass.
    """

    name = "transformer"
    batch_size = 32

    def __init__(self, tokenizer_path: Path, max_seq_length: int):
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.no_padding()  # the bundled tokenizer.json would pad every text to 128
        self.tokenizer.enable_truncation(max_seq_length)

    def _hidden(self, ids: np.ndarray, mask: np.ndarray, *, batch: bool) -> np.ndarray:
        raise NotImplementedError

    def run(self, texts: Sequence[str], *, batch: bool) -> list[TextOutput]:
        encodings = self.tokenizer.encode_batch(list(texts))
        results: list[TextOutput] = []
        for start in range(0, len(encodings), self.batch_size):
            part = encodings[start : start + self.batch_size]
            width = max(len(e.ids) for e in part)
            ids = np.zeros((len(part), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for i, e in enumerate(part):
                ids[i, : len(e.ids)] = e.ids
                mask[i, : len(e.ids)] = 1
            hidden = self._hidden(ids, mask, batch=batch)
            for i, e in enumerate(part):
                tokens = hidden[i, : len(e.ids)]
                results.append(TextOutput(unit_vector(tokens.mean(axis=0)), tokens, list(e.offsets)))
        return results


class TorchBackend(_Transformer):
    """The transformer on torch (exact fp32 vectors); the fastest batch encoder measured here."""

    name = "torch"

    def __init__(self, spec: ModelSpec, max_seq_length: int, threads: int | None = None):
        super().__init__(Path(spec.location) / "tokenizer.json", max_seq_length)
        self.spec = spec
        self.threads = threads

    @functools.cached_property
    def model(self) -> Any:
        with _LOAD_LOCK:
            return _load("transformer", self.spec.location, self.spec.is_local, self.threads)

    def _hidden(self, ids: np.ndarray, mask: np.ndarray, *, batch: bool) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self.model(
                input_ids=torch.from_numpy(ids),
                attention_mask=torch.from_numpy(mask),
                token_type_ids=torch.zeros_like(torch.from_numpy(ids)),
            )
        return out.last_hidden_state.float().numpy()


class OnnxBackend(_Transformer):
    """An exported transformer run by onnxruntime."""

    def __init__(self, model_path: Path, tokenizer_path: Path, max_seq_length: int, name: str):
        super().__init__(tokenizer_path, max_seq_length)
        self.model_path = model_path
        self.name = name
        self._sessions: dict[int, Any] = {}
        self._lock = threading.Lock()

    def _session(self, threads: int) -> Any:
        with self._lock:
            if threads not in self._sessions:
                import onnxruntime as ort

                options = ort.SessionOptions()
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
                options.log_severity_level = 3
                self._sessions[threads] = ort.InferenceSession(
                    str(self.model_path), options, providers=["CPUExecutionProvider"]
                )
            return self._sessions[threads]

    def _hidden(self, ids: np.ndarray, mask: np.ndarray, *, batch: bool) -> np.ndarray:
        # one thread for a single question: lowest latency, and it leaves the other core free
        session = self._session((os.cpu_count() or 1) if batch else 1)
        return session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]


class SentenceTransformerBackend:
    """sentence-transformers itself: for models with other pooling or extra layers."""

    name = "sentence-transformers"

    def __init__(self, spec: ModelSpec, max_seq_length: int, threads: int | None = None):
        self.spec = spec
        self.max_seq_length = max_seq_length
        self.threads = threads

    @functools.cached_property
    def model(self) -> Any:
        with _LOAD_LOCK:  # a warm-up thread and the first question may race to load it
            return _load("sentence-transformers", self.spec.location, self.spec.is_local, self.threads)

    def run(self, texts: Sequence[str], *, batch: bool) -> list[TextOutput]:
        outputs = self.model.encode(list(texts), batch_size=32, output_value=None)  # pooled + padded tokens
        tok = self.model.tokenizer
        offsets = tok(list(texts), truncation=True, max_length=self.max_seq_length, return_offsets_mapping=True)[
            "offset_mapping"
        ]
        result = []
        for out, offs in zip(outputs, offsets, strict=True):
            length = int(_numpy(out["attention_mask"]).sum())  # rows past it are padding
            pooled = unit_vector(_numpy(out["sentence_embedding"]))
            result.append(TextOutput(pooled, _numpy(out["token_embeddings"])[:length], [tuple(o) for o in offs]))
        return result


def plain_mean_pooling(spec: ModelSpec) -> bool:
    """Whether the model is a transformer + mean pooling (+ normalize): one we can run (and
    export) without sentence-transformers."""
    root = Path(spec.location)
    try:
        modules = json.loads((root / "modules.json").read_text())
        pooling = json.loads((root / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError):
        return False
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    return (
        (root / "tokenizer.json").is_file()
        and kinds[:2] == ["Transformer", "Pooling"]
        and set(kinds[2:]) <= {"Normalize"}
        and bool(pooling.get("pooling_mode_mean_tokens"))
        and not any(v for k, v in pooling.items() if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens")
    )


_LOAD_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def _load(kind: str, location: str, local: bool, threads: int | None) -> Any:
    """A model, loaded once per process (several embedders may share it).

    ``kind`` "transformer" is the bare transformers.AutoModel in inference mode;
    "sentence-transformers" is the whole SentenceTransformer.
    """
    _quiet_hf(local)
    try:
        import torch

        if kind == "transformer":
            from transformers import AutoModel as loader
        else:
            from sentence_transformers import SentenceTransformer as loader
    except ImportError as exc:
        raise EmbeddingError(f"{kind} is not installed: {exc}") from exc
    if threads:
        torch.set_num_threads(threads)
    try:
        return loader.from_pretrained(location).eval() if kind == "transformer" else loader(location, device="cpu")
    except Exception as exc:  # the libraries raise many types for a bad model
        raise EmbeddingError(f"cannot load model {location}: {exc}") from exc


def _quiet_hf(local: bool) -> None:
    if local:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def _numpy(value: Any) -> np.ndarray:
    return value.float().numpy() if hasattr(value, "numpy") else np.asarray(value, dtype=np.float32)
