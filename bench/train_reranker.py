"""Train the sentence reranker: a small cross-encoder reading the question and a sentence together.

Starts from the embedding model's weights (``--base``, default the model being fitted:
``$CITEBOT_MODEL`` or the default), keeps the first ``--layers`` transformer layers, mean-pools
them over the pair and adds one linear unit, and learns "does this sentence answer this question"
from the labelled candidates of bench/candidates.py: the sentences the shipped pipeline weighs
for SQuAD 1.1, SQuAD 2.0's unanswerable questions (every sentence wrong; the plausible distractor
included), citebot's written natural questions (fitted fold, dev quarter left out) and
SQuADShifts (``--shifts`` questions of each). Each question gives its right sentences and its
``--negatives`` hardest wrong ones (the distractor, then the first stage's best). Input:
``question [SEP] title: sentence``, at most ``--max-length`` tokens; binary cross-entropy, AdamW,
linear warm-up and decay.

Seed fixed; prints pairs/s and minutes. Writes ``OUT/model.int8.onnx`` (word embeddings and
MatMuls in int8, per channel), ``OUT/model.onnx``, the tokenizer (``OUT/reranker-tokenizer.json``)
and ``OUT/training.json``. ``--freeze-embeddings`` keeps the word embeddings as they were: a
multilingual model's languages stay aligned although the training questions are mostly English.

    python bench/train_reranker.py CANDIDATES.jsonl --out /tmp/reranker --shifts 4000  # the shipped one
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import time
from pathlib import Path
from typing import Any

from folds import dev_articles

from embeddings import resolve_model

NATURAL_WEIGHT = 3  # natural questions are few; each is seen this many times
SHIFTS = ("reddit", "amazon")


def pairs(
    path: Path, per_question: int, seed: int, shifts: int | None = None
) -> tuple[list[tuple[str, str, float]], dict]:
    """(question, "title: sentence", label) pairs: every right sentence, and up to ``per_question`` wrong ones.

    ``shifts``: at most this many questions from each SQuADShifts source (chosen by the seed).
    """
    dev = dev_articles()
    rng = random.Random(seed)
    rows = [json.loads(line) for line in path.open(encoding="utf-8")]
    if shifts is not None:
        for source in SHIFTS:
            mine = [i for i, r in enumerate(rows) if r["source"] == source]
            dropped = set(mine) - set(rng.sample(mine, min(shifts, len(mine))))
            rows = [r for i, r in enumerate(rows) if i not in dropped]
    out, counts = [], {}
    for row in rows:
        if row["article_id"] in dev:
            continue
        right = [s for s in row["sentences"] if s["label"] == 1]
        wrong = [s for s in row["sentences"] if s["label"] != 1]
        wrong = sorted(wrong, key=lambda s: (s["label"] != -1, s["rank"] if s["rank"] is not None else 99))
        chosen = right + wrong[:per_question]
        times = NATURAL_WEIGHT if row["source"].startswith("natural") else 1  # translations too
        for _ in range(times):
            out += [(row["question"], f"{s['title']}: {s['text']}", float(s["label"] == 1)) for s in chosen]
        counts[row["source"]] = counts.get(row["source"], 0) + 1
    rng.shuffle(out)
    return out, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("candidates", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--negatives", type=int, default=3, help="wrong sentences per question (the hardest)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--shifts", type=int, help="at most this many questions from each SQuADShifts source")
    parser.add_argument("--base", help="model to start from (default: the embedding model being fitted)")
    parser.add_argument("--freeze-embeddings", action="store_true", help="do not train the word embeddings")
    parser.add_argument(
        "--extra", type=Path, action="append", default=[], help="more candidate files (questions in other languages)"
    )
    args = parser.parse_args()
    import torch
    from transformers import AutoModel, AutoTokenizer

    from embeddings.export import quantize

    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    data, counts = pairs(args.candidates, args.negatives, args.seed, args.shifts)
    for extra in args.extra:
        more, more_counts = pairs(extra, args.negatives, args.seed)
        data += more
        counts |= {f"{extra.stem}:{k}": v for k, v in more_counts.items()}
    random.Random(args.seed).shuffle(data)
    positives = sum(label for _, _, label in data)
    print(f"{len(data):,} pairs ({positives:,.0f} right) from questions {counts}", flush=True)
    spec = resolve_model(args.base)
    tokenizer = AutoTokenizer.from_pretrained(spec.location)
    model = cross_encoder(AutoModel.from_pretrained(spec.location), args.layers)
    if args.freeze_embeddings:
        model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    steps = len(data) // args.batch * args.epochs
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=args.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / max(1, steps // 10)) * max(0.0, 1 - s / max(1, steps))
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    model.train()
    started = time.perf_counter()
    step = 0
    losses: list[float] = []  # mean loss of each 200 steps
    recent: list[float] = []
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
            logits = model(**batch).squeeze(-1)
            loss = loss_fn(logits, torch.tensor([label for _, _, label in chunk]))
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trained, 1.0)
            optimizer.step()
            schedule.step()
            step += 1
            recent.append(loss.item())
            if step % 200 == 0 or step == steps:
                elapsed = time.perf_counter() - started
                losses.append(sum(recent) / len(recent))
                recent = []
                print(
                    f"step {step}/{steps}: mean loss {losses[-1]:.3f}; {step * args.batch / elapsed:.0f} pairs/s, "
                    f"{elapsed / 60:.1f} min",
                    flush=True,
                )
    minutes = (time.perf_counter() - started) / 60
    model.eval()
    args.out.mkdir(parents=True, exist_ok=True)
    export_reranker(model, args.out)
    quantize(args.out / "model.onnx", args.out / "model.int8.onnx", embeddings=True)
    shutil.copy(Path(spec.location) / "tokenizer.json", args.out / "reranker-tokenizer.json")
    settings = {k: str(v) for k, v in vars(args).items()}
    log = {
        "pairs": len(data),
        "right": int(positives),
        "training_minutes": round(minutes, 1),
        "pairs_per_second": round(len(data) * args.epochs / (minutes * 60), 1),
        "mean_loss_per_200_steps": [round(x, 3) for x in losses],
    }
    summary = {"base": spec.name, "questions": counts, "settings": settings, "log": log}
    (args.out / "training.json").write_text(json.dumps(summary, indent=2))
    print(f"wrote {args.out} in {(time.perf_counter() - started) / 60:.1f} min")


def cross_encoder(bert: Any, layers: int) -> Any:
    """The first ``layers`` layers of ``bert``, mean-pooled over the pair's tokens, then one linear unit.

    Mean pooling, as the sentence model was trained with: its [CLS] pooler was never trained for
    it, and a classifier on [CLS] learned nothing in a first run (top-1 0.16 among 8 candidates
    against 0.79 for the first stage, where mean pooling reached 0.50 after 150 steps).
    """
    import torch

    class _CrossEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            bert.encoder.layer = bert.encoder.layer[:layers]
            bert.config.num_hidden_layers = layers
            self.bert = bert
            self.head = torch.nn.Linear(bert.config.hidden_size, 1)

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
        ) -> torch.Tensor:
            if token_type_ids is None:  # XLM-R tokenizers give none: every token is type 0
                token_type_ids = torch.zeros_like(input_ids)
            hidden = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return self.head((hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0))

    return _CrossEncoder()


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
