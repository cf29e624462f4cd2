"""Measuring answers against question sets written by other people (SQuAD-style JSONL).

Each question names its gold article and 0-based paragraph, and the answer strings that
annotators marked. Passage recall asks whether the gold paragraph is ranked first / in the
top five; the quote hit rate asks whether a gold answer string occurs in what citebot quotes.
Quotes are scored whether or not the answer was confident enough to be given (the closest
match stands in), so quoting and abstention are measured apart.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from retrieval.answer import Answerer
from retrieval.errors import CorpusError, QuestionError
from retrieval.question import check_question, search_text
from retrieval.records import Answer
from retrieval.search import Mode

MODES: tuple[Mode, ...] = ("dense", "lexical", "fused")


@dataclass(frozen=True)
class EvalQuestion:
    qid: str
    article_id: str
    paragraph: int  # 1-based, as in citations
    question: str
    answers: tuple[str, ...]
    impossible: bool


@dataclass(frozen=True)
class EvalRow:
    mode: str
    questions: int
    recall_at_1: float
    recall_at_5: float
    mrr: float
    first_quote_hit: float
    any_quote_hit: float
    answered: float  # share of answerable questions answered (not declined)
    declined_impossible: float | None  # share of unanswerable questions declined
    median_quote_chars: float
    per_second: float


def read_questions(path: Path, limit: int | None = None) -> list[EvalQuestion]:
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{path}: cannot read questions ({exc})") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
            out.append(
                EvalQuestion(
                    str(r["id"]),
                    str(r["article_id"]),
                    int(r["paragraph_index"]) + 1,
                    str(r["question"]),
                    tuple(r.get("answers") or ()),
                    bool(r.get("is_impossible", False)),
                )
            )
        except (ValueError, KeyError, TypeError):
            raise CorpusError(
                f"{path}:{number}: not a question record (id, article_id, paragraph_index, question)"
            ) from None
        if limit and len(out) >= limit:
            break
    return out


def _hit(answer: Answer, question: EvalQuestion) -> tuple[bool, bool, int]:
    quotes = list(answer.quotes) or ([answer.closest] if answer.closest else [])
    texts = [q.text for q in quotes]
    first = bool(texts) and any(a in texts[0] for a in question.answers)
    anywhere = any(a in t for t in texts for a in question.answers)
    return first, anywhere, sum(len(t) for t in texts)


def evaluate(
    answerer: Answerer, questions: list[EvalQuestion], *, out: TextIO | None = None, progress: bool = False
) -> list[EvalRow]:
    """Score every mode on ``questions``; write per-question predictions of the fused mode to ``out``."""
    usable = []
    for q in questions:
        try:
            usable.append((q, search_text(check_question(q.question))))
        except QuestionError:
            continue
    started = time.perf_counter()
    query_vectors = answerer.searcher.embedder.encode([text for _, text in usable], progress=progress)
    encode_seconds = time.perf_counter() - started
    rows = []
    for mode in MODES:
        rows.append(
            _evaluate_mode(answerer, usable, query_vectors, mode, encode_seconds, out if mode == "fused" else None)
        )
    return rows


def _evaluate_mode(
    answerer: Answerer,
    usable: list[tuple[EvalQuestion, str]],
    query_vectors: Any,
    mode: Mode,
    encode_seconds: float,
    out: TextIO | None,
) -> EvalRow:
    r1 = r5 = rr = first = anywhere = answered = 0.0
    answerable = declined_impossible = impossible = 0
    lengths: list[int] = []
    started = time.perf_counter()
    for (q, text), vector in zip(usable, query_vectors, strict=False):
        retrieved = answerer.searcher.retrieve_vector(text, vector, 10, mode)
        answer = answerer.from_retrieved(text, retrieved)
        if q.impossible:
            impossible += 1
            declined_impossible += not answer.answered
            continue
        answerable += 1
        ranks = [
            i
            for i, h in enumerate(retrieved.hits, 1)
            if h.passage.article_id == q.article_id and h.passage.paragraph == q.paragraph
        ]
        rank = ranks[0] if ranks else None
        r1 += rank == 1
        r5 += rank is not None and rank <= 5
        rr += 1 / rank if rank else 0.0
        f, a, chars = _hit(answer, q)
        first += f
        anywhere += a
        answered += answer.answered
        lengths.append(chars)
        if out is not None:
            out.write(
                json.dumps(
                    {
                        "id": q.qid,
                        "question": q.question,
                        "gold": {"article_id": q.article_id, "paragraph": q.paragraph},
                        "rank": rank,
                        "first_quote_hit": f,
                        "any_quote_hit": a,
                        "answer": answer.to_dict(),
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
    seconds = time.perf_counter() - started + encode_seconds
    n = max(answerable, 1)
    return EvalRow(
        mode=mode,
        questions=answerable,
        recall_at_1=r1 / n,
        recall_at_5=r5 / n,
        mrr=rr / n,
        first_quote_hit=first / n,
        any_quote_hit=anywhere / n,
        answered=answered / n,
        declined_impossible=declined_impossible / impossible if impossible else None,
        median_quote_chars=statistics.median(lengths) if lengths else 0.0,
        per_second=len(usable) / seconds if seconds > 0 else 0.0,
    )


def format_table(rows: list[EvalRow]) -> Iterator[str]:
    head = [
        "retrieval",
        "questions",
        "R@1",
        "R@5",
        "MRR",
        "quote@1",
        "quote@any",
        "answered",
        "declined-unans.",
        "median chars",
        "q/s",
    ]
    yield "| " + " | ".join(head) + " |"
    yield "|" + "|".join("---" for _ in head) + "|"
    names = {"dense": "dense only", "lexical": "BM25 only", "fused": "shipped (fused)"}
    for r in rows:
        cells = [
            names.get(r.mode, r.mode),
            f"{r.questions:,}",
            f"{r.recall_at_1:.3f}",
            f"{r.recall_at_5:.3f}",
            f"{r.mrr:.3f}",
            f"{r.first_quote_hit:.3f}",
            f"{r.any_quote_hit:.3f}",
            f"{r.answered:.3f}",
            "—" if r.declined_impossible is None else f"{r.declined_impossible:.3f}",
            f"{r.median_quote_chars:.0f}",
            f"{r.per_second:.0f}",
        ]
        yield "| " + " | ".join(cells) + " |"
