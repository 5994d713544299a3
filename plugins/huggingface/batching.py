"""Batches of training blocks: padding only where lengths differ, the answer's logits only where that is the loss."""
from __future__ import annotations

from collections.abc import Sequence


def collate(batch: Sequence[dict], pad_id: int, device, answer_logits: bool = False) -> dict:
    """Tensors for a batch; shorter blocks are right-padded (label -100, mask 0).

    With ``answer_logits``, a batch whose loss is on a suffix of every block
    (completion-only data: the answer ends each block) is left-padded instead,
    with explicit ``position_ids`` (each block's positions as unpadded), and
    asks the model for the logits of that suffix only: ``logits_to_keep``
    (the last positions) and ``shift_labels`` (their targets), transformers'
    own arguments. The loss is the same cross-entropy over the same tokens;
    the vocabulary-sized logits, their log-softmax and gradients are no
    longer made for the prompt's positions. Batches where the loss starts
    near the front stay right-padded.
    """
    import torch

    longest = max(len(b["input_ids"]) for b in batch)
    keep = answer_span(batch) if answer_logits else longest
    if keep < longest:
        return _left_padded(batch, pad_id, device, longest, keep)
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


def answer_span(batch: Sequence[dict]) -> int:
    """How many last positions' logits the loss reads once the blocks are left-padded to one length.

    Position ``p`` predicts token ``p + 1``, so a block whose first label is at
    ``f`` needs the logits from ``f - 1`` to its end (the last one predicts
    nothing and keeps the count simple).
    """
    span = 1
    for b in batch:
        labels = b["labels"]
        first = next((i for i, label in enumerate(labels) if label != -100), None)
        if first is not None:
            span = max(span, len(labels) - max(first, 1) + 1)
    return span


def _left_padded(batch: Sequence[dict], pad_id: int, device, longest: int, keep: int) -> dict:
    import torch

    ids, labels, masks, positions, targets = [], [], [], [], []
    for b in batch:
        pad = longest - len(b["input_ids"])
        ids.append([pad_id] * pad + list(b["input_ids"]))
        row = [-100] * pad + list(b["labels"])
        labels.append(row)
        masks.append([0] * pad + list(b.get("attention_mask") or [1] * len(b["input_ids"])))
        positions.append([0] * pad + list(range(len(b["input_ids"]))))
        targets.append([*row[1:], -100][-keep:])
    return {"input_ids": torch.tensor(ids, device=device), "attention_mask": torch.tensor(masks, device=device),
            "position_ids": torch.tensor(positions, device=device), "labels": torch.tensor(labels, device=device),
            "shift_labels": torch.tensor(targets, device=device), "logits_to_keep": keep}
