"""Train an adapter with ``transformers.Trainer``, as Olive does; what modelpress adds are callbacks.

The callbacks: :class:`~.thread_tuner.ThreadTuner` (torch thread count from
timed steps), :class:`TrainingLog` (tokens/s and the entries written to
``training_log.json``), :class:`SeededRebalance` (the run's seed for
``batch_rebalance``), and Trainer's own tqdm progress bar; the collator asks
for the answer's logits only where the loss is on the end of every block
(:func:`~.batching.collate`). Everything else
(step accounting, the last partial step of an epoch, evaluation, checkpoints,
``report_to``, ``resume_from_checkpoint``, several processes under
``torchrun``/``accelerate launch``) is Trainer's, so it behaves as its users
expect.
"""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from .batching import collate


class Blocks:
    """A list of blocks as a torch-style dataset."""

    def __init__(self, blocks: Sequence[dict]):
        self.blocks = blocks

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, i: int) -> dict:
        return self.blocks[i]


class TrainingLog(TrainerCallback):
    """Training time and tokens/s, measured around the steps only (not loading or saving)."""

    def __init__(self):
        self.seconds = 0.0
        self._start = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        """Start the step's clock."""
        self._start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        """Add the step's time."""
        self.seconds += time.perf_counter() - self._start


def key_args(targs) -> dict:
    """The training arguments an Olive comparison looks at, as Trainer resolved them."""
    return {"learning_rate": targs.learning_rate, "lr_scheduler_type": str(targs.lr_scheduler_type.value),
            "optim": str(targs.optim.value), "fp16": targs.fp16, "bf16": targs.bf16,
            "gradient_checkpointing": targs.gradient_checkpointing, "eval_strategy": str(targs.eval_strategy.value),
            "warmup_steps": targs.warmup_steps}


class SeededRebalance(TrainerCallback):
    """Seed ``train_sampling_strategy: batch_rebalance``'s order with the run's seed.

    transformers builds its BatchRebalanceSampler with a fixed seed (42), so
    the examples of each step would not change with ``seed``/``data_seed``
    as they do under the default random sampler.
    """

    def on_train_begin(self, args, state, control, train_dataloader=None, **kwargs):
        """Set the seed before the first epoch's order is drawn."""
        sampler = getattr(train_dataloader, "batch_sampler", None)
        sampler = getattr(sampler, "batch_sampler", sampler)  # accelerate's BatchSamplerShard wraps it
        if type(sampler).__name__ == "BatchRebalanceSampler":
            sampler.seed = args.data_seed if args.data_seed is not None else args.seed


def reads_answer_logits(model) -> bool:
    """Whether the model takes ``logits_to_keep`` and a causal-LM loss that accepts ``shift_labels``."""
    import inspect

    from transformers.loss.loss_utils import ForCausalLMLoss

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return ("logits_to_keep" in inspect.signature(type(base).forward).parameters
            and getattr(base, "loss_function", None) is ForCausalLMLoss)


def last_checkpoint(args: Mapping[str, Any]) -> str | None:
    """The checkpoint to resume from: the given one, else (as Olive) the last one in ``output_dir``."""
    if args.get("resume_from_checkpoint"):
        return str(args["resume_from_checkpoint"])
    out = args.get("output_dir")
    if out and not args.get("overwrite_output_dir") and Path(out).is_dir():
        from transformers.trainer_utils import get_last_checkpoint

        return get_last_checkpoint(out)
    return None


def train_with_trainer(model, train_blocks: Sequence[dict], eval_blocks: Sequence[dict], kwargs: Mapping[str, Any],
                       pad_id: int, resume: str | None = None) -> dict:
    """Train ``model`` with Trainer and ``TrainingArguments(**kwargs)``; return the training log."""
    from transformers import Trainer, TrainingArguments

    from .thread_tuner import ThreadTuner

    targs = TrainingArguments(**kwargs)
    tuner = ThreadTuner(targs.device.type)
    timer = TrainingLog()
    answer_logits = reads_answer_logits(model)
    trainer = Trainer(model=model, args=targs, train_dataset=Blocks(train_blocks),
                      eval_dataset=Blocks(eval_blocks) if eval_blocks else None,
                      data_collator=lambda batch: collate(batch, pad_id, "cpu", answer_logits),
                      callbacks=[tuner, timer, SeededRebalance()])
    start = time.perf_counter()
    out = trainer.train(resume_from_checkpoint=resume)
    wall = time.perf_counter() - start
    state = trainer.state
    tokens = int(state.num_input_tokens_seen or 0)
    result = {"trainer": "transformers.Trainer", "steps": state.global_step, "epochs": state.epoch,
              "train_tokens": tokens, "train_seconds": timer.seconds, "wall_seconds": wall,
              "tokens_per_second": tokens / max(timer.seconds, 1e-9), "train_loss": out.training_loss,
              "world_size": targs.world_size, "resumed_from": resume, "args": key_args(targs),
              "answer_logits": answer_logits,
              "log_history": [dict(h) for h in state.log_history], **tuner.summary()}
    evals = [h["eval_loss"] for h in state.log_history if "eval_loss" in h]
    if evals:
        result["eval_loss"] = evals[-1]
    return result
