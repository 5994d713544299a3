"""Quantization-aware LoRA: train the adapter on the base weights ModelBuilder will write.

ModelBuilder's int4 (and int8) models hold each linear layer as a
MatMulNBits weight: blocks of ``block_size`` inputs per output, quantized by
onnxruntime's quantizer with the method the build names (``default``: the
MLAS quantizer; ``rtn``; ``k_quant``), and some layers at 8 bits under a
mixed-precision placement (``last_matmul``: the LM head; ``mixed_layers``:
llama.cpp's choice of sensitive layers). This module computes those
weights with onnxruntime's own quantizer functions, dequantized (``(q -
zero_point) * scale``, in float32 as MatMulNBits computes), and writes them
into the PyTorch base before the adapter is attached, so the adapter learns
to correct the model it will run on: the int4 base with the adapter in float
(ModelBuilder ``export_adapter``). The embeddings stay float, as ModelBuilder
leaves them; a tied LM head is untied first.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from modelpress.errors import UserError

WHERE = "passes.lora.quantization_aware"
#: ModelBuilder's legacy algorithm names: base method + mixed-precision placement
ALIASES = {"rtn_last": ("rtn", "last_matmul:int8"), "k_quant_last": ("k_quant", "last_matmul:int8"),
           "k_quant_mixed": ("k_quant", "last_matmul:int8,mixed_layers:int8")}
BITS = {"int4": 4, "int8": 8}


def resolve(config: Mapping[str, Any], where: str = WHERE) -> tuple[str, dict[str, int]]:
    """(base method, selector -> bits) of a quantization_aware config, as ModelBuilder reads it."""
    algo = config.get("algo_config") or "default"
    placement = config.get("mixed_precision") or ""
    if algo in ALIASES:
        algo, implied = ALIASES[algo]
        placement = ",".join(p for p in (implied, placement) if p)
    if algo not in ("default", "rtn", "k_quant"):
        raise UserError(f"{where}.algo_config: unknown method '{algo}'; use default, rtn, k_quant, "
                        f"rtn_last, k_quant_last or k_quant_mixed (as in ModelBuilder)")
    selectors: dict[str, int] = {}
    for item in filter(None, placement.split(",")):
        name, _, kind = item.partition(":")
        selectors[name] = BITS[kind]
    if algo == "default" and any(b != 4 for b in selectors.values()):
        raise UserError(f"{where}.mixed_precision: with algo_config 'default' ModelBuilder quantizes the "
                        f"upgraded layers in extra passes that this option does not mirror; use rtn or k_quant")
    return algo, selectors


def mixed_layers(num_layers: int) -> set[int]:
    """ModelBuilder's (llama.cpp's) sensitive layers: first and last eighth, and every third between."""
    return {i for i in range(num_layers)
            if i < num_layers / 8 or i >= 7 * num_layers / 8 or (i - round(num_layers / 8)) % 3 == 2}


def layer_bits(name: str, num_layers: int, selectors: Mapping[str, int], body: int = 4) -> int:
    """Bits of the MatMulNBits weight that the PyTorch linear layer ``name`` becomes."""
    if name.split(".")[-1] == "lm_head":
        return selectors.get("last_matmul", body)
    match = re.search(r"layers\.(\d+)\.(?:self_attn|attn|mlp)\.(\w+)$", name)
    if match and "mixed_layers" in selectors and int(match.group(1)) in mixed_layers(num_layers) \
            and match.group(2) in ("q_proj", "k_proj", "v_proj", "qkv_proj", "down_proj"):
        return selectors["mixed_layers"]  # q/k/v are fused into qkv_proj by the builder
    return body


def fake_quantize(weight: Any, bits: int, block_size: int, algo: str, symmetric: bool,
                  rows_per_chunk: int | None = None) -> Any:
    """The dequantized MatMulNBits weight of a PyTorch ``[out, in]`` weight (numpy float32, same shape).

    Every method rounds each block of ``block_size`` inputs of one output on its own, so the rows
    are quantized a chunk at a time (about 2M weights): the quantizers' temporaries, several times
    the chunk's size, stay small for an LM head or a wide MLP.
    """
    import numpy as np

    w = np.asarray(weight, dtype=np.float32)
    rows = rows_per_chunk or max(1, (1 << 21) // max(1, w.shape[1]))
    if w.shape[0] <= rows:
        return _fake_quantize_rows(w, bits, block_size, algo, symmetric)
    return np.concatenate([_fake_quantize_rows(w[i:i + rows], bits, block_size, algo, symmetric)
                           for i in range(0, w.shape[0], rows)])


def _fake_quantize_rows(w: Any, bits: int, block_size: int, algo: str, symmetric: bool) -> Any:
    import numpy as np

    n, k = w.shape
    blocks = -(-k // block_size)
    padded = np.zeros((n, blocks * block_size), dtype=np.float32)
    padded[:, :k] = w
    if algo == "default":
        from onnxruntime.quantization.matmul_nbits_quantizer import (
            DefaultWeightOnlyQuantConfig,
            DefaultWeightOnlyQuantizer,
        )

        quantizer = DefaultWeightOnlyQuantizer(DefaultWeightOnlyQuantConfig(
            block_size=block_size, is_symmetric=symmetric, bits=bits))
        packed, scales, zero_points = quantizer.qbits_block_quant(np.ascontiguousarray(w.T))
        q = unpack(packed.reshape(n, -1), bits)[:, :blocks * block_size].reshape(n * blocks, block_size)
        if symmetric:
            zp = np.full((n * blocks, 1), 1 << (bits - 1), dtype=np.float32)
        else:
            zp = unpack(zero_points, bits)[:, :blocks].reshape(-1, 1).astype(np.float32)
        scale = scales.reshape(-1, 1)
    else:
        from onnxruntime.quantization.neural_compressor import weight_only as wo

        if algo == "k_quant":  # CPU without cupy, after an INFO line per call that is silenced here
            quiet = logging.getLogger("neural_compressor")
            level = quiet.level
            quiet.setLevel(logging.WARNING)
            try:
                q, scale, zp = wo.quant_tensor_k_quant_cuda(padded, bits, block_size)
            finally:
                quiet.setLevel(level)
        else:
            q, scale, zp = wo.quant_tensor(padded, bits, block_size, "sym" if symmetric else "asym", "uint", 1)
    # MatMulNBits keeps scales in the weight's dtype (float32) and computes (q - zero_point) * scale
    scale = np.asarray(scale).astype(np.float32)
    deq = (np.asarray(q, dtype=np.float32) - np.asarray(zp, dtype=np.float32)) * scale
    return deq.reshape(n, -1)[:, :k]


def unpack(packed: Any, bits: int) -> Any:
    """uint8 bytes -> one value per element (4 bits: low nibble first), rows kept."""
    import numpy as np

    packed = np.asarray(packed, dtype=np.uint8)
    if bits == 8:
        return packed.astype(np.float32)
    out = np.empty((packed.shape[0], packed.shape[1] * 2), dtype=np.float32)
    out[:, 0::2] = packed & 0x0F
    out[:, 1::2] = packed >> 4
    return out


def quantize_base(model: Any, config: Mapping[str, Any], residual: Callable[[str, Any], None] | None = None,
                  where: str = WHERE, with_head: bool = True) -> list[str]:
    """Put every decoder linear layer and the LM head of ``model`` on the ModelBuilder grid; their names.

    ``residual``, when given, is called with each layer's name and rounding ``weight - grid``
    (float32); ``with_head=False`` leaves the LM head (and a tied embedding) as it is.
    """
    import torch

    algo, selectors = resolve(config, where)
    block = int(config.get("block_size") or 32)
    symmetric = config.get("is_symmetric", True) is not False
    layers = int(getattr(model.config, "num_hidden_layers", 0) or 0)
    head = model.get_output_embeddings() if with_head else None
    if head is not None and head.weight is model.get_input_embeddings().weight:
        head.weight = torch.nn.Parameter(head.weight.detach().clone(), requires_grad=False)  # untie
        model.config.tie_word_embeddings = False
    done = []
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear) or not (".layers." in f".{name}" or module is head):
            continue
        bits = layer_bits(name, layers, selectors)
        with torch.no_grad():
            grid = torch.from_numpy(fake_quantize(module.weight.detach().float().cpu().numpy(), bits, block, algo,
                                                  symmetric)).to(module.weight.device)
            if residual is not None:
                residual(name, module.weight.detach().float() - grid)
            module.weight.copy_(grid.to(module.weight.dtype))
        done.append(name)
    if not done:
        raise UserError(f"{where}: the model has no linear layers under 'layers' or an LM head to quantize")
    return done
