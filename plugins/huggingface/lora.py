"""LoRA and QLoRA passes: train a PEFT adapter on a train data config.

The output is an adapter folder (``adapter_config.json`` and
``adapter_model.safetensors``, loadable by plain peft) plus
``training_log.json``, referenced by the input handle with ``adapter_path``
(and, for QLoRA, the ``quantization`` record the adapter was trained
against). The base weights are not copied.
"""
from __future__ import annotations

import json
import logging
import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelpress.components import Accelerator, ModelHandle, Pass
from modelpress.errors import UserError
from modelpress.frozen import thaw

from . import training_args as targs
from .loading import load_model, load_tokenizer

FINETUNE = "pip install 'modelpress[finetune]'"
#: target modules where peft has no default for the model type
DEFAULT_TARGETS = {"phi3": ["qkv_proj", "o_proj"], "phimoe": ["qkv_proj", "o_proj"]}
LOG_FILE = "training_log.json"
log = logging.getLogger("modelpress")


def target_modules(model_type: str, given: Any) -> Any:
    """The configured target modules, else the model type's default, else all linear layers."""
    if given:
        return given if isinstance(given, str) else list(given)
    if model_type in DEFAULT_TARGETS:
        return DEFAULT_TARGETS[model_type]
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as MAPPING

    return MAPPING.get(model_type) or "all-linear"


def split_eval(blocks: list[dict], size: float | int, seed: int) -> tuple[list[dict], list[dict]]:
    """Hold out ``size`` blocks (a fraction if < 1) as eval data, chosen with ``seed``."""
    count = round(len(blocks) * size) if size < 1 else int(size)
    if count <= 0:
        return blocks, []
    if count >= len(blocks):
        raise UserError(f"eval_dataset_size: {size} leaves no training blocks (the data makes {len(blocks)}); "
                        f"use a smaller fraction or more data")
    order = list(range(len(blocks)))
    random.Random(seed).shuffle(order)
    held = set(order[:count])
    return [b for i, b in enumerate(blocks) if i not in held], [blocks[i] for i in sorted(held)]


class LoRA(Pass):
    """Train a LoRA adapter (peft) on a causal LM."""

    name = "LoRA"
    schema = "modelpress.plugins.huggingface:schemas/LoRA.json"
    requires = {"torch": FINETUNE, "transformers": FINETUNE, "peft": FINETUNE}
    libraries = ("torch", "transformers", "peft")
    accepts = ("HfModel",)
    produces = ("HfModel",)

    @classmethod
    def check_config(cls, config: Mapping[str, Any], accelerator: Accelerator) -> list[str]:
        """training_args fields exist in the installed transformers; eval needs eval data."""
        args = config.get("training_args") or {}
        problems = targs.check(args)
        has_eval = config.get("eval_data_config") or config.get("eval_dataset_size")
        if str(args.get("eval_strategy") or "no") != "no" and not has_eval:
            problems.append(f"training_args.eval_strategy: '{args['eval_strategy']}' needs eval data; set "
                            f"eval_data_config or eval_dataset_size, or set eval_strategy to 'no'")
        if config.get("quantization_aware") and cls.name != "LoRA":
            problems.append("quantization_aware: QLoRA already trains on bitsandbytes' 4-bit base; use the LoRA "
                            "pass to train on ModelBuilder's int4 grid")
        if config.get("eval_data_config") and config.get("eval_dataset_size"):
            problems.append("eval_dataset_size: give either eval_data_config or eval_dataset_size, not both")
        return problems

    @classmethod
    def config_notes(cls, config: Mapping[str, Any], accelerator: Accelerator) -> list[str]:
        """Where this config trains differently from Olive on purpose (docs/olive-migration.md)."""
        args = config.get("training_args") or {}
        dtype = config.get("torch_dtype") or "bfloat16"
        differences = targs.olive_differences(args, accelerator.device) + bf16_note(dtype, args, accelerator.device)
        if config.get("eval_dataset_size") and not config.get("eval_data_config"):
            differences.append(f"eval_dataset_size: {config['eval_dataset_size']} of the training blocks are held out "
                               f"for evaluation, as Olive 0.5-0.6 did (Olive 0.13 ignores this key and trains on "
                               f"every block); remove it to train on every block, or give eval_data_config")
        return differences

    def quantization(self) -> dict | None:
        """The 4-bit record to train against (None: full precision)."""
        return None

    def target_modules(self, base) -> Any:
        """The modules to adapt (QLoRA: every 4-bit linear layer, as Olive)."""
        return target_modules(base.config.model_type, self.config.get("target_modules"))

    def run(self, model: ModelHandle, output_dir: Path) -> ModelHandle:
        """Train the adapter into ``output_dir``; return the handle with ``adapter_path``."""
        import torch
        from peft import LoraConfig, get_peft_model

        from .hf_trainer import last_checkpoint, train_with_trainer

        problems = self.check_config(self.config, self.context.accelerator)
        if problems:
            raise UserError(problems)
        if model.config.get("adapter_path"):
            raise UserError(f"{self.name}: the input model already has an adapter ({model.config['adapter_path']}); "
                            f"add a MergeAdapterWeights pass before training another one")
        cfg = self.config
        args = thaw(cfg.get("training_args") or {})
        dtype = cfg["torch_dtype"]  # defaults live in the schema only
        device = self.context.accelerator.device
        seed = int(args.get("seed", 42))
        data_seed = int(args.get("data_seed") if args.get("data_seed") is not None else seed)
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)

        tokenizer = load_tokenizer(model.config)
        train_blocks = self.context.data(cfg["train_data_config"]).token_blocks(tokenizer)
        eval_blocks: list[dict] = []
        if cfg.get("eval_data_config"):
            eval_blocks = self.context.data(cfg["eval_data_config"]).token_blocks(tokenizer)
        elif cfg.get("eval_dataset_size"):
            train_blocks, eval_blocks = split_eval(train_blocks, cfg["eval_dataset_size"], data_seed)
        kwargs = targs.trainer_kwargs(args, output_dir.parent, has_eval=bool(eval_blocks), torch_dtype=dtype,
                                      qlora=self.quantization() is not None)
        if device == "cpu" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            # under torchrun/accelerate launch on CPU, Trainer forms the process group only with use_cpu
            kwargs.setdefault("use_cpu", True)
            kwargs.setdefault("ddp_backend", "gloo")

        quant = self.quantization()
        aware = cfg.get("quantization_aware")
        # float16 means fp32 weights and fp16 mixed precision (full fp16 training is unstable), as in Olive
        load_dtype = "float32" if dtype == "float16" or aware else dtype
        base = load_model(model.config, device=device, dtype=load_dtype, quantization=quant, adapter=False)
        if aware:  # the grid is computed from the float32 weights, as ModelBuilder computes it
            from .quant_aware import quantize_base

            log.info("LoRA: base weights on the ModelBuilder grid (%s): %d layers", dict(aware),
                     len(quantize_base(base, aware)))
            base.to(getattr(torch, dtype if dtype != "float16" else "float32"))
        base.config.use_cache = False
        prepare_for_finetuning(base, kwargs)
        torch.manual_seed(seed)  # the adapter's initial weights
        lora = LoraConfig(r=int(cfg["r"]), lora_alpha=cfg["alpha"], lora_dropout=float(cfg["lora_dropout"]), bias="none",
                          target_modules=self.target_modules(base),
                          modules_to_save=list(cfg["modules_to_save"]) if cfg.get("modules_to_save") else None,
                          task_type="CAUSAL_LM")
        peft_model = get_peft_model(base, lora)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        resume = last_checkpoint(args)
        log_record = train_with_trainer(peft_model, train_blocks, eval_blocks, kwargs, pad_id, resume)
        log_record.update({"train_blocks": len(train_blocks), "eval_blocks": len(eval_blocks), "torch_dtype": dtype,
                           "trainable_parameters": sum(p.numel() for p in peft_model.parameters() if p.requires_grad)})
        if int(os.environ.get("RANK", "0")) == 0:  # one process writes under torchrun
            peft_model.save_pretrained(output_dir)
            (output_dir / LOG_FILE).write_text(json.dumps(log_record, indent=2, default=str), encoding="utf-8")
        return model.replace(adapter_path=str(output_dir), quantization=quant)


