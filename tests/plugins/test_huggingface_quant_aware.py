"""Quantization-aware LoRA: the base the adapter trains on is the base ModelBuilder writes.

Guarantees: for a tiny Llama (grouped KV heads, tied embeddings, 8 layers so
that mixed_layers picks some) and the builder methods default, rtn with the
LM head in int8 and k_quant_mixed, every linear layer and the LM head that
``quantize_base`` writes equals, within 1e-6, the weight onnxruntime itself
computes from the MatMulNBits node of a ModelBuilder build with the same
settings (dequantized by running that node on an identity matrix); the
number of 8-bit layers matches; the embeddings stay float and untied; a LoRA
pass with ``quantization_aware`` trains on that base.
"""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from modelpress.components import Accelerator, RunContext

from .conftest import LAYERS  # the tiny Llama's layers

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxruntime_genai")
CPU = Accelerator()

CASES = {"default": {"algo_config": "default"},
         "rtn-head-int8": {"algo_config": "rtn", "mixed_precision": "last_matmul:int8"},
         "k_quant_mixed": {"algo_config": "k_quant_mixed"}}


def ort_weights(model_dir):
    """name -> (bits, [N, K] float32 weight as onnxruntime's MatMulNBits computes with it)."""
    model = onnx.load(str(model_dir / "model.onnx"))
    inits = {i.name: i for i in model.graph.initializer}
    out = {}
    for node in model.graph.node:
        if node.op_type != "MatMulNBits":
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        k = attrs["K"]
        inputs = [i for i in node.input[1:4] if i]
        probe = onnx.helper.make_node("MatMulNBits", ["A", *inputs], ["Y"], domain="com.microsoft",
                                      K=k, N=attrs["N"], bits=attrs["bits"], block_size=attrs["block_size"],
                                      accuracy_level=0)  # float32 compute: the identity gives the weight itself
        graph = onnx.helper.make_graph([probe], "probe",
                                       [onnx.helper.make_tensor_value_info("A", onnx.TensorProto.FLOAT, [k, k])],
                                       [onnx.helper.make_tensor_value_info("Y", onnx.TensorProto.FLOAT, None)],
                                       [inits[i] for i in inputs])
        proto = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 21),
                                                             onnx.helper.make_opsetid("com.microsoft", 1)])
        session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        y = session.run(None, {"A": np.eye(k, dtype=np.float32)})[0]
        out[node.name] = (attrs["bits"], y.T)
    return out


def torch_weight(model, node_name):
    """The PyTorch weight a MatMulNBits node holds (the builder fuses q, k and v)."""
    if node_name.startswith("/lm_head/"):
        return model.lm_head.weight
    i, group, proj = re.match(r"/model/layers\.(\d+)/(attn|mlp)/(\w+)/", node_name).groups()
    layer = model.model.layers[int(i)]
    if proj == "qkv_proj":
        a = layer.self_attn
        return torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight])
    return getattr(layer.self_attn if group == "attn" else layer.mlp, proj).weight


@pytest.mark.parametrize("case", sorted(CASES))
def test_fake_quantized_base_equals_the_built_weights(tiny_llama, tmp_path, case):
    from transformers import AutoModelForCausalLM

    from modelpress.plugins.huggingface.quant_aware import quantize_base
    from modelpress.registry import Registry, new_plugin_manager

    aware = CASES[case]
    registry = Registry(new_plugin_manager(autoload=False))
    build = {"type": "ModelBuilder", "precision": "int4", "int4_algo_config": aware["algo_config"]}
    if aware.get("mixed_precision"):
        build["int4_mixed_precision"] = aware["mixed_precision"]
    the_pass = registry.create_pass(build, RunContext(registry=registry, accelerator=CPU))
    handle = the_pass.run(registry.model_handle({"type": "HfModel", "model_path": str(tiny_llama)}), tmp_path / "m")
    built = ort_weights(tmp_path / "m")

    model = AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=torch.float32)
    original = {n: p.detach().clone() for n, p in model.named_parameters()}
    names = quantize_base(model, aware)
    assert len(built) == 5 * LAYERS + 1 == len(names) - 2 * LAYERS  # q, k, v are one node
    for node, (_, weight) in built.items():
        mine = torch_weight(model, node).detach().numpy()
        assert mine.shape == weight.shape
        assert np.abs(mine - weight).max() <= 1e-6, node
    eight = sorted(n for n, (bits, _) in built.items() if bits == 8)
    expected = {"default": [], "rtn-head-int8": ["/lm_head/MatMul_Q8"],
                "k_quant_mixed": ["/lm_head/MatMul_Q8"] + [f"/model/layers.{i}/{p}/MatMul_Q8" for i in (0, 3, 6, 7)
                                                            for p in ("attn/qkv_proj", "mlp/down_proj")]}[case]
    assert eight == sorted(expected)
    # the grid moved the weights; the embeddings stayed float and are no longer shared with the head
    assert (model.lm_head.weight - original["model.embed_tokens.weight"]).abs().max() > 1e-4  # tied: one tensor
    assert torch.equal(model.model.embed_tokens.weight, original["model.embed_tokens.weight"])
    assert model.lm_head.weight is not model.model.embed_tokens.weight
    assert handle.config["model_path"]


def test_lora_pass_trains_on_the_grid(tiny_llama, tmp_path):
    from modelpress.registry import Registry, new_plugin_manager

    registry = Registry(new_plugin_manager(autoload=False))
    data = tmp_path / "tone.jsonl"
    data.write_text("".join(json.dumps({"text": f"the storm at night is frightening {i}"}) + "\n" for i in range(16)))
    context = RunContext(registry=registry, accelerator=CPU, data_configs={"train": {
        "type": "HuggingfaceContainer", "load_dataset_config": {"data_name": "json", "data_files": str(data)},
        "pre_process_data_config": {"text_cols": "text", "max_seq_len": 16}}})
    lora = registry.create_pass({"type": "LoRA", "train_data_config": "train", "r": 4, "torch_dtype": "float32",
                                 "quantization_aware": {"algo_config": "k_quant_mixed"},
                                 "training_args": {"max_steps": 2, "per_device_train_batch_size": 2}}, context)
    out = lora.run(registry.model_handle({"type": "HfModel", "model_path": str(tiny_llama)}), tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    assert out.config["adapter_path"] == str(tmp_path / "adapter")
