"""Train the sentence reranker: a small cross-encoder reading the question and a sentence together.

Starts from the shipped all-MiniLM-L6-v2 weights (the only weights available offline), keeps the
first ``--layers`` transformer layers, and learns "does this sentence answer this question"
from the labelled candidates of bench/candidates.py: the sentences the shipped pipeline weighs
for SQuAD 1.1, SQuAD 2.0's unanswerable questions (every sentence wrong; the plausible distractor
included), citebot's written natural questions (fitted fold, dev quarter left out) and
SQuADShifts. Input: ``question [SEP] title: sentence``, at most ``--max-length`` tokens.

Seed fixed; prints pairs/s and minutes. Writes ``OUT/model.int8.onnx`` (word embeddings and
MatMuls in int8, per channel), ``OUT/model.onnx`` and ``OUT/training.json``.

    python bench/train_reranker.py CANDIDATES.jsonl --out /tmp/reranker [--layers 3] [--epochs 1]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from folds import dev_articles

from embeddings import resolve_model

NATURAL_WEIGHT = 3  # natural questions are few; each is seen this many times


def pairs(path: Path, per_question: int, seed: int) -> tuple[list[tuple[str, str, float]], dict]:
    """(question, "title: sentence", label) pairs: every right sentence, and up to ``per_question`` wrong ones."""
    dev = dev_articles()
    rng = random.Random(seed)
    out, counts = [], {}
    for line in path.open(encoding="utf-8"):
        row = json.loads(line)
        if row["article_id"] in dev:
            continue
        right = [s for s in row["sentences"] if s["label"] == 1]
        wrong = [s for s in row["sentences"] if s["label"] != 1]
        wrong = sorted(wrong, key=lambda s: (s["label"] != -1, s["rank"] if s["rank"] is not None else 99))
        chosen = right + wrong[:per_question]
        times = NATURAL_WEIGHT if row["source"] == "natural" else 1
        for _ in range(times):
            out += [(row["question"], f"{s['title']}: {s['text']}", float(s["label"] == 1)) for s in chosen]
        counts[row["source"]] = counts.get(row["source"], 0) + 1
    rng.shuffle(out)
    return out, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("candidates", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=4e-5)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--negatives", type=int, default=5, help="wrong sentences per question")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from embeddings.export import quantize

    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    data, counts = pairs(args.candidates, args.negatives, args.seed)
    positives = sum(label for _, _, label in data)
    print(f"{len(data):,} pairs ({positives:,.0f} right) from questions {counts}", flush=True)
    spec = resolve_model()
    tokenizer = AutoTokenizer.from_pretrained(spec.location)
    model = AutoModelForSequenceClassification.from_pretrained(spec.location, num_labels=1)
    model.bert.encoder.layer = model.bert.encoder.layer[: args.layers]
    model.config.num_hidden_layers = args.layers
    steps = len(data) // args.batch * args.epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / max(1, steps // 10)) * max(0.0, 1 - s / max(1, steps))
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    model.train()
    started = time.perf_counter()
    step = 0
    for _epoch in range(args.epochs):
        for b in range(len(data) // args.batch):
            chunk = data[b * args.batch : (b + 1) * args.batch]
            batch = tokenizer(
                [q for q, _, _ in chunk],
                [s for _, s, _ in chunk],
                padding=True,
                truncation="only_second",
                max_length=args.max_length,
                return_tensors="pt",
            )
            logits = model(**batch).logits.squeeze(-1)
            loss = loss_fn(logits, torch.tensor([label for _, _, label in chunk]))
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            step += 1
            if step % 200 == 0 or step == steps:
                elapsed = time.perf_counter() - started
                print(
                    f"step {step}/{steps}: loss {loss.item():.3f}; {step * args.batch / elapsed:.0f} pairs/s, "
                    f"{elapsed / 60:.1f} min",
                    flush=True,
                )
    model.eval()
    args.out.mkdir(parents=True, exist_ok=True)
    export_reranker(model, args.out)
    quantize(args.out / "model.onnx", args.out / "model.int8.onnx", embeddings=True)
    settings = {k: str(v) for k, v in vars(args).items()}
    (args.out / "training.json").write_text(json.dumps({"questions": counts, "settings": settings}, indent=2))
    print(f"wrote {args.out} in {(time.perf_counter() - started) / 60:.1f} min")


def export_reranker(model: object, folder: Path) -> None:
    import warnings

    import torch

    dummy = torch.ones((2, 8), dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (dummy, dummy, torch.zeros_like(dummy)),
            str(folder / "model.onnx"),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["logits"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes, "logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )


if __name__ == "__main__":
    main()