def prepare_for_finetuning(model, kwargs: Mapping[str, Any]) -> None:
    """Olive's preparation: freeze the base; with gradient checkpointing, let inputs carry gradients.

    ``accepts_loss_kwargs = False`` makes Trainer average the loss per
    micro-batch, as Olive sets it, so loss curves are comparable.
    """
    for param in model.parameters():
        param.requires_grad = False
    if kwargs.get("gradient_checkpointing") and model.supports_gradient_checkpointing:
        model.enable_input_require_grads()
        model.gradient_checkpointing_enable()
    model.accepts_loss_kwargs = False


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = f.read()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def bf16_note(dtype: str, args: Mapping[str, Any], device: str) -> list[str]:
    """A line when bfloat16 is asked for on a CPU that emulates it (slow, same meaning)."""
    differences: list[str] = []
    if device != "cpu" or cpu_has_bf16():
        return differences
    if dtype == "bfloat16":
        differences.append("torch_dtype: bfloat16 (Olive's default) is emulated on this CPU, which has no "
                           "AVX512-BF16/AMX: same results as Olive, slower; set torch_dtype: float32 to train "
                           "faster here (unlike Olive)")
    elif args.get("bf16"):
        differences.append("training_args.bf16: bfloat16 mixed precision is emulated on this CPU, which has no "
                           "AVX512-BF16/AMX: same results as Olive, slower; remove bf16 to train faster here "
                           "(unlike Olive)")
    return differences


class QLoRA(LoRA):
    """LoRA on a base loaded in 4 bits with bitsandbytes (nf4/fp4, double quant)."""

    name = "QLoRA"
    schema = "modelpress.plugins.huggingface:schemas/QLoRA.json"
    requires = {**LoRA.requires, "bitsandbytes": "pip install 'modelpress[qlora]'"}
    libraries = ("torch", "transformers", "peft", "bitsandbytes")

    def target_modules(self, base) -> Any:
        """Every 4-bit linear layer by its last name (Olive: find_submodules(model, Linear4bit))."""
        if self.config.get("target_modules"):
            return super().target_modules(base)
        import bitsandbytes as bnb

        return sorted({name.split(".")[-1] for name, m in base.named_modules() if isinstance(m, bnb.nn.Linear4bit)})

    def quantization(self) -> dict | None:
        """The bnb 4-bit record; compute_dtype resolved so merge can reproduce it exactly."""
        cfg = self.config
        dtype = cfg["torch_dtype"]
        # as Olive: compute in compute_dtype or torch_dtype; float16 keeps fp32 weights (mixed precision)
        return {"method": "bnb_4bit", "quant_type": cfg["quant_type"],
                "double_quant": bool(cfg["double_quant"]),
                "compute_dtype": cfg.get("compute_dtype") or dtype,
                "load_dtype": "float32" if dtype == "float16" else dtype}
