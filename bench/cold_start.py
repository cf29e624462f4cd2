"""Cold start: whole processes, as a user starts them.

``citebot --help`` and ``citebot ask`` on the bundled corpus (index built beforehand), each
run --runs times; the reference is the bare interpreter (``python -c pass``) in the same run.

    python bench/cold_start.py [--runs 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, machine, percentile

COMMANDS = {
    "python -c pass (reference)": [sys.executable, "-c", "pass"],
    "citebot --help": [sys.executable, "-m", "bot", "--help"],
    "citebot ask (bundled)": [sys.executable, "-m", "bot", "ask", "Who is the mayor of Sievierodonetsk?"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        env = dict(os.environ, CITEBOT_INDEX=str(Path(work) / "index"))
        subprocess.run([sys.executable, "-m", "bot", "index", "-q"], env=env, cwd=ROOT, check=True, capture_output=True)
        subprocess.run(COMMANDS["citebot ask (bundled)"], env=env, cwd=ROOT, check=True, capture_output=True)
        results = {}
        for name, command in COMMANDS.items():
            times = []
            for _ in range(args.runs):
                started = time.perf_counter()
                subprocess.run(command, env=env, cwd=ROOT, check=True, capture_output=True)
                times.append(time.perf_counter() - started)
            results[name] = {"p50_s": percentile(times, 50), "max_s": max(times)}
    if args.json:
        print(json.dumps({"machine": machine(), "runs": args.runs, "results": results}))
        return
    print(f"machine: {machine()}\n")
    print("| command | p50 s | max s |\n|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['p50_s']:.2f} | {r['max_s']:.2f} |")


if __name__ == "__main__":
    main()
