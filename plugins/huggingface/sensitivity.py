"""QuantizationSensitivity: measure which decoder layers an int4 build should keep in 8 bits.

An int4 build moves some of a fine-tuned model's answers, and a few layers
move them far more than the rest. This pass measures each layer's share on
the prompts of ``data_config`` (data the model was not trained on, not the
test set) with one forward and one backward pass:

1. the float32 model's next-token distribution after each prompt: the
   reference;
2. every decoder linear layer (and a 4-bit LM head) put on the int4 grid the
   ModelBuilder pass will write (:func:`.quant_aware.quantize_base`: the same
   algorithm, block size, symmetry and mixed precision);
3. the mean KL divergence of the int4 model's distributions from the
   reference, and its gradient ``g`` with respect to every int4 weight;
4. each layer's score: the first-order change of that divergence when the
   layer goes back to float, ``sum(g * (W_float - W_int4))`` (8 bits rounds
   16 times finer than 4, so its weights stand in for the 8-bit ones).

Layers the builder packs into one MatMul (a layer's q, k and v projections)
are scored and chosen together. The ``num_layers`` groups whose return
lowers the divergence most are recorded on the output handle
(``int8_layers``), which ModelBuilder keeps in 8 bits; ``sensitivity.json``
holds every score and the divergence of the int4 model with and without them.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelpress.components import ModelHandle, Pass
from modelpress.errors import UserError

from .loading import load_model, load_tokenizer

log = logging.getLogger(__name__)
WHERE = "QuantizationSensitivity"
_PROJECTION = re.compile(r"^(.*layers\.\d+\.(?:self_attn|attn))\.([qkv])_proj$")


def group_of(module: str) -> str:
    """The MatMul group of a linear layer: q/k/v of one layer share the builder's packed qkv_proj."""
    match = _PROJECTION.match(module)
    return f"{match.group(1)}.qkv" if match else module


def prompt_batches(tokenizer: Any, prompts: list[str], batch_size: int) -> list[dict]:
    """Left-padded batches, so every prompt's last token is the last position."""
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    try:
        return [dict(tokenizer(prompts[i:i + batch_size], return_tensors="pt", padding=True))
                for i in range(0, len(prompts), batch_size)]
    finally:
        tokenizer.padding_side = side


def next_token_logprobs(model: Any, batch: Mapping[str, Any]) -> Any:
    """log-probabilities of the token after each prompt of a left-padded batch, float32."""
    import torch

    device = next(model.parameters()).device
    out = model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device),
                logits_to_keep=1)
    return torch.log_softmax(out.logits[:, -1].float(), dim=-1)


def divergence(model: Any, batches: list[dict], reference: list[Any], *, backward: bool = False) -> float:
    """Mean KL(reference || model) over the prompts; with ``backward``, its gradients are accumulated."""
    import torch

    total = sum(len(b["input_ids"]) for b in batches)
    value = 0.0
    for batch, ref in zip(batches, reference, strict=True):
        with torch.set_grad_enabled(backward):
            logp = next_token_logprobs(model, batch)
            kl = (ref.exp() * (ref - logp)).sum() / total
            if backward:
                kl.backward()
        value += kl.item()
    return value


class Residual:
    """A layer's int4 rounding, ``weight - grid``, kept in 8 bits with a scale per row.

    The rounding of one block never exceeds about half its step, so 8 bits per row keep it
    to ~1 % (the scores compare layers, not exact values) at a quarter of float32's memory.
    """

    def __init__(self, rounding: Any):
        import torch

        self.scale = rounding.abs().amax(dim=1, keepdim=True).clamp_min(1e-30) / 127
        self.codes = torch.round(rounding / self.scale).to(torch.int8)

    def tensor(self) -> Any:
        return self.codes.float() * self.scale


def first_order_scores(model: Any, batches: list[dict], reference: list[Any],
                       residuals: Mapping[str, Any]) -> tuple[dict[str, float], float]:
    """({layer: first-order change of the divergence if ``residuals[layer]`` is added back}, divergence).

    One backward pass; each batch's gradient is folded into the scores as it arrives and freed,
    so no layer's gradient outlives its batch.
    """
    modules = dict(model.named_modules())
    scores = dict.fromkeys(residuals, 0.0)

    def fold(name: str):
        def hook(weight):
            scores[name] += float((weight.grad * residuals[name].tensor().to(weight.dtype)).sum())
            weight.grad = None
        return hook

    hooks = []
    try:
        for n in residuals:
            modules[n].weight.requires_grad_(True)
            hooks.append(modules[n].weight.register_post_accumulate_grad_hook(fold(n)))
        value = divergence(model, batches, reference, backward=True)
    finally:
        for hook in hooks:
            hook.remove()
        for n in residuals:
            modules[n].weight.requires_grad_(False)
    return scores, value


