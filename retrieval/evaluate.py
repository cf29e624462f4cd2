"""Measuring answers against question sets written by other people.

Three kinds of labels are read, one question per JSON line (see ../shared/eval/README.md):

- SQuAD style: ``paragraph_index`` (0-based) and ``answers`` (annotators' spans); a quote is
  right when it holds an answer. SQuAD 2.0's ``is_impossible`` marks unanswerable ones.
- WikiQA style: ``answer_sentences``, the sentences that answer it (empty: its document does
  not); a quote is right when it is, holds or lies within one of them.
- citebot's own sets (bench/data): ``answer_sentences`` with ``paragraph_index``, or a list of
  acceptable 1-based ``paragraphs`` (a quote from one of them is right); ``excluded`` lines are
  skipped.

Every question goes through ``Answerer.trace``, the path users' questions take. Quotes are
scored whether or not the answer was confident enough to be given (the closest match stands
in), so quoting and abstention are measured apart; answer triggering (Yang et al. 2015) joins
them: precision = right answers / answers given, recall = right answers / answerable questions.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

from retrieval.answer import Answerer, Trace
from retrieval.errors import CorpusError, QuestionError
from retrieval.records import Quote
from retrieval.search import Mode

MODES: tuple[Mode, ...] = ("dense", "lexical", "fused")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class EvalQuestion:
    qid: str
    article_id: str
    question: str
    answerable: bool
    paragraphs: frozenset[int] = frozenset()  # 1-based paragraphs that answer it, when known
    answers: tuple[str, ...] = ()  # answer strings: a quote holding one is right
    sentences: tuple[str, ...] = ()  # answering sentences: a quote that is, holds or lies in one is right

    def right(self, quote: Quote | None) -> bool:
        """Whether ``quote`` answers this question, by the most precise label it has."""
        if quote is None:
            return False
        if self.answers:
            return any(a in quote.text for a in self.answers)
        if self.sentences:
            text = _norm(quote.text)
            return any(text and (text in s or s in text) for s in map(_norm, self.sentences))
        return self.right_paragraph(quote)

    def right_paragraph(self, quote: Quote | None) -> bool:
        c = quote.citation if quote else None
        return c is not None and c.article_id == self.article_id and c.paragraph in self.paragraphs


@dataclass(frozen=True)
class EvalRow:
    mode: str
    answerable: int
    unanswerable: int
    recall_at_1: float | None  # gold paragraph first (answerable questions with known paragraphs)
    recall_at_5: float | None
    mrr: float | None
    first_quote_right: float  # share of answerable questions whose first quote (or closest match) is right
    any_quote_right: float
    answered: float  # share of answerable questions answered rather than declined
    declined: float | None  # share of unanswerable questions declined
    precision: float | None  # answer triggering: right answers / answers given
    recall: float  # right answers / answerable questions
    f1: float | None
    answered_right_paragraph: float | None  # answered, first quote from a gold paragraph / answerable
    median_quote_chars: float
    per_second: float


def _norm(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def read_questions(path: Path, limit: int | None = None) -> list[EvalQuestion]:
    """Questions in any of the three label styles; a line that is none of them is an error."""
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{path}: cannot read questions ({exc})") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            question = _question(json.loads(line))
        except (ValueError, KeyError, TypeError, OverflowError, RecursionError):  # 1e999 is inf; [[[...]]] nests
            raise CorpusError(
                f"{path}:{number}: not a question record (id, article_id, question, and paragraph_index with "
                "answers, or answer_sentences, or paragraphs)"
            ) from None
        if question is not None:
            out.append(question)
        if limit and len(out) >= limit:
            break
    return out


def _question(r: dict[str, Any]) -> EvalQuestion | None:
    if "excluded" in r:
        return None
    base = {"qid": str(r["id"]), "article_id": str(r["article_id"]), "question": str(r["question"])}
    if "answers" in r:  # SQuAD
        answers = tuple(str(a) for a in r["answers"])
        answerable = not r.get("is_impossible", False) and bool(answers)
        paragraphs = frozenset({int(r["paragraph_index"]) + 1}) if answerable else frozenset()
        return EvalQuestion(**base, answerable=answerable, paragraphs=paragraphs, answers=answers)
    if "answer_sentences" in r:  # WikiQA (one paragraph per document) and citebot's written sets
        sentences = tuple(str(s) for s in r["answer_sentences"])
        paragraph = int(r["paragraph_index"]) + 1 if "paragraph_index" in r else 1
        paragraphs = frozenset({paragraph}) if sentences else frozenset()
        return EvalQuestion(**base, answerable=bool(sentences), paragraphs=paragraphs, sentences=sentences)
    paragraphs = frozenset(int(p) for p in r["paragraphs"])  # citebot's blind set: acceptable paragraphs
    return EvalQuestion(**base, answerable=bool(paragraphs), paragraphs=paragraphs)


def evaluate(
    answerer: Answerer,
    questions: list[EvalQuestion],
    *,
    modes: tuple[Mode, ...] = MODES,
    out: TextIO | None = None,
    progress: bool = False,
) -> list[EvalRow]:
    """Score each retrieval mode on ``questions``; per-question predictions of the fused mode go to ``out``."""
    traces: dict[Mode, list[tuple[EvalQuestion, Trace]]] = {m: [] for m in modes}
    seconds = dict.fromkeys(modes, 0.0)
    from tqdm import tqdm

    for q in tqdm(questions, disable=not progress, unit="q", desc="questions"):
        vector, encode = None, 0.0
        for mode in modes:
            started = time.perf_counter()
            try:
                trace = answerer.trace(q.question, mode=mode, vector=vector)
            except QuestionError:
                break
            if vector is None:  # encoded once, alone, as in service; the other modes reuse it
                vector, encode = trace.retrieved.query, trace.timings["encode"]
                seconds[mode] += time.perf_counter() - started
            else:
                seconds[mode] += time.perf_counter() - started + encode
            traces[mode].append((q, trace))
            if out is not None and mode == "fused":
                out.write(json.dumps(_prediction(q, trace), ensure_ascii=False) + "\n")
    return [_row(mode, traces[mode], seconds[mode]) for mode in modes]


def _rank(q: EvalQuestion, trace: Trace) -> int | None:
    for i, h in enumerate(trace.retrieved.hits, 1):
        if h.passage.article_id == q.article_id and h.passage.paragraph in q.paragraphs:
            return i
    return None


def _shown(trace: Trace) -> list[Quote]:
    a = trace.answer
    return list(a.quotes) or ([a.closest] if a.closest else [])


def _prediction(q: EvalQuestion, trace: Trace) -> dict[str, Any]:
    shown = _shown(trace)
    return {
        "id": q.qid,
        "question": q.question,
        "answerable": q.answerable,
        "gold": {"article_id": q.article_id, "paragraphs": sorted(q.paragraphs)},
        "rank": _rank(q, trace) if q.answerable else None,
        "first_quote_right": q.right(shown[0] if shown else None),
        "answer": trace.answer.to_dict(),
    }


def _row(mode: Mode, results: list[tuple[EvalQuestion, Trace]], seconds: float) -> EvalRow:
    answerable = [(q, t) for q, t in results if q.answerable]
    unanswerable = [t for q, t in results if not q.answerable]
    ranked = [_rank(q, t) for q, t in answerable if q.paragraphs]
    first = anywhere = answered = right_answers = right_paragraph = 0
    lengths = []
    for q, t in answerable:
        shown = _shown(t)
        ok = q.right(shown[0] if shown else None)
        first += ok
        anywhere += any(q.right(s) for s in shown)
        answered += t.answer.answered
        right_answers += ok and t.answer.answered
        right_paragraph += t.answer.answered and q.right_paragraph(shown[0] if shown else None)
        lengths.append(sum(len(s.text) for s in shown))
    given = answered + sum(t.answer.answered for t in unanswerable)
    n = max(len(answerable), 1)
    recall = right_answers / n
    precision = right_answers / given if given else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else (0.0 if given else None)
    return EvalRow(
        mode=mode,
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        recall_at_1=sum(r == 1 for r in ranked) / len(ranked) if ranked else None,
        recall_at_5=sum(r is not None and r <= 5 for r in ranked) / len(ranked) if ranked else None,
        mrr=sum(1 / r for r in ranked if r and r <= 5) / len(ranked) if ranked else None,
        first_quote_right=first / n,
        any_quote_right=anywhere / n,
        answered=answered / n,
        declined=sum(not t.answer.answered for t in unanswerable) / len(unanswerable) if unanswerable else None,
        precision=precision,
        recall=recall,
        f1=f1,
        answered_right_paragraph=right_paragraph / n if ranked else None,
        median_quote_chars=statistics.median(lengths) if lengths else 0.0,
        per_second=len(results) / seconds if seconds > 0 else 0.0,
    )


COLUMNS = {
    "answerable": ("answerable", "{:,}"),
    "unanswerable": ("unanswerable", "{:,}"),
    "recall_at_1": ("R@1", "{:.3f}"),
    "recall_at_5": ("R@5", "{:.3f}"),
    "mrr": ("MRR@5", "{:.3f}"),
    "first_quote_right": ("quote@1", "{:.3f}"),
    "any_quote_right": ("quote@any", "{:.3f}"),
    "answered": ("answered", "{:.3f}"),
    "declined": ("declined unans.", "{:.3f}"),
    "precision": ("AT P", "{:.3f}"),
    "recall": ("AT R", "{:.3f}"),
    "f1": ("AT F1", "{:.3f}"),
    "answered_right_paragraph": ("answered, right ¶", "{:.3f}"),
    "median_quote_chars": ("median chars", "{:.0f}"),
    "per_second": ("q/s", "{:.0f}"),
}


def format_table(rows: list[EvalRow]) -> Iterator[str]:
    """A Markdown table; columns no row has a value for (e.g. no unanswerable questions) are left out."""
    names = {"dense": "dense only", "lexical": "BM25 only", "fused": "shipped (fused)"}
    keys = [k for k in COLUMNS if any(asdict(r)[k] is not None for r in rows)]
    yield "| retrieval | " + " | ".join(COLUMNS[k][0] for k in keys) + " |"
    yield "|---" * (len(keys) + 1) + "|"
    for r in rows:
        values = asdict(r)
        cells = ["—" if values[k] is None else COLUMNS[k][1].format(values[k]) for k in keys]
        yield f"| {names.get(r.mode, r.mode)} | " + " | ".join(cells) + " |"
