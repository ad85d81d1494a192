"""Fine-tune the MiniLM-L6 cross-encoder of experiments/rerank_window.py on a GPU.

    python experiments/rerank_window.py --groups-out groups.jsonl.gz  # here: the groups
    python experiments/rerank_train_gpu.py train START GROUPS OUT [--seconds 110]  # on a GPU
    python experiments/rerank_train_gpu.py assemble OUT START bench/results/scifact-cross-encoder

Fifteen minutes of a loaded 2-core CPU fit about 150 training steps, too few for a
cross-encoder (experiments/rerank_window.py's own training ends near chance on held-out
queries). This script runs the same kind of training for 690 steps (6 epochs, a minute on
an H100): each step a softmax over 32 groups of one positive and 5 hard negatives
(listwise), AdamW at 5e-5 with warm-up and linear decay, bf16. It needs torch and
transformers only. START is the cross-encoder to start from (its weights may be fp16); the
weights come back as fp16 shards of at most 12 MiB (a tensor too large is cut in row
slices), which ``assemble`` joins into a float32 cross-encoder folder that reads 128
tokens.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import random
import shutil
import time
from pathlib import Path

MAX_LENGTH, GROUPS, EPOCHS, LR, REAL_REPEAT, SHARD_MIB = 128, 32, 6, 5e-5, 4, 12


def train(start: Path, groups_file: Path, out: Path, seconds: float) -> dict:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    rng = random.Random(0)
    tokenizer = AutoTokenizer.from_pretrained(str(start))
    model = AutoModelForSequenceClassification.from_pretrained(str(start), dtype=torch.float32)
    model.to(device).train()
    with gzip.open(groups_file, "rt", encoding="utf-8") as handle:
        groups = [json.loads(line) for line in handle]
    real = [g for g in groups if g["kind"] == "real"]  # the real queries weigh more
    total = EPOCHS * math.ceil((len(groups) + (REAL_REPEAT - 1) * len(real)) / GROUPS)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / 50, max(0.0, (total - s) / max(1, total - 50)))
    )
    began, step, losses = time.perf_counter(), 0, []
    while step < total and time.perf_counter() - began < seconds:
        order = groups + real * (REAL_REPEAT - 1)
        rng.shuffle(order)
        for start_at in range(0, len(order), GROUPS):
            batch = order[start_at : start_at + GROUPS]
            size = min(len(g["negatives"]) for g in batch)
            pairs = [
                (g["query"], t) for g in batch for t in [g["positive"], *g["negatives"][:size]]
            ]
            features = tokenizer([p[0] for p in pairs], [p[1] for p in pairs], padding=True,
                                 truncation="longest_first", max_length=MAX_LENGTH,
                                 return_tensors="pt").to(device)  # fmt: skip
            with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
                logits = model(**features).logits.float().reshape(len(batch), size + 1)
            target = torch.zeros(len(batch), dtype=torch.long, device=device)
            loss = torch.nn.functional.cross_entropy(logits, target)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            step, losses = step + 1, [*losses[-49:], loss.item()]
            if step >= total or time.perf_counter() - began > seconds:
                break
    save_shards(model.state_dict(), out)
    report = {"groups": len(groups), "real_groups": len(real), "steps": step,
              "epochs": EPOCHS, "seconds": time.perf_counter() - began, "device": device,
              "last_loss": sum(losses) / len(losses), "chance": math.log(size + 1)}  # fmt: skip
    (out / "training.json").write_text(json.dumps(report))
    return report


def save_shards(state: dict, out: Path) -> None:
    """fp16 safetensors shards of at most SHARD_MIB, large tensors cut in row slices."""
    import torch
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    pieces = {}
    for key, value in state.items():
        value = value.detach().half().cpu()
        parts = max(1, math.ceil(value.numel() * 2 / (SHARD_MIB * 2**20)))
        for i, piece in enumerate(torch.tensor_split(value, parts)):
            pieces[f"{key}@{i}" if parts > 1 else key] = piece.contiguous()
    shard, size, number = {}, 0, 0
    for key, piece in pieces.items():
        if shard and size + piece.numel() * 2 > SHARD_MIB * 2**20:
            save_file(shard, str(out / f"shard{number}.safetensors"))
            shard, size, number = {}, 0, number + 1
        shard[key], size = piece, size + piece.numel() * 2
    save_file(shard, str(out / f"shard{number}.safetensors"))


def assemble(shards: Path, start: Path, target: Path) -> None:
    """A float32 cross-encoder folder from the shards and START's other files."""
    import torch
    from safetensors.torch import load_file, save_file

    pieces: dict = {}
    for path in sorted(shards.glob("shard*.safetensors")):
        pieces.update(load_file(str(path)))
    state: dict = {}
    for key in sorted(pieces, key=lambda k: (k.split("@")[0], int(k.partition("@")[2] or 0))):
        state.setdefault(key.split("@")[0], []).append(pieces[key])
    target.mkdir(parents=True, exist_ok=True)
    for path in start.iterdir():
        if path.is_file() and path.suffix != ".safetensors":
            shutil.copy(path, target / path.name)
    tensors = {key: torch.cat(parts).float().contiguous() for key, parts in state.items()}
    save_file(tensors, str(target / "model.safetensors"))
    config = json.loads((target / "tokenizer_config.json").read_text())
    (target / "tokenizer_config.json").write_text(
        json.dumps({**config, "model_max_length": MAX_LENGTH})
    )
    shutil.copy(shards / "training.json", target / "training.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("verb", choices=["train", "assemble"])
    parser.add_argument("paths", nargs=3, type=Path)
    parser.add_argument("--seconds", type=float, default=110.0)
    args = parser.parse_args()
    if args.verb == "train":
        print(train(*args.paths, args.seconds))
    else:
        assemble(*args.paths)


if __name__ == "__main__":
    main()
