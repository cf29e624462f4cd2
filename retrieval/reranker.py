"""The sentence reranker: a small cross-encoder that reads a question and a sentence together.

Cosine between separately made vectors says "same topic"; whether a sentence *answers* a
question needs both read at once, which is what this model does for the few best candidates.
It is fine-tuned by ``bench/train_reranker.py`` and ships as an int8 ONNX file beside the
weights fitted with it, in ``retrieval/models/<embedding model>/`` (``fitted_model`` picks the
folder); its sha256 is checked before it is used, because a damaged or swapped file would not
fail, it would quietly rank wrong. Runs on onnxruntime: no torch on the question path.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.errors import ScorerError

log = logging.getLogger(__name__)

MODELS = "models"
RERANKER = "reranker.int8.onnx"
TOKENIZER = "reranker-tokenizer.json"  # the cross-encoder's own, whatever model embeds the passages
CARD = "reranker.json"  # sha256s, how it was trained, what it scored
# Every fitted number assumes one embedding model's cosine scale: a model without its own folder
# gets this one's, which was fitted longest (English only).
FALLBACK = "all-MiniLM-L6-v2"


def models_dir(model: str = FALLBACK) -> Path:
    """The folder of what was fitted for embedding model ``model`` (a name from ``fitted_model``)."""
    return Path(str(resources.files("retrieval") / MODELS / model))


@functools.cache
def fitted_model(embedding_model: str) -> str:
    """Whose fitted weights serve ``embedding_model``: its own folder, else all-MiniLM-L6-v2's (said once)."""
    if "/" not in embedding_model and (models_dir(embedding_model) / "scorer.json").is_file():
        return embedding_model
    log.warning("no weights fitted for model %s: using %s's, which may rank and decline less well", embedding_model,
                FALLBACK)  # fmt: skip
    return FALLBACK


@functools.cache
def card(model: str = FALLBACK) -> dict[str, Any]:
    """The shipped model's card: its sha256, input format, training data and measured figures."""
    path = models_dir(model) / CARD
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ScorerError(f"the reranker's description {path} is missing or damaged ({exc})") from None


class Reranker:
    """Scores (question, sentence) pairs: a higher logit means more likely to answer it."""

    def __init__(
        self,
        model: Path,
        tokenizer: Path,
        sha256: dict[str, str],
        *,
        max_length: int = 64,
        threads: int | None = None,
    ):
        self.model_path = model
        self.tokenizer_path = tokenizer
        self.sha256 = sha256  # file name -> expected sha256
        self.max_length = max_length
        self.threads = threads
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None
        self._workers: ThreadPoolExecutor | None = None

    @classmethod
    def shipped(cls, model: str = FALLBACK) -> Reranker:
        c, folder = card(model), models_dir(model)
        return cls(folder / RERANKER, folder / TOKENIZER, c["sha256"], max_length=int(c["max_length"]))

    def warm_up(self) -> None:
        """Verify and load the model now (a damaged file fails here, at start-up, not on a question)."""
        if self._session is None:
            self._load()

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            data, vocabulary = (self._verified(p) for p in (self.model_path, self.tokenizer_path))
            import onnxruntime as ort
            from tokenizers import Tokenizer

            options = ort.SessionOptions()
            options.intra_op_num_threads = 1  # one core per pair; pairs run side by side (see ``logits``)
            options.inter_op_num_threads = 1
            tokenizer = Tokenizer.from_str(vocabulary.decode("utf-8"))
            tokenizer.no_padding()
            # longest_first: a question too long for the window is cut too, instead of failing the whole answer
            # (only_second raised on ~60 words); for a question under half the window it is only_second.
            tokenizer.enable_truncation(self.max_length, strategy="longest_first")
            self._tokenizer = tokenizer
            workers = self.threads or min(2, os.cpu_count() or 1)
            self._workers = ThreadPoolExecutor(workers, thread_name_prefix="reranker") if workers > 1 else None
            self._session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])

    def _verified(self, path: Path) -> bytes:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ScorerError(f"the reranker file {path} cannot be read ({exc.strerror}): reinstall citebot") from None
        expected = self.sha256.get(path.name, "")
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise ScorerError(f"{path} has sha256 {actual[:12]}…, expected {expected[:12]}…: reinstall citebot")
        return data

    def logits(self, question: str, texts: list[str]) -> np.ndarray:
        """One logit per text, each pair run alone, on its own core.

        The int8 model quantises activations with one scale per run, so a pair scored in a
        batch moved with its batch partners (by ~0.1 logit): alone, a pair always gets the same
        logit, in fitting as in service. Two pairs side by side on one core each take 7.3 ms on
        2 cores, one after the other on both cores 9.0 ms, as one batch about the same.
        """
        if not texts:
            return np.zeros(0, dtype=np.float32)
        if self._session is None:
            self._load()
        feeds = [_feed(e.ids, e.type_ids) for e in self._tokenizer.encode_batch([(question, t) for t in texts])]
        if self._workers is None or len(feeds) == 1:
            return np.asarray([self._run(f) for f in feeds], dtype=np.float32)
        return np.asarray(list(self._workers.map(self._run, feeds)), dtype=np.float32)

    def _run(self, feed: dict[str, np.ndarray]) -> float:
        return float(self._session.run(None, feed)[0].reshape(-1)[0])


def _feed(ids: list[int], types: list[int]) -> dict[str, np.ndarray]:
    """One unpadded pair as the model's inputs."""
    tokens, kinds = np.asarray([ids], dtype=np.int64), np.asarray([types], dtype=np.int64)
    return {"input_ids": tokens, "attention_mask": np.ones_like(tokens), "token_type_ids": kinds}


@functools.cache
def shipped_reranker(model: str = FALLBACK) -> Reranker:
    """The shipped reranker of folder ``model``, one per process: every index (re)opened shares its loaded session."""
    return Reranker.shipped(model)
