"""Scoped changes to onnxruntime-genai's builder, active only during a build.

- The builder takes every linear layer with ``vocab_size`` outputs for the
  LM head (``Model.has_lm_head``). A layer that happens to be as wide as the
  vocabulary (the tiny Phi-3's fused gate_up_proj: 2 x 256 = 512) then
  corrupts the graph silently. For Hugging Face models we compare against
  the model's own output embedding instead.
- An exported adapter must stay in float, any rank, fed at run time, but the
  builder quantizes every MatMul in one graph-level step (``Model.to_nbits``);
  the LoRA MatMuls are added to its exclusion list just before that step.
- ``int8_layers``: named decoder linear layers join the builder's per-node
  bit placement (8 bits) just before that step, whatever the algorithm.

Each patches the class for the duration of a ``with`` block and restores it.
"""
from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

LORA_NODE = re.compile(r"/lora_([AB])/MatMul$")


def _builder_model_class():
    import onnxruntime_genai.models.builder  # noqa: F401  (puts the builder's folder on sys.path)
    from builders.base import Model  # the module object the builder itself uses

    return Model


@contextlib.contextmanager
def _patched(cls, name: str, make) -> Iterator[bool]:
    original = cls.__dict__.get(name)
    if original is None:  # another builder version: leave it alone
        yield False
        return
    setattr(cls, name, make(original))
    try:
        yield True
    finally:
        setattr(cls, name, original)


def lm_head_by_identity():
    """While active, only the model's output embedding counts as the LM head."""
    import torch

    def make(original):
        def has_lm_head(self, module):
            get_head = getattr(self.weights, "get_output_embeddings", None)
            if isinstance(module, torch.nn.Linear) and callable(get_head):
                head = get_head()
                if isinstance(head, torch.nn.Linear):
                    return module is head
            return original(self, module)
        return has_lm_head

    return _patched(_builder_model_class(), "has_lm_head", make)


def keep_lora_unquantized():
    """While active, LoRA MatMuls stay out of int4/int8 weight quantization."""

    def make(original):
        def to_nbits(self, *args, **kwargs):
            for node in self.model.graph:
                if LORA_NODE.search(node.name or ""):
                    self.exclude_node_from_quantization(node.name)
            return original(self, *args, **kwargs)
        return to_nbits

    return _patched(_builder_model_class(), "to_nbits", make)


# ------------------------------------------------------------- int8 layers

_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)\.(self_attn|attn|mlp)\.(\w+)$")
#: a Hugging Face projection -> the builder nodes it may become (packed first, then as it is)
_PACKED = {"q_proj": "qkv_proj", "k_proj": "qkv_proj", "v_proj": "qkv_proj",
           "gate_proj": "gate_up_proj", "up_proj": "gate_up_proj"}
_UNPACKED = {"qkv_proj": ("q_proj", "k_proj", "v_proj"), "gate_up_proj": ("gate_proj", "up_proj")}


def layer_parts(module: str) -> tuple[int, str, str] | None:
    """(layer index, 'attn' or 'mlp', projection) of a decoder linear layer's module name."""
    match = _LAYER.search(module)
    if not match:
        return None
    layer, block, projection = match.groups()
    return int(layer), ("mlp" if block == "mlp" else "attn"), projection


def builder_nodes(module: str, emitted: set[str]) -> list[str]:
    """The MatMul nodes of the builder's graph that compute the linear layer ``module``.

    The builder packs q/k/v (and on some models gate/up) into one MatMul where the
    target allows it, and splits a checkpoint's packed projections where it does not.
    """
    parts = layer_parts(module)
    if parts is None:
        return []
    layer, block, projection = parts
    prefix = f"/model/layers.{layer}/{block}/"
    for names in ([projection], [_PACKED.get(projection, projection)], list(_UNPACKED.get(projection, ()))):
        nodes = [f"{prefix}{name}/MatMul" for name in names]
        if names and all(node in emitted for node in nodes):
            return nodes
    return []


def upgrade_to_int8(modules: list[str]):
    """While active, the MatMuls of the decoder linear layers ``modules`` are quantized to 8 bits.

    The int4 body, the algorithm and its options stay as configured; the named
    layers join the builder's per-node bit placement (the one its
    ``matmul_mixed_precision`` fills), just before the quantization step.
    """
    from modelpress.errors import UserError

    def make(original):
        def to_nbits(self, *args, **kwargs):
            emitted = {node.name for node in self.model.graph if node.op_type == "MatMul"}
            nodes = {module: builder_nodes(module, emitted) for module in modules}
            unknown = [module for module, found in nodes.items() if not found]
            if unknown:
                raise UserError(f"ModelBuilder.int8_layers: {', '.join(unknown)} not found among the "
                                f"model's decoder linear layers (e.g. model.layers.0.mlp.down_proj); "
                                f"name layers of this model")
            upgraded = {node: {"bits": 8} for found in nodes.values() for node in found}
            self.int4_customized_weight_config = {**(getattr(self, "int4_customized_weight_config", None) or {}),
                                                  **upgraded}
            # builders before 0.18 made the rtn/k_quant algorithm's config (with its own copy of
            # the placement) when the model was set up, and quantize with that one
            algo = (getattr(self, "quant_attrs", None) or {}).get("algo_config")
            if hasattr(algo, "customized_weight_config"):
                algo.customized_weight_config = {**(algo.customized_weight_config or {}), **upgraded}
            return original(self, *args, **kwargs)
        return to_nbits

    return _patched(_builder_model_class(), "to_nbits", make)
