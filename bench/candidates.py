"""The sentences citebot weighs for training questions, labelled: what the fitted scorers learn from.

Every question goes through ``Answerer.trace`` on its source's index, exactly as a user's would,
and each sentence it weighs is labelled right when it overlaps an answer span of the gold
paragraph. The answering sentences are added when the first stage missed them (a scorer
must learn what right looks like), and SQuAD 2.0's plausible-but-wrong sentence too.

Written once per configuration as JSON lines (``--out``), read back by the fitting scripts.

    python bench/candidates.py --out /tmp/candidates.jsonl [--sources squad11,squad2,...] [--per-question 8]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from common import work_dir
from scorer_data import INDEXES, TrainQuestion, ensure_indexes, load
from tqdm import tqdm

from embeddings import INDEX_BACKEND, QUERY_BACKEND, Embedder
from retrieval import Library
from retrieval.errors import QuestionError


def rows_for(library: Library, q: TrainQuestion, per_question: int) -> dict | None:
    try:
        trace = library.answerer.trace(q.question)
    except QuestionError:
        return None
    store = library.index.store
    titles: dict[str, str] = {}

    def title(article_id: str) -> str:
        if article_id not in titles:
            titles[article_id] = store.article_meta([article_id])[article_id][0]
        return titles[article_id]

    sentences = []
    for rank, c in enumerate(trace.candidates[:per_question]):
        p = c.hit.passage
        span = (c.match.start, c.match.end)
        sentences.append(
            {
                "text": c.text,
                "title": title(p.article_id),
                "rank": rank,
                "features": list(c.features),
                "label": q.label(p.article_id, p.paragraph, span),
            }
        )
    seen = {s["text"] for s in sentences}
    gold = store.paragraph_text(q.article_id, q.paragraph)
    if gold is not None:
        row = store.db.execute(
            "SELECT p.id FROM paragraphs p JOIN articles a ON a.id = p.article WHERE a.article_id = ? AND p.number = ?",
            (q.article_id, q.paragraph),
        ).fetchone()
        for a, b in store.db.execute('SELECT start, "end" FROM sentences WHERE paragraph = ?', (row[0],)):
            kind = q.label(q.article_id, q.paragraph, (a, b))
            if kind != 0 and gold[a:b] not in seen:
                sentences.append({"text": gold[a:b], "title": title(q.article_id), "rank": None, "label": kind})
    return {
        "id": q.qid,
        "source": q.source,
        "article_id": q.article_id,
        "question": q.question,
        "answerable": q.answerable,
        "answered": trace.answer.answered,
        "sentences": sentences,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sources", default=",".join(INDEXES))
    parser.add_argument("--fold", default="fitted", choices=("fitted", "heldout"))
    parser.add_argument("--per-question", type=int, default=8)
    parser.add_argument("--work", type=Path, default=work_dir("targets"))
    args = parser.parse_args()
    sources = tuple(args.sources.split(","))
    indexes = ensure_indexes(sources, args.work, Embedder(backend=INDEX_BACKEND))
    asker = Embedder(backend=QUERY_BACKEND)
    libraries = {s: Library(p, asker) for s, p in indexes.items()}
    questions = load(sources, args.fold)
    started = time.perf_counter()
    written = 0
    with args.out.open("w", encoding="utf-8") as out:
        for q in tqdm(questions, disable=not sys.stderr.isatty(), unit="q"):
            row = rows_for(libraries[q.source], q, args.per_question)
            if row is not None:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                written += 1
    print(f"{written:,} questions from {', '.join(sources)} in {(time.perf_counter() - started) / 60:.1f} min")


if __name__ == "__main__":
    main()