class QuantizationSensitivity(Pass):
    """Choose the decoder layers an int4 build keeps in 8 bits, by their measured effect."""

    name = "QuantizationSensitivity"
    schema = "modelpress.plugins.huggingface:schemas/QuantizationSensitivity.json"
    requires = {"torch": "pip install 'modelpress[finetune]'", "transformers": "pip install 'modelpress[finetune]'",
                "onnxruntime": "pip install 'modelpress[onnx]'"}
    libraries = ("torch", "transformers", "onnxruntime")
    accepts = ("HfModel",)
    produces = ("HfModel",)

    @classmethod
    def check_config(cls, config: Mapping[str, Any], accelerator: Any) -> list[str]:
        """The int4 settings, as ModelBuilder and LoRA's quantization_aware read them."""
        from .quant_aware import resolve

        try:
            resolve(config.get("int4_build") or {}, "int4_build")
        except UserError as exc:
            return [str(exc)]
        return []

    def run(self, model: ModelHandle, output_dir: Path) -> ModelHandle:
        """Score the layers; return the input model with ``int8_layers`` set, and write sensitivity.json."""
        import torch

        from .quant_aware import quantize_base, resolve

        cfg = self.config
        if model.config.get("adapter_path") or model.config.get("quantization"):
            raise UserError(f"{WHERE}: the input model carries an adapter; ModelBuilder quantizes the merged "
                            f"weights, so put MergeAdapterWeights before {WHERE}")
        build = dict(cfg.get("int4_build") or {})
        _, selectors = resolve(build, f"{WHERE}.int4_build")  # the same names and checks as quantization_aware
        head_bits = selectors.get("last_matmul", 4)
        prompts = self._prompts()
        device = self.context.accelerator.device
        tokenizer = load_tokenizer(model.config)
        net = load_model(model.config, device=device, dtype="float32", quantization=None, adapter=False)
        net.eval()
        for p in net.parameters():
            p.requires_grad_(False)
        batches = prompt_batches(tokenizer, prompts, int(cfg["batch_size"]))
        with torch.no_grad():
            reference = [next_token_logprobs(net, b) for b in batches]
        head = net.get_output_embeddings()
        modules = dict(net.named_modules())
        residuals: dict[str, Residual] = {}

        def keep(name: str, rounding: Any) -> None:
            if modules[name] is not head:  # the LM head is ModelBuilder's own choice
                residuals[name] = Residual(rounding)

        # an 8-bit LM head rounds 16 times finer than the int4 body: left in float (no untied copy)
        quantize_base(net, build, keep, f"{WHERE}.int4_build", with_head=head_bits < 8)
        scores, before = first_order_scores(net, batches, reference, residuals)
        groups: dict[str, dict[str, Any]] = {}
        for n in residuals:
            entry = groups.setdefault(group_of(n), {"layers": [], "score": 0.0})
            entry["layers"].append(n)
            entry["score"] += scores[n]
        ranked = sorted(groups.values(), key=lambda g: g["score"])
        chosen = [n for g in ranked[:int(cfg["num_layers"])] for n in g["layers"]]
        with torch.no_grad():  # the divergence with the chosen layers back in float: what the choice buys
            for n in chosen:
                modules[n].weight.add_(residuals[n].tensor().to(modules[n].weight.dtype))
            after = divergence(net, batches, reference)
        log.info("%s: divergence from the float model %.4f in int4, %.4f with these back in float: %s",
                 WHERE, before, after, ", ".join(chosen))
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        report = {"prompts": len(prompts), "int4_build": build,
                  "divergence": {"int4": before, "int4_with_chosen_in_float": after},
                  "int8_layers": chosen,
                  "groups": [{"layers": g["layers"], "first_order_change": g["score"]} for g in ranked]}
        (output_dir / "sensitivity.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
        return model.replace(int8_layers=chosen or None)

    def _prompts(self) -> list[str]:
        data = self.context.data(self.config["data_config"])
        rows = data.rows()[:int(self.config["max_samples"])]
        if not rows:
            raise UserError(f"{WHERE}.data_config: '{self.config['data_config']}' has no rows; give the prompts "
                            f"to measure on (e.g. a held-out split)")
        return [data.format(row) for row in rows]
