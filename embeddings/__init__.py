"""Turns text into unit-length float32 vectors. Knows nothing of articles."""

from embeddings.cache import EmbeddingCache, cache_key
from embeddings.encoder import BACKENDS, INDEX_BACKEND, QUERY_BACKEND, Embedder
from embeddings.errors import EmbeddingError
from embeddings.model import E5_MODEL, MINILM_MODEL, ModelSpec, default_model, model_label, resolve_model

__all__ = [
    "BACKENDS",
    "E5_MODEL",
    "INDEX_BACKEND",
    "MINILM_MODEL",
    "QUERY_BACKEND",
    "Embedder",
    "EmbeddingCache",
    "EmbeddingError",
    "ModelSpec",
    "cache_key",
    "default_model",
    "model_label",
    "resolve_model",
]
