"""Training questions for citebot's fitted parts, with their answers as spans of the paragraph.

Sources (all under ../shared/eval or bench/data; WikiQA is never read here: it is only for
measuring):

- ``squad11``: SQuAD 1.1 dev, fitted-fold articles (bench/folds.py); spans from answer_starts.
- ``squad2``: the unanswerable questions of the SQuAD 2.0 dev half, fitted fold ("on topic but
  not stated"; its answerable ones repeat SQuAD 1.1's); ``distractors`` are the plausible spans.
- ``natural``: questions written for citebot (bench/data/natural), fitted fold: paraphrased,
  search-style, and on-topic unanswerable ones.
- ``reddit`` / ``amazon``: SQuADShifts (all of them: no target is measured on them).
- ``natural-uk`` / ``natural-ru``: packets 1-3 of the written natural questions translated
  (bench/data/multilingual), asked of the English articles: cross-lingual training, fitted fold.
- ``xquad-de`` / ``xquad-es``: XQuAD's professional translations of SQuAD v1.1 dev questions,
  asked of the English articles, labelled with the English question's answer (same id); fitted
  fold. XQuAD's Russian and Chinese are never fitted on: they measure (bench/targets.py).

Each source is answered from its own index (``INDEXES``), built by ``ensure_indexes``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from common import ROOT, build_dataset_index
from folds import SHARED, fitted_articles, heldout_articles

from retrieval.quotes import Candidate

NATURAL = ROOT / "bench/data/natural"
MULTILINGUAL = ROOT / "bench/data/multilingual"
# source -> (the shared set its articles come from, the index name under the work folder)
INDEXES = {
    "squad11": ("squad-v1.1-dev", "squad"),
    "natural": ("squad-v1.1-dev", "squad"),
    "squad2": ("squad-v2-dev-half", "squad-v2"),
    "reddit": ("squadshifts-reddit", "squadshifts-reddit"),
    "amazon": ("squadshifts-amazon", "squadshifts-amazon"),
    "natural-uk": ("squad-v1.1-dev", "squad"),
    "natural-ru": ("squad-v1.1-dev", "squad"),
    "xquad-de": ("squad-v1.1-dev", "squad"),
    "xquad-es": ("squad-v1.1-dev", "squad"),
}


@dataclass(frozen=True)
class TrainQuestion:
    qid: str
    source: str
    article_id: str
    paragraph: int  # 1-based; for an unanswerable question, the paragraph it is about
    question: str
    answerable: bool
    spans: tuple[tuple[int, int], ...] = ()  # where the answer is, in paragraph offsets
    distractors: tuple[tuple[int, int], ...] = field(default=())  # SQuAD 2.0's plausible but wrong spans

    def label(self, article_id: str, paragraph: int, span: tuple[int, int]) -> int:
        """1: the sentence at ``span`` holds the answer; -1: it holds SQuAD 2.0's plausible distractor; else 0."""
        if article_id != self.article_id or paragraph != self.paragraph:
            return 0
        if any(overlaps(span, s) for s in self.spans):
            return 1
        return -1 if any(overlaps(span, s) for s in self.distractors) else 0

    def answered_by(self, c: Candidate) -> bool:
        return self.label(c.hit.passage.article_id, c.hit.passage.paragraph, (c.match.start, c.match.end)) == 1


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]


def _paragraphs(shared_set: str) -> dict[str, list[str]]:
    return {a["id"]: a["paragraphs"] for a in _lines(SHARED / shared_set / "articles.jsonl")}


def _squad(source: str, rows: list[dict]) -> list[TrainQuestion]:
    out = []
    for r in rows:
        answers = r.get("answers") or []
        spans = tuple((s, s + len(a)) for a, s in zip(answers, r.get("answer_starts") or [], strict=False))
        plausible = zip(r.get("plausible_answers") or [], r.get("plausible_answer_starts") or [], strict=False)
        out.append(
            TrainQuestion(
                str(r["id"]),
                source,
                r["article_id"],
                int(r["paragraph_index"]) + 1,
                r["question"],
                bool(spans),
                spans,
                tuple((s, s + len(a)) for a, s in plausible),
            )
        )
    return out


def _natural(rows: list[dict], paragraphs: dict[str, list[str]], source: str = "natural") -> list[TrainQuestion]:
    out = []
    for r in rows:
        text = paragraphs[r["article_id"]][r["paragraph_index"]]
        spans = tuple((text.index(s), text.index(s) + len(s)) for s in r["answer_sentences"])
        out.append(
            TrainQuestion(r["id"], source, r["article_id"], r["paragraph_index"] + 1, r["question"], bool(spans), spans)
        )
    return out


def _xquad(lang: str, squad_rows: list[dict]) -> list[TrainQuestion]:
    """XQuAD's ``lang`` questions as questions about the English SQuAD articles (their ids are SQuAD's)."""
    english = {q.qid: q for q in _squad("squad11", squad_rows)}
    return [
        replace(english[r["id"]], source=f"xquad-{lang}", question=r["question"], qid=f"{r['id']}-{lang}")
        for r in _lines(SHARED / "xquad" / lang / "questions.jsonl")
        if r["id"] in english
    ]


def load(sources: tuple[str, ...], fold: str = "fitted") -> list[TrainQuestion]:
    """Questions of ``sources``; SQuAD and natural ones only from the ``fold`` ("fitted" or "heldout")."""
    keep = fitted_articles() if fold == "fitted" else heldout_articles()
    out: list[TrainQuestion] = []
    for source in sources:
        shared_set, _ = INDEXES[source]
        if source == "natural":
            rows = [r for path in sorted(NATURAL.glob("*.jsonl")) for r in _lines(path)]
            out += [q for q in _natural(rows, _paragraphs(shared_set)) if q.article_id in keep]
        elif source.startswith("natural-"):
            lang = source.removeprefix("natural-")
            rows = [r for path in sorted(MULTILINGUAL.glob(f"squad-packet*.{lang}.jsonl")) for r in _lines(path)]
            out += [q for q in _natural(rows, _paragraphs(shared_set), source) if q.article_id in keep]
        elif source.startswith("xquad-"):
            rows = _lines(SHARED / shared_set / "questions.jsonl")
            out += [q for q in _xquad(source.removeprefix("xquad-"), rows) if q.article_id in keep]
        elif source in ("squad11", "squad2"):
            rows = _lines(SHARED / shared_set / "questions.jsonl")
            questions = [q for q in _squad(source, rows) if q.article_id in keep]
            out += [q for q in questions if q.source == "squad11" or not q.answerable]
        else:
            out += _squad(source, _lines(SHARED / shared_set / "questions.jsonl"))
    return out


def ensure_indexes(sources: tuple[str, ...], work: Path, embedder: object) -> dict[str, Path]:
    """The index each source is answered from (built once under ``work``, then reused)."""
    out = {}
    for source in sources:
        shared_set, name = INDEXES[source]
        out[source] = build_dataset_index(_lines(SHARED / shared_set / "articles.jsonl"), work / name, embedder)
    return out


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]
