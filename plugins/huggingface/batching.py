"""Batches of training blocks: seeded order and padding only where lengths differ."""
from __future__ import annotations

import random
from collections.abc import Iterator, Sequence


def ordered_batches(blocks: Sequence[dict], batch_size: int, seed: int, group_by_length: bool) -> Iterator[list[dict]]:
    """One epoch of shuffled batches; with ``group_by_length``, similar lengths batch together.

    Grouping sorts within mega-batches of 50 batches (Trainer's
    LengthGroupedSampler idea), so order stays random at a coarse level.
    """
    order = list(range(len(blocks)))
    random.Random(seed).shuffle(order)
    if group_by_length:
        mega = batch_size * 50
        order = [i for s in range(0, len(order), mega)
                 for i in sorted(order[s:s + mega], key=lambda i: -len(blocks[i]["input_ids"]))]
    for start in range(0, len(order), batch_size):
        yield [blocks[i] for i in order[start:start + batch_size]]


def collate(batch: Sequence[dict], pad_id: int, device) -> dict:
    """Tensors for a batch; shorter blocks are right-padded (label -100, mask 0)."""
    import torch

    longest = max(len(b["input_ids"]) for b in batch)
    padded = any(len(b["input_ids"]) < longest for b in batch)
    with_mask = padded or any("attention_mask" in b for b in batch)
    ids, labels, masks = [], [], []
    for b in batch:
        pad = longest - len(b["input_ids"])
        ids.append(list(b["input_ids"]) + [pad_id] * pad)
        labels.append(list(b["labels"]) + [-100] * pad)
        if with_mask:
            masks.append(list(b.get("attention_mask") or [1] * len(b["input_ids"])) + [0] * pad)
    out = {"input_ids": torch.tensor(ids, device=device), "labels": torch.tensor(labels, device=device)}
    if with_mask:
        out["attention_mask"] = torch.tensor(masks, device=device)
    return out
