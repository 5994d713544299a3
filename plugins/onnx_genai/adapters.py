"""Turn the LoRA weights the builder bakes into a graph into a run-time adapter.

The builder, given ``adapter_path``, emits each adapted projection as
``MatMul(x, W) + MatMul(MatMul(x, A), B * scaling)`` with nodes named
``.../lora_A/MatMul`` and ``.../lora_B/MatMul``. Exporting makes A and B
graph inputs whose default values are empty (rank 0), so the model is the
base model until onnxruntime-genai's ``Adapters`` feed them, and writes the
weights to an ``.onnx_adapter`` file.
"""
from __future__ import annotations

import os
from pathlib import Path

from .builder_patches import LORA_NODE


def export_lora(model_dir: Path, adapter_file: Path) -> int:
    """Make the LoRA weights of ``model_dir/model.onnx`` inputs; write them to ``adapter_file``.

    Returns the number of tensors exported (0 when the graph has no LoRA nodes).
    """
    import numpy as np
    import onnx_ir as ir
    import onnxruntime as ort

    model_path = model_dir / "model.onnx"
    model = ir.load(model_path)
    weights = {}
    for node in model.graph:
        match = LORA_NODE.search(node.name or "")
        if node.op_type != "MatMul" or not match or len(node.inputs) < 2:
            continue
        value = node.inputs[1]
        if value is None or value.const_value is None or value.name in weights:
            continue
        array = value.const_value.numpy()
        weights[value.name] = np.array(array, copy=True)
        # A is [in, r], B is [r, out]: the rank axis is dynamic and empty by default.
        rank_axis = 1 if match.group(1) == "A" else 0
        empty = list(array.shape)
        empty[rank_axis] = 0
        dims: list = list(array.shape)
        dims[rank_axis] = "lora_rank"
        value.const_value = ir.tensor(np.zeros(empty, dtype=array.dtype), name=value.name)
        value.shape = ir.Shape(dims)
        model.graph.inputs.append(value)
    if not weights:
        return 0

    # Write next to the model, then swap, so the weights being read stay intact.
    staging = model_dir / ".export-adapter"
    staging.mkdir(exist_ok=True)
    ir.save(model, staging / "model.onnx", external_data="model.onnx.data")
    del model
    for name in ("model.onnx", "model.onnx.data"):
        os.replace(staging / name, model_dir / name)
    staging.rmdir()

    adapter = ort.AdapterFormat()
    adapter.set_adapter_version(1)
    adapter.set_model_version(1)
    adapter.set_parameters({k: ort.OrtValue.ortvalue_from_numpy(v) for k, v in weights.items()})
    adapter.export_adapter(str(adapter_file))
    return len(weights)
