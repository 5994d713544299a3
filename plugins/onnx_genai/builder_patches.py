"""Two scoped corrections to onnxruntime-genai's builder, active only during a build.

- The builder takes every linear layer with ``vocab_size`` outputs for the
  LM head (``Model.has_lm_head``). A layer that happens to be as wide as the
  vocabulary (the tiny Phi-3's fused gate_up_proj: 2 x 256 = 512) then
  corrupts the graph silently. For Hugging Face models we compare against
  the model's own output embedding instead.
- An exported adapter must stay in float, any rank, fed at run time, but the
  builder quantizes every MatMul in one graph-level step (``Model.to_nbits``);
  the LoRA MatMuls are added to its exclusion list just before that step.

Both patch the class for the duration of a ``with`` block and restore it.
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
