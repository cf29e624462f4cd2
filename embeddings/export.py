"""Exporting a model to ONNX (fp32, and int8 by dynamic quantisation), once, into a cache.

Export needs torch and transformers; it runs on the first ``citebot index`` (or the first
question if no export exists yet), is written atomically, and is reused by every later
process. The export records the weights' sha256, so a different model never reuses it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from embeddings.errors import EmbeddingError
from embeddings.model import ModelSpec

log = logging.getLogger(__name__)

FP32, INT8 = "model.onnx", "model.int8.onnx"
EXPORT_FORMAT = 3  # 2: per-channel int8 weights; 3: a large vocabulary's word table in int8 too
# A vocabulary this big is most of the model: multilingual-e5-small's 250,037 x 384 table kept in
# float32 made a 388 MB int8 file that took 2.0 s to load; in int8 it is 112 MB (1.7 s) and the
# question vectors stay as close to torch (mean cosine 0.9949 both ways, min 0.986 -> 0.990).
LARGE_VOCABULARY = 100_000


def export_dir(spec: ModelSpec, cache_dir: Path) -> Path:
    tag = (spec.sha256 or "")[:16] or "unhashed"
    name = Path(spec.name).name or "model"
    return cache_dir / f"{name}-{tag}-onnx{EXPORT_FORMAT}"


def ensure_export(spec: ModelSpec, cache_dir: Path) -> Path:
    """The folder holding the ONNX export of ``spec``; exported now if missing."""
    target = export_dir(spec, cache_dir)
    if (target / "export.json").is_file():
        return target
    from filelock import FileLock

    cache_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache_dir / ".export.lock"), timeout=600):
        if (target / "export.json").is_file():  # another process finished it meanwhile
            return target
        log.warning("exporting %s to ONNX (once; 10-40 s)", spec.name)
        tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=cache_dir))
        try:
            _export(spec, tmp)
            (tmp / "export.json").write_text(json.dumps({"model": spec.name, "sha256": spec.sha256}))
            os.replace(tmp, target)
        except Exception as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise EmbeddingError(f"could not export {spec.name} to ONNX: {exc}") from exc
    return target


def _export(spec: ModelSpec, folder: Path) -> None:
    from embeddings.backends import _quiet_hf

    _quiet_hf(spec.is_local)
    from transformers import AutoModel

    # A private copy, never the one a torch backend in this process shares: the TorchScript
    # exporter leaves a model it traced changed (its later vectors drifted to cosine 0.966).
    write_onnx(AutoModel.from_pretrained(spec.location).eval(), folder)


def write_onnx(model: Any, folder: Path) -> None:
    """``folder/model.onnx`` (fp32) and ``folder/model.int8.onnx`` from a transformers model.

    The graph returns the last hidden states; pooling stays in citebot, so one export serves
    mean-pooled vectors and the token vectors of late chunking alike.
    """
    import warnings

    import torch

    class LastHidden(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor):
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    dummy = torch.ones((2, 8), dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter is deprecated but exact and dependency-free
        torch.onnx.export(
            LastHidden(model),
            (dummy, dummy, torch.zeros_like(dummy)),
            str(folder / FP32),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes, "last_hidden_state": axes},
            opset_version=17,
            dynamo=False,
        )
    quantize(folder / FP32, folder / INT8, embeddings=model.config.vocab_size > LARGE_VOCABULARY)


def quantize(source: Path, target: Path, *, embeddings: bool = False) -> None:
    """Dynamic int8 quantisation with per-channel weight scales.

    MatMuls only by default: mean cosine to torch 0.995 on questions and passages (per-tensor
    scales gave 0.970 and 0.951), at ~1.8 ms per question. ``embeddings`` also stores the word
    embedding table in int8 (Gather), a quarter of its fp32 size, for models shipped in the package.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level, root.level = root.level, logging.ERROR  # quantize_dynamic logs advice on the root logger
    try:
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul", "Gather"] if embeddings else ["MatMul"],
        )
    finally:
        root.level = level
