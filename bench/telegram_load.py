"""Load on the Telegram path: the real bot process, the real PTB Application, the stand-in.

N chats x M questions arrive open-loop (Poisson arrivals at --rate questions/s, whatever the
bot's speed), through getUpdates; latency runs from the update being queued at the stand-in
to the stand-in receiving the answer's sendMessage (matched first-in-first-out per chat).
Every question must get exactly one answer. Runs with PTB's AIORateLimiter on (as shipped)
and off, and then as shipped while one user floods --flood questions within one second, halfway
through: that user should get a few answers and one "slow down" note, and the other chats'
latency should stay where it was. The reference is the in-process question -> Answer latency
in the same run.

    python bench/telegram_load.py [--chats 50] [--questions 4] [--rate 20] [--flood 100] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, machine, percentile, stop

from bot.telegram_bot import SLOW_DOWN
from embeddings import INDEX_BACKEND, QUERY_BACKEND, Embedder
from retrieval import Library
from retrieval.corpus import bundled_corpus
from retrieval.index import build_index
from tests.conftest import cli_env
from tests.telegram_standin import StandIn

QUESTIONS = [
    "Who is the mayor of Sievierodonetsk?",
    "Who had the numerical advantage?",
    "What does Russia call its war in Ukraine?",
    "Where did Zelenskyy travel on Sunday?",
    "Since when have separatists held part of the Donbas?",
    "What was Zelenskyy wearing?",
    "How do I cook borscht?",
    "What did the Luhansk governor say?",
]


def reference(index: Path, repeats: int = 200) -> float:
    library = Library(index, Embedder(backend=QUERY_BACKEND))
    library.answer(QUESTIONS[0])
    times = []
    for i in range(repeats):
        started = time.perf_counter()
        library.answer(QUESTIONS[i % len(QUESTIONS)])
        times.append((time.perf_counter() - started) * 1000)
    return percentile(times, 50)


FLOODER = 99_999
SLOW_DOWN_START = SLOW_DOWN.split(":")[0]  # the reply is HTML-escaped; this part needs no escaping


def run_load(index: Path, chats: int, questions: int, rate: float, limiter: bool, seed: int, flood: int = 0) -> dict:
    standin = StandIn().start()
    args = [sys.executable, "-m", "bot", "serve", "--index", str(index)]
    if not limiter:
        args.append("--no-rate-limiter")
    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        env=cli_env(TELEGRAM_BOT_TOKEN=standin.token, TELEGRAM_API_URL=standin.url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        standin.wait_polling(180)
        rng = random.Random(seed)
        chat_ids = [10_000 + c for c in range(chats)]
        pushed: dict[int, list[float]] = {c: [] for c in chat_ids}
        order = [c for _ in range(questions) for c in chat_ids]
        started = time.monotonic()
        next_at = started
        flood_at = len(order) // 2 if flood else -1
        for i, chat in enumerate(order):
            next_at += rng.expovariate(rate)
            time.sleep(max(0.0, next_at - time.monotonic()))
            pushed[chat].append(time.monotonic())
            standin.message(chat, QUESTIONS[i % len(QUESTIONS)])
            if i == flood_at:  # one user, `flood` questions within one second, between two arrivals
                for k in range(flood):
                    standin.message(FLOODER, QUESTIONS[k % len(QUESTIONS)])
                    time.sleep(1.0 / flood)
                next_at = time.monotonic()
        total = len(order)
        deadline = time.monotonic() + 60 + total / 5  # bounded: even at 5 answers/s everything arrives
        answered = lambda: sum(min(len(standin.messages(c)), questions) for c in chat_ids)  # noqa: E731
        while answered() < total and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # catch duplicates that arrive late
        latencies, duplicates, lost, last = [], 0, 0, started
        for chat in chat_ids:
            sent = standin.messages(chat)
            duplicates += max(0, len(sent) - questions)
            lost += max(0, questions - len(sent))
            for t_push, msg in zip(pushed[chat], sent, strict=False):
                latencies.append((msg.at - t_push) * 1000)
                last = max(last, msg.at)
        flooder = [m.text for m in standin.messages(FLOODER)]
        return {
            "rate_limiter": limiter,
            "flood": flood,
            "flood_answers": sum(1 for t in flooder if not t.startswith(SLOW_DOWN_START)),
            "flood_slow_down_notes": sum(1 for t in flooder if t.startswith(SLOW_DOWN_START)),
            "questions": total,
            "answered": total - lost,
            "lost": lost,
            "duplicates": duplicates,
            "answers_per_s": (total - lost) / max(last - started, 1e-9),
            "p50_ms": percentile(latencies, 50),
            "p95_ms": percentile(latencies, 95),
            "p99_ms": percentile(latencies, 99),
        }
    finally:
        stop(proc)
        standin.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--questions", type=int, default=4, help="questions per chat")
    parser.add_argument("--rate", type=float, default=20.0, help="arrivals per second, all chats together")
    parser.add_argument("--flood", type=int, default=100, help="questions one user sends in one second")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="citebot-load-"))
    try:
        index = work / "index"
        build_index([bundled_corpus()], index, Embedder(backend=INDEX_BACKEND))
        ref = reference(index)
        rows = [
            run_load(index, args.chats, args.questions, args.rate, limiter, args.seed, flood)
            for limiter, flood in ((True, 0), (False, 0), (True, args.flood))
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps({"machine": machine(), "reference_p50_ms": ref, "rows": rows}))
        return
    print(f"machine: {machine()}")
    print(f"{args.chats} chats x {args.questions} questions, open-loop Poisson arrivals at {args.rate:g}/s")
    print(f"reference: question -> Answer in process, p50 {ref:.1f} ms\n")
    print("other chats' questions, answers and latency; the flooder's replies apart\n")
    print("| rate limiter | one user floods | questions | answered | lost | duplicates | answers/s | p50 ms | p95 ms "
          "| p99 ms |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        flooded = (
            f"{r['flood']} in 1 s: {r['flood_answers']} answered, {r['flood_slow_down_notes']} note"
            if r["flood"]
            else "no"
        )
        print(
            f"| {'on' if r['rate_limiter'] else 'off'} | {flooded} | {r['questions']} | {r['answered']} | "
            f"{r['lost']} | {r['duplicates']} | {r['answers_per_s']:.1f} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | "
            f"{r['p99_ms']:.0f} |"
        )


if __name__ == "__main__":
    main()
