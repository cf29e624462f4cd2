"""Time from a document in hand to its first cited answer, in a chat, beside a 100k-passage library.

What an admin waits for after sending a file: read it, build the chat's collection (a small
index of its own: the library is never rebuilt), then the first question in that chat, which
searches the library and the collection. "Cold" includes loading the passage encoder (the
first add of a process); "warm" is every later add. The library is the synthetic corpus of
``bench/latency.py`` (built once into ``--work``). Also times reading alone: the saved web
page, and PDFs (one page, and 50 pages made by ``tests/pdf_fixtures.py``; each PDF is parsed in
a child process, so one page is mostly that process's start).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

from common import ROOT, machine, print_measures, synthetic_articles, work_dir

from embeddings import INDEX_BACKEND, QUERY_BACKEND, Embedder
from retrieval import Library
from retrieval.collections import Collections
from retrieval.corpus import bundled_corpus, read_document
from retrieval.index import build_index

DOCUMENTS = [  # (bytes, kind, question it answers)
    (bundled_corpus() / "sievierodonetsk-2022-06-07.txt", ".txt", "Who is the mayor of Sievierodonetsk?"),
    (ROOT / "tests/data/pages/sievierodonetsk-saved.html", ".html", "Who is the governor of Luhansk?"),
]


def reading_times(repeat: int) -> list[tuple[str, str]]:
    """Median ms to read a saved page, a one-page PDF and a 50-page PDF into an article."""
    from tests import pdf_fixtures  # fpdf2: a development dependency

    one_page = pdf_fixtures.one_page_pdf(b"<< >>")
    long, _ = pdf_fixtures.long_pdf(50)
    documents = [
        ("saved web page (.html)", DOCUMENTS[1][0].read_bytes(), ".html"),
        ("PDF, 1 page", one_page, ".pdf"),
        ("PDF, 50 pages", long, ".pdf"),
    ]
    rows = []
    for label, data, kind in documents:
        read_document(data, kind, "x", "x", "x", [])  # warm: imports
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            assert read_document(data, kind, "x", "x", "x", [])
            times.append(1000 * (time.perf_counter() - started))
        rows.append((f"read {label}", f"{statistics.median(times):.1f} ms (n={repeat})"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large", type=int, default=100_000, help="passages in the library")
    parser.add_argument("--work", type=Path, default=work_dir())
    parser.add_argument("--repeat", type=int, default=5, help="warm adds per document")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    library_dir = args.work / f"synthetic-{args.large}"
    corpus = args.work / f"synthetic-{args.large}.jsonl"
    if not corpus.exists():
        corpus.parent.mkdir(parents=True, exist_ok=True)
        corpus.write_text("".join(json.dumps(a) + "\n" for a in synthetic_articles(args.large)))
    build_index([corpus], library_dir, Embedder(backend=INDEX_BACKEND), progress=True)
    shutil.rmtree(library_dir / "chats", ignore_errors=True)
    shelf = Collections(Library(library_dir, Embedder(backend=QUERY_BACKEND)))
    shelf.library.warm_up()
    timings: dict[str, list[float]] = {}
    chat = 1
    for path, kind, question in DOCUMENTS:
        data = Path(path).read_bytes()
        for attempt in range(args.repeat + (1 if chat == 1 else 0)):
            started = time.perf_counter()
            added = shelf.add_document(chat, data, kind, Path(path).stem)
            answered = shelf.answer(question, chat)
            total = time.perf_counter() - started
            assert answered.answered and answered.quotes[0].citation.article_id == added.article.article_id
            label = "cold (first add of the process)" if chat == 1 and attempt == 0 else f"warm, {kind}"
            timings.setdefault(label, []).append(total)
            shelf.remove(chat, 1)
        chat += 1
    rows = [
        (f"{label}: upload to first answer", f"{statistics.median(v):.2f} s (n={len(v)})")
        for label, v in timings.items()
    ]
    rows += reading_times(args.repeat)
    result = {"machine": machine(), "library_passages": args.large, "seconds": timings, "reading": rows}
    print_measures(
        result, f"library: {args.large:,} passages; document added to a chat, then asked", rows, as_json=args.json
    )


if __name__ == "__main__":
    main()
