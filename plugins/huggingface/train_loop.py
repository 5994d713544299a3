"""A lean training loop for adapters: the fields of ``training_args`` it knows, fast.

Why not ``transformers.Trainer``: on small models its per-step overhead
(callbacks, accelerate wrapping, padding collators) costs more than the
compute. This loop feeds packed blocks straight to the model, normalises the
loss by the number of predicted tokens across gradient-accumulation
micro-batches (as Trainer does), and follows Trainer's semantics for every
field it accepts (see ``training_args.LEAN_FIELDS``); any other field makes
the pass use Trainer (:mod:`.hf_trainer`).
"""
from __future__ import annotations

import math
import os
import sys
import time
from typing import Any, Iterator, Mapping, Sequence

from .batching import collate, ordered_batches


def physical_cores() -> int:
    """Physical CPU cores available to this process (hyper-threads do not help matmuls)."""
    try:
        allowed = os.sched_getaffinity(0)
        cores = set()
        for cpu in allowed:
            path = f"/sys/devices/system/cpu/cpu{cpu}/topology/core_id"
            pkg = f"/sys/devices/system/cpu/cpu{cpu}/topology/physical_package_id"
            with open(path) as c, open(pkg) as p:
                cores.add((p.read().strip(), c.read().strip()))
        return max(len(cores), 1)
    except (OSError, AttributeError):
        return os.cpu_count() or 1


