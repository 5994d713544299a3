"""``training_args``: checked against the installed transformers, without importing it.

Field names come from parsing ``transformers/training_args.py`` with ``ast``
(importing transformers pulls in torch, which ``modelpress validate`` must not).
:func:`trainer_kwargs` gives what the config leaves out Olive 0.13's meaning
(its LoRA/QLoRA defaults), so an Olive config trains the same way here.
"""
from __future__ import annotations

import ast
import importlib.util
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from modelpress.errors import did_you_mean

#: fields of the brief kept even where the installed transformers renamed them; and Olive's own
#: fields (Olive passes resume_from_checkpoint to ``Trainer.train`` and reads overwrite_output_dir itself)
COMPAT_FIELDS = {"group_by_length": "train_sampling_strategy='group_by_length'",
                 "resume_from_checkpoint": "Trainer.train(resume_from_checkpoint=...)",
                 "overwrite_output_dir": "start afresh even if output_dir holds checkpoints"}

#: what Olive 0.13's LoRA passes use for a field the config leaves out (HFTrainingArguments);
#: its warmup_ratio 0.03 reaches Trainer only where TrainingArguments still has that field
#: (Olive drops fields the installed transformers lacks; transformers 5 has none)
OLIVE_DEFAULTS = {"learning_rate": 2e-4, "lr_scheduler_type": "constant", "gradient_checkpointing": True,
                  "report_to": "none"}
OLIVE_WARMUP_RATIO = 0.03
#: QLoRA's additions (QLoRATrainingArguments)
OLIVE_QLORA_DEFAULTS = {**OLIVE_DEFAULTS, "optim": "paged_adamw_32bit"}


def _transformers_class(module: str, name: str) -> ast.ClassDef | None:
    """The class ``name`` of ``transformers/<module>.py``, parsed (None if not installed)."""
    spec = importlib.util.find_spec("transformers")
    if spec is None or not spec.submodule_search_locations:
        return None
    source = Path(next(iter(spec.submodule_search_locations))) / module
    if not source.is_file():
        return None
    tree = ast.parse(source.read_text(encoding="utf-8"))
    return next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name), None)


@lru_cache(maxsize=1)
def scheduler_types() -> tuple[str, ...]:
    """The values of the installed ``transformers.SchedulerType`` (empty if not installed)."""
    node = _transformers_class("trainer_utils.py", "SchedulerType")
    body = node.body if node is not None else []
    return tuple(stmt.value.value for stmt in body if isinstance(stmt, ast.Assign)
                 and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str))


@lru_cache(maxsize=1)
def transformers_fields() -> frozenset[str]:
    """Field names of the installed ``transformers.TrainingArguments`` (empty if not installed)."""
    node = _transformers_class("training_args.py", "TrainingArguments")
    if node is None:
        return frozenset()
    return frozenset(stmt.target.id for stmt in node.body
                     if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                     and not stmt.target.id.startswith("_") and "ClassVar" not in ast.unparse(stmt.annotation))


def check(training_args: Mapping[str, Any], where: str = "training_args") -> list[str]:
    """Problems of a ``training_args`` object: unknown fields and scheduler names, with a did-you-mean."""
    known = transformers_fields()
    if not known:  # transformers missing: the requirement check reports it
        return []
    allowed = known | set(COMPAT_FIELDS)
    problems = []
    for key in training_args:
        if key not in allowed:
            problems.append(f"{where}.{key}: not a field of transformers.TrainingArguments (installed "
                            f"version){did_you_mean(key, allowed)}")
    scheduler, known_schedulers = training_args.get("lr_scheduler_type"), scheduler_types()
    if isinstance(scheduler, str) and known_schedulers and scheduler not in known_schedulers:
        problems.append(f"{where}.lr_scheduler_type: unknown scheduler '{scheduler}' (transformers.SchedulerType "
                        f"has {', '.join(known_schedulers)})"
                        f"{did_you_mean(scheduler, known_schedulers) or '; use one of those'}")
    return problems


def trainer_kwargs(training_args: Mapping[str, Any], work_dir: Path, *, has_eval: bool,
                   torch_dtype: str, qlora: bool = False) -> dict:
    """Keyword arguments for ``TrainingArguments``, with Olive's meaning of what is left out.

    Olive's defaults fill missing fields; evaluation runs every ``eval_steps``
    when eval data is given (unless ``eval_strategy`` is ``epoch``) and never
    without; ``torch_dtype: float16`` means fp16 mixed precision. Without an
    ``output_dir`` checkpoints go nowhere (Olive writes them to a temporary
    folder it deletes), so ``save_strategy`` defaults to ``no`` there.
    """
    kwargs = {**(OLIVE_QLORA_DEFAULTS if qlora else OLIVE_DEFAULTS), **dict(training_args)}
    if "warmup_ratio" in transformers_fields():
        kwargs.setdefault("warmup_ratio", OLIVE_WARMUP_RATIO)
    for key in ("resume_from_checkpoint", "overwrite_output_dir"):
        kwargs.pop(key, None)
    if kwargs.pop("group_by_length", False) and "group_by_length" not in transformers_fields():
        kwargs.setdefault("train_sampling_strategy", "group_by_length")
    given = kwargs.get("eval_strategy")
    kwargs["eval_strategy"] = ("steps" if given in (None, "no") else given) if has_eval else "no"
    if torch_dtype == "float16":
        kwargs["fp16"] = True
    if not kwargs.get("output_dir"):
        kwargs["output_dir"] = str(work_dir / "trainer")
        kwargs.setdefault("save_strategy", "no")
    kwargs.setdefault("include_num_input_tokens_seen", True)
    return kwargs


def olive_differences(training_args: Mapping[str, Any], device: str = "cpu") -> list[str]:
    """One line per place where modelpress deliberately trains differently from Olive, with how to opt out."""
    differences = []
    if not training_args.get("output_dir") and "save_strategy" not in training_args:
        differences.append("training_args.output_dir: not set, so no checkpoints are written (Olive writes them "
                           "to a temporary folder and deletes it); set output_dir to keep checkpoints and resume "
                           "from them")
    if device == "cpu" and not (os.environ.get("MODELPRESS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")):
        differences.append("training_args: the torch thread count is chosen by timing training steps (Olive "
                           "keeps torch's default); set MODELPRESS_NUM_THREADS=N to fix it")
    return differences
