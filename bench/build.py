"""Index build throughput against the raw encoder, and rebuilds that change little or nothing.

On the same 10k passages (``common.synthetic_articles``), in the same process: the reference
is ``SentenceTransformer.encode`` on the passage texts (batch 32, what the model costs by
itself); then a full ``build_index`` (sentence splitting, windows, the encoder with sentence
vectors, SQLite, FTS5, FAISS, fsync and swap); then a rebuild with nothing changed, and one
with one article changed.

    python bench/build.py [--passages 10000] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from common import machine, peak_rss_mb, print_measures, synthetic_articles

from embeddings import INDEX_BACKEND, Embedder
from embeddings.backends import SentenceTransformerBackend
from retrieval.index import build_index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=10_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    articles = synthetic_articles(args.passages, seed=1)
    texts = [p for a in articles for p in a["paragraphs"]]
    work = Path(tempfile.mkdtemp(prefix="citebot-build-"))
    try:
        corpus = work / "corpus.jsonl"
        corpus.write_text("".join(json.dumps(a) + "\n" for a in articles))
        embedder = Embedder(backend=INDEX_BACKEND)
        embedder.encode(texts[:64])  # load before timing either side
        model = SentenceTransformerBackend(embedder.spec, embedder.max_seq_length).model
        model.encode(texts[:64], batch_size=32)

        started = time.perf_counter()
        model.encode(texts, batch_size=32)
        reference = len(texts) / (time.perf_counter() - started)

        report = build_index([corpus], work / "index", embedder)
        build_rate = report.passages / report.seconds

        unchanged = build_index([corpus], work / "index", embedder)
        articles[0]["paragraphs"][0] += " One sentence more."
        corpus.write_text("".join(json.dumps(a) + "\n" for a in articles))
        one_changed = build_index([corpus], work / "index", embedder)
        size = sum(f.stat().st_size for f in (work / "index").rglob("*") if f.is_file())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "machine": machine(),
        "passages": report.passages,
        "reference_encode_per_s": reference,
        "build_per_s": build_rate,
        "ratio": build_rate / reference,
        "build_s": report.seconds,
        "no_change_rebuild_s": unchanged.seconds,
        "no_change_embedded": unchanged.embedded,
        "one_article_changed_s": one_changed.seconds,
        "one_article_changed_embedded": one_changed.embedded,
        "index_mb": size / 2**20,
        "peak_rss_mb": peak_rss_mb(),
    }
    r = result
    rows = [
        ("reference: SentenceTransformer.encode", f"{r['reference_encode_per_s']:.1f} passages/s"),
        ("full build", f"{r['build_per_s']:.1f} passages/s ({r['build_s']:.1f} s), {r['ratio']:.2f} x reference"),
        ("rebuild, nothing changed", f"{r['no_change_rebuild_s']:.2f} s, {r['no_change_embedded']} embedded"),
        (
            "rebuild, one article changed",
            f"{r['one_article_changed_s']:.2f} s, {r['one_article_changed_embedded']} embedded",
        ),
        ("index size", f"{r['index_mb']:.1f} MB"),
        ("peak RSS", f"{r['peak_rss_mb']:.0f} MB"),
    ]
    print_measures(result, f"{r['passages']:,} passages ({len(articles)} articles)", rows, as_json=args.json)

if __name__ == "__main__":
    main()