class ThreadTuner:
    """Pick the torch thread count by timing real training steps (CPU only).

    On a busy machine fewer threads than physical cores can be several
    times faster (OpenMP threads wait on each other when one is descheduled),
    so the loop times one step at each candidate (physical cores, half, one)
    after a warm-up step and keeps the fastest for the rest of training.
    ``MODELPRESS_NUM_THREADS`` or ``OMP_NUM_THREADS`` fixes the count instead.
    """

    def __init__(self, device_type: str, total_steps: int):
        import torch

        fixed = os.environ.get("MODELPRESS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
        cores = physical_cores()
        self.original = torch.get_num_threads()
        if fixed:
            torch.set_num_threads(int(fixed))
        elif torch.get_num_threads() != cores:
            torch.set_num_threads(cores)
        candidates = sorted({cores, max(cores // 2, 1), 1}, reverse=True)
        tune = device_type == "cpu" and not fixed and len(candidates) > 1
        self.plan = candidates if tune and total_steps > len(candidates) + 2 else []
        self.times: dict[int, float] = {}
        self.chosen = torch.get_num_threads()

    def before(self, step: int) -> None:
        """Set the thread count for ``step`` (1-based)."""
        import torch

        if 2 <= step < 2 + len(self.plan):
            torch.set_num_threads(self.plan[step - 2])
        elif self.plan and step == 2 + len(self.plan):
            self.chosen = min(self.times, key=self.times.get)
            torch.set_num_threads(self.chosen)

    def restore(self) -> None:
        """Give the process its thread count back."""
        import torch

        torch.set_num_threads(self.original)

    def after(self, step: int, seconds_per_token: float) -> None:
        """Record the timing of a tuning step."""
        if 2 <= step < 2 + len(self.plan):
            self.times[self.plan[step - 2]] = seconds_per_token


def _schedule(optimizer, args: Mapping[str, Any], total_steps: int):
    from transformers import get_scheduler

    warmup = args.get("warmup_steps") or 0
    warmup = int(math.ceil(warmup * total_steps)) if isinstance(warmup, float) and warmup < 1 else int(warmup)
    return get_scheduler(args.get("lr_scheduler_type") or "linear", optimizer,
                         num_warmup_steps=warmup, num_training_steps=total_steps)


def _autocast(args: Mapping[str, Any], device_type: str):
    import contextlib

    import torch

    if args.get("bf16"):
        return torch.autocast(device_type, dtype=torch.bfloat16)
    if args.get("fp16"):
        return torch.autocast(device_type, dtype=torch.float16)
    return contextlib.nullcontext()


def evaluate_loss(model, blocks: Sequence[dict], args: Mapping[str, Any], pad_id: int, device) -> float:
    """Mean next-token loss over ``blocks`` (token-weighted)."""
    import torch

    model.eval()
    total, count = 0.0, 0
    bs = int(args.get("per_device_eval_batch_size") or 8)
    with torch.inference_mode(), _autocast(args, device.type):
        for start in range(0, len(blocks), bs):
            batch = collate(blocks[start:start + bs], pad_id, device)
            n = int((batch["labels"][:, 1:] != -100).sum())
            if n == 0:
                continue
            out = model(**batch, num_items_in_batch=n)
            total += float(out.loss) * n
            count += n
    model.train()
    return total / max(count, 1)


def train(model, train_blocks: Sequence[dict], eval_blocks: Sequence[dict], args: Mapping[str, Any],
          pad_id: int) -> dict:
    """Train ``model``'s trainable parameters; return the training log."""
    import torch

    device = next(p for p in model.parameters() if p.requires_grad).device
    seed = int(args.get("seed", 42))
    data_seed = int(args.get("data_seed") if args.get("data_seed") is not None else seed)
    bs = int(args.get("per_device_train_batch_size") or 8)
    accum = int(args.get("gradient_accumulation_steps") or 1)
    batches_per_epoch = math.ceil(len(train_blocks) / bs)
    steps_per_epoch = max(math.ceil(batches_per_epoch / accum), 1)
    max_steps = int(args.get("max_steps") or -1)
    total = max_steps if max_steps > 0 else math.ceil(float(args.get("num_train_epochs", 3.0)) * steps_per_epoch)
    log_every = args.get("logging_steps") or 500
    log_every = max(int(math.ceil(log_every * total)) if log_every < 1 else int(log_every), 1)
    eval_strategy = str(args.get("eval_strategy") or "no") if eval_blocks else "no"
    eval_every = args.get("eval_steps") or log_every
    eval_every = max(int(math.ceil(eval_every * total)) if eval_every < 1 else int(eval_every), 1)
    group = bool(args.get("group_by_length")) or args.get("train_sampling_strategy") == "group_by_length"

    if args.get("gradient_checkpointing"):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    params = [p for p in model.parameters() if p.requires_grad]
    decay = float(args.get("weight_decay") or 0.0)
    optimizer = torch.optim.AdamW(
        params, lr=float(args.get("learning_rate", 5e-5)), weight_decay=decay,
        betas=(float(args.get("adam_beta1", 0.9)), float(args.get("adam_beta2", 0.999))),
        eps=float(args.get("adam_epsilon", 1e-8)), fused=args.get("optim") == "adamw_torch_fused" or None)
    scheduler = _schedule(optimizer, args, total)
    clip = float(args.get("max_grad_norm", 1.0) or 0.0)

    def micro_batches() -> Iterator[tuple[int, list[dict]]]:
        epoch = 0
        while True:
            for batch in ordered_batches(train_blocks, bs, data_seed + epoch, group):
                yield epoch, batch
            epoch += 1

    history: list[dict] = []
    stream = micro_batches()
    tokens = 0
    window_loss, window_steps = 0.0, 0
    bar = None
    if not args.get("disable_tqdm"):
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="training", unit="step", file=sys.stderr, dynamic_ncols=True)
    model.train()
    tuner = ThreadTuner(device.type, total)
    start = time.perf_counter()
    train_time = 0.0
    for step in range(1, total + 1):
        tuner.before(step)
        step_start = time.perf_counter()
        tokens_before = tokens
        group_batches = [next(stream) for _ in range(accum)]
        epoch = group_batches[-1][0]
        tensors = [collate(b, pad_id, device) for _, b in group_batches]
        n_items = sum(int((t["labels"][:, 1:] != -100).sum()) for t in tensors)
        step_loss = 0.0
        for t in tensors:
            with _autocast(args, device.type):
                out = model(**t, num_items_in_batch=max(n_items, 1))
            out.loss.backward()
            step_loss += float(out.loss.detach())
            tokens += int(t["attention_mask"].sum()) if "attention_mask" in t else t["input_ids"].numel()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(params, clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step_time = time.perf_counter() - step_start
        train_time += step_time
        tuner.after(step, step_time / max(tokens - tokens_before, 1))
        window_loss += step_loss
        window_steps += 1
        speed = tokens / max(train_time, 1e-9)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{step_loss:.4f}", tok_s=f"{speed:,.0f}", refresh=False)
        if step % log_every == 0 or step == total:
            history.append({"step": step, "epoch": round(epoch + 1, 4), "loss": window_loss / window_steps,
                            "learning_rate": scheduler.get_last_lr()[0], "tokens_per_second": speed})
            window_loss, window_steps = 0.0, 0
        at_epoch_end = step % steps_per_epoch == 0
        if (eval_strategy == "steps" and step % eval_every == 0) or (eval_strategy == "epoch" and at_epoch_end):
            history.append({"step": step, "eval_loss": evaluate_loss(model, eval_blocks, args, pad_id, device)})
    if bar is not None:
        bar.close()
    result = {"steps": total, "torch_threads": tuner.chosen, "thread_timings": tuner.times,
              "train_tokens": tokens, "train_seconds": train_time,
              "wall_seconds": time.perf_counter() - start, "tokens_per_second": tokens / max(train_time, 1e-9),
              "log_history": history}
    if eval_blocks and eval_strategy != "no":
        evals = [h for h in history if "eval_loss" in h and h["step"] == total]
        result["eval_loss"] = evals[-1]["eval_loss"] if evals else evaluate_loss(model, eval_blocks, args, pad_id, device)
    tuner.restore()
    return result
