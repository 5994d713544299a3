"""MergeAdapterWeights: fold an adapter into its base and save a full model folder.

LoRA: the base is loaded in float32, the adapter merged, the result cast to
``dtype``. QLoRA: the adapter was trained against 4-bit weights, so the base
is loaded 4-bit exactly as training loaded it (the handle's quantization
record), every quantized linear weight is dequantised, and those weights --
the ones the adapter saw -- replace the full-precision ones before merging.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelpress.components import ModelHandle, Pass
from modelpress.errors import UserError

from .loading import default_dtype, load_model, load_tokenizer, torch_dtype


def dequantised_weights(handle_config: Mapping[str, Any], device: str) -> dict:
    """``{module name: float32 weight}`` of every 4-bit linear layer, as training saw them."""
    import bitsandbytes as bnb
    import bitsandbytes.functional as F

    # quantize from the same dtype training loaded, so the 4-bit blocks are identical
    quantized = load_model(handle_config, device=device, dtype=handle_config["quantization"].get("load_dtype"),
                           quantization=True, adapter=False)
    weights = {}
    for name, module in quantized.named_modules():
        if isinstance(module, bnb.nn.Linear4bit):
            w = module.weight
            weights[name] = F.dequantize_4bit(w.data, w.quant_state).float().cpu()
    del quantized
    return weights


def replace_weights(model, weights: Mapping[str, Any]) -> None:
    """Copy ``weights`` into ``model``'s modules of the same names."""
    import torch

    modules = dict(model.named_modules())
    missing = [n for n in weights if n not in modules]
    if missing:
        raise UserError(f"MergeAdapterWeights: quantized modules {missing[:3]} not found in the base model; "
                        f"the quantization record does not match model_path")
    with torch.no_grad():
        for name, w in weights.items():
            target = modules[name].weight
            target.copy_(w.to(target.dtype).reshape(target.shape))


class MergeAdapterWeights(Pass):
    """Merge a LoRA or QLoRA adapter into the base weights."""

    name = "MergeAdapterWeights"
    schema = "modelpress.plugins.huggingface:schemas/MergeAdapterWeights.json"
    requires = {"torch": "pip install 'modelpress[finetune]'", "transformers": "pip install 'modelpress[finetune]'",
                "peft": "pip install 'modelpress[finetune]'"}
    libraries = ("torch", "transformers", "peft")
    accepts = ("HfModel",)
    produces = ("HfModel",)

    def run(self, model: ModelHandle, output_dir: Path) -> ModelHandle:
        """Save the merged model in ``output_dir``; return a handle without adapter or quantization."""
        from peft import PeftModel

        cfg = model.config
        if not cfg.get("adapter_path"):
            raise UserError("MergeAdapterWeights: the input model has no adapter_path; put a LoRA or QLoRA pass "
                            "before it, or set adapter_path on the input model")
        device = self.context.accelerator.device
        dtype = self.config.get("dtype") or ("float16" if device == "gpu" else default_dtype(device))
        quant = cfg.get("quantization")
        if quant and importlib.util.find_spec("bitsandbytes") is None:
            raise UserError("MergeAdapterWeights: the adapter was trained on a 4-bit base and bitsandbytes "
                            "is not installed; pip install 'modelpress[qlora]'")
        weights = dequantised_weights(cfg, device) if quant else None
        base = load_model(cfg, device=device, dtype="float32", quantization=None, adapter=False)
        if weights:
            replace_weights(base, weights)
        merged = PeftModel.from_pretrained(base, cfg["adapter_path"]).merge_and_unload()
        merged = merged.to(torch_dtype(dtype, device))
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        merged.config.use_cache = True
        merged.save_pretrained(output_dir)
        load_tokenizer(cfg).save_pretrained(output_dir)
        if merged.generation_config is not None:
            merged.generation_config.save_pretrained(output_dir)
        return model.replace(model_path=str(output_dir), adapter_path=None, quantization=None, gguf_file=None,
                             model_name=None, model_file_format=None,
                             load_kwargs=self._load_kwargs(cfg))

    @staticmethod
    def _load_kwargs(cfg: Mapping[str, Any]) -> dict:
        # the merged folder stores its own dtype; keep only loading options
        from modelpress.frozen import thaw

        kwargs = thaw(cfg.get("load_kwargs") or {})
        for key in ("dtype", "torch_dtype", "quantization_config", "device_map"):
            kwargs.pop(key, None)
        return kwargs
