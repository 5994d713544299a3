"""Training with ``transformers.Trainer``, for ``training_args`` the lean loop does not implement."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from .batching import collate
from .training_args import trainer_kwargs


class _Blocks:
    """A list of blocks as a torch-style dataset."""

    def __init__(self, blocks: Sequence[dict]):
        self.blocks = blocks

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, i: int) -> dict:
        return self.blocks[i]


def train_with_trainer(model, train_blocks: Sequence[dict], eval_blocks: Sequence[dict],
                       args: Mapping[str, Any], pad_id: int, work_dir: Path) -> dict:
    """Train with Trainer; return a log in the same shape as the lean loop's."""
    from transformers import Trainer, TrainingArguments

    kwargs = trainer_kwargs(args, work_dir)
    if not eval_blocks:
        kwargs["eval_strategy"] = "no"
    targs = TrainingArguments(**kwargs)
    tokens = sum(len(b["input_ids"]) for b in train_blocks)
    trainer = Trainer(model=model, args=targs, train_dataset=_Blocks(train_blocks),
                      eval_dataset=_Blocks(eval_blocks) if eval_blocks else None,
                      data_collator=lambda batch: collate(batch, pad_id, "cpu"))
    start = time.perf_counter()
    out = trainer.train()
    seconds = time.perf_counter() - start
    epochs = out.metrics.get("epoch") or 1.0
    seen = tokens * epochs
    result = {"steps": out.global_step, "train_tokens": int(seen), "train_seconds": seconds,
              "wall_seconds": seconds, "tokens_per_second": seen / max(seconds, 1e-9),
              "log_history": [dict(h) for h in trainer.state.log_history], "trainer": "transformers.Trainer"}
    if eval_blocks and kwargs.get("eval_strategy", "no") != "no":
        result["eval_loss"] = trainer.evaluate()["eval_loss"]
    return result
