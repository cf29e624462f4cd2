"""Check hand-written question sets (bench/data/natural/, bench/data/bundled/) before use.

Each line: {"id", "article_id", "paragraph_index" (0-based), "question", "kind",
"answer_sentences": [exact substrings of that paragraph]}; kind is "paraphrase" (a reader's
question in their own words), "search" (what someone types into a search box), or
"unanswerable" (on topic, but the article does not say; answer_sentences is empty).

Questions were written not to copy the text: a paraphrase or search question may not share a
run of four words with its paragraph in which two or more are ordinary lower-case words (names
may repeat). Prints one line per problem; exit code 1 if there are any.

    python bench/check_questions.py ARTICLES.jsonl QUESTIONS.jsonl [...]
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

KINDS = {"paraphrase", "search", "unanswerable"}
_WORD = re.compile(r"[\w'-]+")
STOP = set(
    "a an the of in on at to for from by with and or but is are was were be been it its this that these those as "
    "into than then there their they he she his her we our you your i not no do does did what which who whom whose "
    "when where why how".split()
)


def copied_run(question: str, paragraph: str, n: int = 4) -> str | None:
    """A run of ``n`` words the question shares with the paragraph, with 2+ ordinary words in it."""
    words = [w.lower() for w in _WORD.findall(paragraph)]
    runs = {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}
    asked = _WORD.findall(question)
    for i in range(len(asked) - n + 1):
        run = asked[i : i + n]
        if tuple(w.lower() for w in run) in runs:
            ordinary = [w for w in run if w.lower() not in STOP and w[:1].islower() and not w[:1].isdigit()]
            if len(ordinary) >= 2:
                return " ".join(run)
    return None


def check(articles_path: Path, questions_path: Path) -> list[str]:
    articles = {a["id"]: a for a in map(json.loads, articles_path.open(encoding="utf-8"))}
    problems, ids = [], set()
    for number, line in enumerate(questions_path.open(encoding="utf-8"), 1):
        where = f"{questions_path}:{number}"
        if not line.strip():
            continue
        try:
            q = json.loads(line)
            article = articles[q["article_id"]]
            paragraph = article["paragraphs"][q["paragraph_index"]]
            question, kind, sentences = q["question"], q["kind"], q["answer_sentences"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            problems.append(f"{where}: malformed ({type(exc).__name__}: {exc})")
            continue
        if q.get("id") in ids:
            problems.append(f"{where}: duplicate id {q.get('id')!r}")
        ids.add(q.get("id"))
        if kind not in KINDS:
            problems.append(f"{where}: kind must be one of {sorted(KINDS)}")
        if not isinstance(question, str) or len(question.split()) < 2:
            problems.append(f"{where}: the question is too short")
        if kind == "unanswerable" and sentences:
            problems.append(f"{where}: an unanswerable question has no answer sentences")
        if kind != "unanswerable" and not sentences:
            problems.append(f"{where}: an answerable question needs its answer sentence(s)")
        for s in sentences:
            if not isinstance(s, str) or len(s) < 10 or s not in paragraph:
                problems.append(f"{where}: answer sentence is not an exact part of the paragraph: {str(s)[:60]!r}")
        if kind in ("paraphrase", "search") and (run := copied_run(question, paragraph)):
            problems.append(f"{where}: copies the text ({run!r}); ask it in other words")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    problems = [p for path in argv[1:] for p in check(Path(argv[0]), Path(path))]
    for p in problems:
        print(p)
    print(f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
