"""``training_args``: checked against the installed transformers, without importing it.

Field names come from parsing ``transformers/training_args.py`` with ``ast``
(importing transformers pulls in torch, which ``modelpress validate`` must not).
:func:`uses_lean_loop` decides whether the fast built-in loop implements every
given field; any other valid field makes the pass train with
``transformers.Trainer`` instead, so no option is silently ignored.
"""
from __future__ import annotations

import ast
import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from modelpress.errors import did_you_mean

#: fields of the brief kept even where the installed transformers renamed them
COMPAT_FIELDS = {"group_by_length": "train_sampling_strategy='group_by_length'"}

#: fields the built-in loop implements (the rest need transformers.Trainer)
LEAN_FIELDS = {
    "seed", "data_seed", "per_device_train_batch_size", "per_device_eval_batch_size",
    "gradient_accumulation_steps", "gradient_checkpointing", "learning_rate", "num_train_epochs",
    "max_steps", "logging_steps", "eval_strategy", "eval_steps", "group_by_length", "adam_beta1",
    "adam_beta2", "adam_epsilon", "max_grad_norm", "weight_decay", "warmup_steps", "lr_scheduler_type",
    "bf16", "fp16", "optim", "disable_tqdm", "report_to", "output_dir", "save_strategy",
    "logging_strategy", "train_sampling_strategy", "dataloader_num_workers", "overwrite_output_dir",
    "do_train", "do_eval", "remove_unused_columns", "use_cpu", "save_total_limit", "logging_dir",
}
LEAN_VALUES = {
    "optim": {"adamw_torch", "adamw_torch_fused", "adamw_hf"},
    "eval_strategy": {"no", "steps", "epoch"},
    "logging_strategy": {"steps"},
    "save_strategy": {"no", "steps", "epoch", "best"},
    "lr_scheduler_type": {"linear", "constant", "constant_with_warmup", "cosine"},
    "train_sampling_strategy": {"random", "group_by_length"},
}


@lru_cache(maxsize=1)
def transformers_fields() -> frozenset[str]:
    """Field names of the installed ``transformers.TrainingArguments`` (empty if not installed)."""
    spec = importlib.util.find_spec("transformers")
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    source = Path(list(spec.submodule_search_locations)[0]) / "training_args.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "TrainingArguments":
            return frozenset(
                stmt.target.id for stmt in node.body
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                and not stmt.target.id.startswith("_")
                and "ClassVar" not in ast.unparse(stmt.annotation))
    return frozenset()


def check(training_args: Mapping[str, Any], where: str = "training_args") -> list[str]:
    """Problems of a ``training_args`` object: unknown fields, with a did-you-mean."""
    known = transformers_fields()
    if not known:  # transformers missing: the requirement check reports it
        return []
    allowed = known | set(COMPAT_FIELDS)
    problems = []
    for key in training_args:
        if key not in allowed:
            problems.append(f"{where}.{key}: not a field of transformers.TrainingArguments (installed "
                            f"version){did_you_mean(key, allowed)}")
    return problems


def uses_lean_loop(training_args: Mapping[str, Any]) -> bool:
    """Whether the built-in loop implements every given field and value."""
    for key, value in training_args.items():
        if key not in LEAN_FIELDS:
            return False
        if key in LEAN_VALUES and value is not None and str(value) not in LEAN_VALUES[key]:
            return False
    return True


def trainer_kwargs(training_args: Mapping[str, Any], output_dir: Path) -> dict:
    """Keyword arguments for ``TrainingArguments`` (compat fields translated)."""
    kwargs = dict(training_args)
    if kwargs.pop("group_by_length", False) and "group_by_length" not in transformers_fields():
        kwargs.setdefault("train_sampling_strategy", "group_by_length")
    kwargs.setdefault("output_dir", str(output_dir / "trainer"))
    kwargs.setdefault("report_to", "none")
    kwargs.setdefault("save_strategy", "no")
    return kwargs
