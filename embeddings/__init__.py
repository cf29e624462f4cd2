"""Turns text into unit-length float32 vectors. Knows nothing of articles."""

from embeddings.cache import EmbeddingCache, cache_key
from embeddings.encoder import BACKENDS, INDEX_BACKEND, QUERY_BACKEND, Embedder
from embeddings.errors import EmbeddingError
from embeddings.model import DEFAULT_MODEL, ModelSpec, model_label, resolve_model

__all__ = [
    "BACKENDS",
    "DEFAULT_MODEL",
    "INDEX_BACKEND",
    "QUERY_BACKEND",
    "Embedder",
    "EmbeddingCache",
    "EmbeddingError",
    "ModelSpec",
    "cache_key",
    "model_label",
    "resolve_model",
]
