"""Split data/dataset-classification.json into data/train.jsonl and data/heldout.jsonl.

Duplicate rows are dropped first (the source repeats 321 of its 1,464 rows),
so no held-out phrase is ever seen in training; then 12 % of each tone's
phrases are held out (stratified, seeded), so the rare tone (sadness) is in
the held-out set too. Rerunning gives the same files.
"""
from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).parent / "data"
HELD_OUT = 0.12
SEED = 0


def main() -> None:
    rows = [json.loads(line) for line in (HERE / "dataset-classification.json").read_text(encoding="utf-8").splitlines()
            if line.strip()]
    unique = list({(r["phrase"], r["tone"]): r for r in rows}.values())
    by_tone = defaultdict(list)
    for row in unique:
        by_tone[row["tone"]].append(row)
    rng = random.Random(SEED)
    train, heldout = [], []
    for tone in sorted(by_tone):
        group = by_tone[tone]
        rng.shuffle(group)
        cut = round(len(group) * HELD_OUT)
        heldout += group[:cut]
        train += group[cut:]
    rng.shuffle(train)
    rng.shuffle(heldout)
    for name, part in (("train.jsonl", train), ("heldout.jsonl", heldout)):
        (HERE / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part), encoding="utf-8")
        counts = {t: sum(r["tone"] == t for r in part) for t in sorted(by_tone)}
        print(f"{name}: {len(part)} rows {counts}")


if __name__ == "__main__":
    main()
