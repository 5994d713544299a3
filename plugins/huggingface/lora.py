"""LoRA and QLoRA passes: train a PEFT adapter on a train data config.

The output is an adapter folder (``adapter_config.json`` and
``adapter_model.safetensors``, loadable by plain peft) plus
``training_log.json``, referenced by the input handle with ``adapter_path``
(and, for QLoRA, the ``quantization`` record the adapter was trained
against). The base weights are not copied.
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, Mapping

from modelpress.components import Accelerator, ModelHandle, Pass
from modelpress.errors import UserError
from modelpress.frozen import thaw

from . import training_args as targs
from .loading import default_dtype, load_model, load_tokenizer

FINETUNE = "pip install 'modelpress[finetune]'"
#: target modules where peft has no default for the model type
DEFAULT_TARGETS = {"phi3": ["qkv_proj", "o_proj"], "phimoe": ["qkv_proj", "o_proj"]}
LOG_FILE = "training_log.json"


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
    count = int(round(len(blocks) * size)) if size < 1 else int(size)
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
    schema = "passes/LoRA.json"
    requires = {"torch": FINETUNE, "transformers": FINETUNE, "peft": FINETUNE}
    libraries = ("torch", "transformers", "peft")
    accepts = ("HfModel",)

    @classmethod
    def check_config(cls, config: Mapping[str, Any], accelerator: Accelerator) -> list[str]:
        """training_args fields exist in the installed transformers; eval needs eval data."""
        args = config.get("training_args") or {}
        problems = targs.check(args)
        has_eval = config.get("eval_data_config") or config.get("eval_dataset_size")
        if str(args.get("eval_strategy") or "no") != "no" and not has_eval:
            problems.append(f"training_args.eval_strategy: '{args['eval_strategy']}' needs eval data; set "
                            f"eval_data_config or eval_dataset_size, or set eval_strategy to 'no'")
        if config.get("eval_data_config") and config.get("eval_dataset_size"):
            problems.append("eval_dataset_size: give either eval_data_config or eval_dataset_size, not both")
        return problems

    def quantization(self) -> dict | None:
        """The 4-bit record to train against (None: full precision)."""
        return None

    def run(self, model: ModelHandle, output_dir: Path) -> ModelHandle:
        """Train the adapter into ``output_dir``; return the handle with ``adapter_path``."""
        import torch
        from peft import LoraConfig, get_peft_model

        problems = self.check_config(self.config, self.context.accelerator)
        if problems:
            raise UserError(problems)
        if model.config.get("adapter_path"):
            raise UserError(f"{self.name}: the input model already has an adapter ({model.config['adapter_path']}); "
                            f"add a MergeAdapterWeights pass before training another one")
        cfg = self.config
        args = thaw(cfg.get("training_args") or {})
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

        quant = self.quantization()
        base = load_model(model.config, device=device, dtype=cfg.get("torch_dtype"), quantization=quant,
                          adapter=False)
        base.config.use_cache = False
        torch.manual_seed(seed)  # the adapter's initial weights
        lora = LoraConfig(r=int(cfg.get("r", 64)), lora_alpha=cfg.get("alpha", 16),
                          lora_dropout=float(cfg.get("lora_dropout", 0.05)), bias="none",
                          target_modules=target_modules(base.config.model_type, cfg.get("target_modules")),
                          modules_to_save=list(cfg["modules_to_save"]) if cfg.get("modules_to_save") else None,
                          task_type="CAUSAL_LM")
        peft_model = get_peft_model(base, lora)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        if targs.uses_lean_loop(args):
            from .train_loop import train

            log = train(peft_model, train_blocks, eval_blocks, args, pad_id)
            log["trainer"] = "modelpress"
        else:
            from .hf_trainer import train_with_trainer

            log = train_with_trainer(peft_model, train_blocks, eval_blocks, args, pad_id, output_dir.parent)
        log.update({"train_blocks": len(train_blocks), "eval_blocks": len(eval_blocks),
                    "trainable_parameters": sum(p.numel() for p in peft_model.parameters() if p.requires_grad)})
        peft_model.save_pretrained(output_dir)
        (output_dir / LOG_FILE).write_text(json.dumps(log, indent=2), encoding="utf-8")
        return model.replace(adapter_path=str(output_dir), quantization=quant)


class QLoRA(LoRA):
    """LoRA on a base loaded in 4 bits with bitsandbytes (nf4/fp4, double quant)."""

    name = "QLoRA"
    schema = "passes/QLoRA.json"
    requires = {**LoRA.requires, "bitsandbytes": "pip install 'modelpress[qlora]'"}
    libraries = ("torch", "transformers", "peft", "bitsandbytes")

    def quantization(self) -> dict | None:
        """The bnb 4-bit record; compute_dtype resolved so merge can reproduce it exactly."""
        cfg = self.config
        load_dtype = cfg.get("torch_dtype") or default_dtype(self.context.accelerator.device)
        return {"method": "bnb_4bit", "quant_type": cfg.get("quant_type", "nf4"),
                "double_quant": bool(cfg.get("double_quant", False)),
                "compute_dtype": cfg.get("compute_dtype") or load_dtype, "load_dtype": load_dtype}
