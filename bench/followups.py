"""Follow-up questions: later turns of written conversations, answered with and without memory.

Reads ``bench/data/conversations/conversations.jsonl`` (multi-turn conversations over the bundled
article and SQuAD articles; see its README), indexes the articles it uses into one library, and
plays each conversation through ``Collections.answer_in_context`` the way the bot does. A turn
is right when its first quote comes from a labelled paragraph of the conversation's article
(answerable turns), or when it is declined (unanswerable follow-ups). Reported per kind of turn:

- without memory: every message read as typed (citebot before follow-ups);
- shipped: ``retrieval/followup.py``'s reading, falling back to the typed message when the
  reading is declined and the typed one is answered;
- reading only: the resolved reading, no fallback;
- previous question + this one: the simplest context, the two questions joined;
- a person's rewrite: the standalone question a person wrote for each follow-up from the earlier
  questions alone (``rewrites.jsonl``): what perfect resolution would give with today's answering.

Also the time ``resolve`` takes (the cost of resolution; answering a follow-up whose reading is
declined costs one more answer).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from common import ROOT, machine, work_dir

from embeddings import INDEX_BACKEND, QUERY_BACKEND, Embedder
from retrieval import Answer, Library
from retrieval.collections import Collections
from retrieval.followup import Turn, resolve
from retrieval.index import build_index

DATA = ROOT / "bench" / "data"
SET = DATA / "conversations" / "conversations.jsonl"
SOURCES = {"bundled": DATA / "bundled" / "article.jsonl", "squad-v1.1-dev": DATA / "squad-v1.1-dev" / "articles.jsonl"}

Strategy = Callable[[Collections, str, list[Turn], str], tuple[Answer, str | None]]  # ..., conversation id


def without_memory(shelf: Collections, text: str, history: list[Turn], conversation: str) -> tuple[Answer, str | None]:
    return shelf.answer(text), None


def shipped(shelf: Collections, text: str, history: list[Turn], conversation: str) -> tuple[Answer, str | None]:
    return shelf.answer_in_context(text, history)


def reading_only(shelf: Collections, text: str, history: list[Turn], conversation: str) -> tuple[Answer, str | None]:
    reading = resolve(text, history)
    return shelf.answer(reading or text), reading


def joined(shelf: Collections, text: str, history: list[Turn], conversation: str) -> tuple[Answer, str | None]:
    reading = f"{history[-1].reading} {text}" if history and resolve(text, history) else None
    return shelf.answer(reading or text), reading


REWRITES = DATA / "conversations" / "rewrites.jsonl"
_rewritten = {(r["id"], r["text"]): r["standalone"] for r in map(json.loads, REWRITES.read_text().splitlines())}


def rewritten(shelf: Collections, text: str, history: list[Turn], conversation: str) -> tuple[Answer, str | None]:
    reading = _rewritten.get((conversation, text)) if history else None
    return shelf.answer(reading or text), reading


STRATEGIES: dict[str, Strategy] = {
    "without memory": without_memory,
    "shipped": shipped,
    "reading only": reading_only,
    "previous question + this one": joined,
    "a person's rewrite": rewritten,
}


def library_for(conversations: list[dict], work: Path) -> Library:
    wanted = {(c["source"], c["article_id"]) for c in conversations}
    corpus = work / "followups-articles.jsonl"
    lines = []
    for source, path in SOURCES.items():
        for line in path.read_text().splitlines():
            if (source, json.loads(line)["id"]) in wanted:
                lines.append(line)
    corpus.write_text("\n".join(lines) + "\n")
    index = work / "followups-index"
    build_index([corpus], index, Embedder(backend=INDEX_BACKEND))
    return Library(index, Embedder(backend=QUERY_BACKEND))


def right(answer: Answer, conversation: dict, turn: dict) -> bool:
    if not turn["paragraphs"]:
        return not answer.answered
    if not answer.answered or not answer.quotes:
        return False
    c = answer.quotes[0].citation
    return c.article_id == conversation["article_id"] and c.paragraph in turn["paragraphs"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=work_dir())
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    conversations = [json.loads(line) for line in SET.read_text().splitlines() if line.strip()]
    args.work.mkdir(parents=True, exist_ok=True)
    shelf = Collections(library_for(conversations, args.work))
    shelf.library.warm_up()
    names = [f"{name}, {source}" for name in STRATEGIES for source in (*SOURCES, "all")]
    scores: dict[str, dict[str, list[bool]]] = {name: defaultdict(list) for name in names}
    resolve_ms: list[float] = []
    for conversation in conversations:
        for name, strategy in STRATEGIES.items():
            history: list[Turn] = []
            for turn in conversation["turns"]:
                if name == "shipped":
                    started = time.perf_counter()
                    resolve(turn["text"], history)
                    resolve_ms.append(1000 * (time.perf_counter() - started))
                answer, reading = strategy(shelf, turn["text"], history, conversation["id"])
                for source in (conversation["source"], "all"):
                    scores[f"{name}, {source}"][turn["kind"]].append(right(answer, conversation, turn))
                history.append(Turn(turn["text"], reading or turn["text"], answer))
    kinds = ["first", "followup", "topic_change", "unanswerable_followup"]
    table = {
        name: {k: (sum(v[k]) / len(v[k]) if v[k] else None, len(v[k])) for k in kinds} for name, v in scores.items()
    }
    timing = {"p50": statistics.median(resolve_ms), "p95": sorted(resolve_ms)[int(0.95 * (len(resolve_ms) - 1))]}
    if args.json:
        print(json.dumps({"machine": machine(), "table": table, "resolve_ms": timing}))
        return
    print(f"machine: {machine()}\nconversations: {len(conversations)} ({SET.relative_to(ROOT)})\n")
    print("| reading | first turns right | follow-ups right | topic changes right | unanswerable follow-ups declined |")
    print("|---|---|---|---|---|")
    for name, row in table.items():
        cells = " | ".join(f"{s:.3f} ({n})" if s is not None else "—" for s, n in row.values())
        print(f"| {name} | {cells} |")
    print(f"\nresolve(): p50 {timing['p50']:.3f} ms, p95 {timing['p95']:.3f} ms per message")


if __name__ == "__main__":
    main()
