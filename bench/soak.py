"""Soak: steady load plus injected faults for a while; nothing lost, nothing doubled, no leak.

The real bot process (shipped settings: rate limiter on, per-user limit on) answers a steady
open-loop stream of questions from many chats through the stand-in, while every --fault-every
seconds the stand-in misbehaves (HTTP 500s, 429 with retry_after, slow responses, dropped
connections, malformed JSON, on sendMessage or getUpdates). At the end every question must
have exactly one answer. RSS of the bot process is sampled at the start and the end.

    python bench/soak.py [--minutes 10] [--rate 4] [--chats 40] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, machine, percentile, stop

from embeddings import INDEX_BACKEND, Embedder
from retrieval.corpus import bundled_corpus
from retrieval.index import build_index
from tests.conftest import cli_env
from tests.telegram_standin import StandIn

QUESTIONS = ["Who is the mayor of Sievierodonetsk?", "Who had the numerical advantage?", "How do I cook borscht?",
             "What does Russia call its war?", "Where did Zelenskyy travel on Sunday?"]  # fmt: skip
FAULTS = [
    ("sendMessage", {"status": 500, "times": 3}),
    ("sendMessage", {"status": 429, "retry_after": 2, "times": 2}),
    ("sendMessage", {"kind": "slow", "delay": 3.0, "times": 2}),
    ("sendMessage", {"kind": "drop", "times": 2}),
    ("sendMessage", {"kind": "garbage", "times": 2}),
    ("getUpdates", {"status": 500, "times": 2}),
    ("getUpdates", {"kind": "drop", "times": 2}),
    ("getUpdates", {"kind": "garbage", "times": 1}),
    ("getUpdates", {"kind": "slow", "delay": 3.0, "times": 1}),
]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=4.0, help="questions per second, all chats together")
    parser.add_argument("--chats", type=int, default=40)
    parser.add_argument("--fault-every", type=float, default=20.0, help="seconds between fault bursts")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="citebot-soak-"))
    build_index([bundled_corpus()], work / "index", Embedder(backend=INDEX_BACKEND))
    standin = StandIn().start()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--index", str(work / "index")],
        cwd=ROOT,
        env=cli_env(TELEGRAM_BOT_TOKEN=standin.token, TELEGRAM_API_URL=standin.url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pushed: dict[int, list[float]] = {}
    faults = 0
    try:
        standin.wait_polling(180)
        chats = [20_000 + c for c in range(args.chats)]
        for chat in chats[:5]:  # warm up, then take the starting RSS
            standin.message(chat, QUESTIONS[0])
        standin.wait_for(lambda: all(standin.messages(c) for c in chats[:5]), 60)
        for chat in chats[:5]:
            pushed[chat] = [time.monotonic()]
        rss_start = rss_mb(proc.pid)
        started = time.monotonic()
        end = started + args.minutes * 60
        next_at, next_fault = started, started + args.fault_every / 2
        i = 0
        while time.monotonic() < end:
            next_at += rng.expovariate(args.rate)
            time.sleep(max(0.0, next_at - time.monotonic()))
            if time.monotonic() >= next_fault:
                method, fault = rng.choice(FAULTS)
                standin.inject(method, **fault)
                faults += 1
                next_fault += args.fault_every
            chat = chats[i % len(chats)]
            pushed.setdefault(chat, []).append(time.monotonic())
            standin.message(chat, QUESTIONS[i % len(QUESTIONS)])
            i += 1
        standin.clear_faults()
        total = sum(len(v) for v in pushed.values())
        deadline = time.monotonic() + 180
        while sum(min(len(standin.messages(c)), len(pushed[c])) for c in pushed) < total:
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        time.sleep(3.0)
        rss_end = rss_mb(proc.pid)
        alive = proc.poll() is None
        latencies, lost, duplicates = [], 0, 0
        for chat, times in pushed.items():
            sent = standin.messages(chat)
            lost += max(0, len(times) - len(sent))
            duplicates += max(0, len(sent) - len(times))
            latencies += [(m.at - t) * 1000 for t, m in zip(times, sent, strict=False)]
    finally:
        stop(proc)
        standin.stop()
    result = {
        "machine": machine(),
        "minutes": args.minutes,
        "questions": total,
        "answers": total - lost,
        "lost": lost,
        "duplicates": duplicates,
        "fault_bursts": faults,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "rss_start_mb": rss_start,
        "rss_end_mb": rss_end,
        "bot_alive": alive,
    }
    if args.json:
        print(json.dumps(result))
        return
    r = result
    print(f"machine: {r['machine']}")
    print(
        f"{r['minutes']:g} minutes, {args.rate:g} questions/s over {args.chats} chats, a fault burst every "
        f"{args.fault_every:g} s\n"
    )
    print("| questions | answers | lost | duplicates | fault bursts | p50 ms | p95 ms | RSS start → end MB | alive |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {r['questions']} | {r['answers']} | {r['lost']} | {r['duplicates']} | {r['fault_bursts']} | "
        f"{r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['rss_start_mb']:.0f} → {r['rss_end_mb']:.0f} | "
        f"{'yes' if r['bot_alive'] else 'NO'} |"
    )


if __name__ == "__main__":
    main()
