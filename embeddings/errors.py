"""Errors the embeddings room raises; front ends print them as one line."""


class EmbeddingError(Exception):
    """A model could not be found, verified or loaded."""
