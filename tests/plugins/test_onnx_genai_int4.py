"""ModelBuilder's int4 options on the tiny Phi-3: what each writes into the graph.

Guarantees: ``int4_mixed_precision: last_matmul:int8`` makes the LM head an
8-bit MatMulNBits while every other MatMul stays 4-bit (the plain int4 build
has a 4-bit LM head); ``int4_algo_config`` and ``int4_accuracy_level`` reach
every quantized MatMul; the builder's own option name is reserved in
extra_options. ``int8_layers`` (from the config or the input model's handle)
makes exactly the named layers' MatMuls 8-bit and leaves every other weight
byte for byte as the build without it writes it.
"""
from __future__ import annotations

import re

import pytest

from modelpress.components import Accelerator, RunContext

pytest.importorskip("onnxruntime_genai")
onnx = pytest.importorskip("onnx")
CPU = Accelerator()


@pytest.fixture(scope="module")
def build(tiny_phi3, tmp_path_factory):
    from modelpress.registry import Registry, new_plugin_manager

    registry = Registry(new_plugin_manager(autoload=False))
    root = tmp_path_factory.mktemp("int4-options")

    def run(name, handle_fields=None, weights=False, **config):
        the_pass = registry.create_pass({"type": "ModelBuilder", "precision": "int4", **config},
                                        RunContext(registry=registry, accelerator=CPU))
        model = registry.model_handle({"type": "HfModel", "model_path": str(tiny_phi3), **(handle_fields or {})})
        handle = the_pass.run(model, root / name / "model")
        graph = onnx.load(f"{handle.config['model_path']}/model.onnx", load_external_data=weights).graph
        if weights:
            from onnx import numpy_helper

            return {t.name: numpy_helper.to_array(t).tobytes() for t in graph.initializer}
        return {n.name: {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
                for n in graph.node if n.op_type == "MatMulNBits"}

    return run


def test_mixed_precision_keeps_the_lm_head_in_int8(build):
    plain = build("plain")
    mixed = build("mixed", int4_algo_config="k_quant", int4_accuracy_level=1,
                  int4_mixed_precision="last_matmul:int8")
    head = [n for n in mixed if n.startswith("/lm_head/")]
    assert len(head) == 1 and mixed[head[0]]["bits"] == 8
    assert {a["bits"] for n, a in mixed.items() if n not in head} == {4}
    assert len(mixed) == len(plain) and len(mixed) > 10
    assert {a["bits"] for a in plain.values()} == {4}
    assert {a["accuracy_level"] for a in mixed.values()} == {1}
    assert {a["accuracy_level"] for a in plain.values()} == {4}  # the builder's CPU default


def test_mixed_precision_is_checked():
    from modelpress.plugins.onnx_genai.model_builder import ModelBuilder

    assert ModelBuilder.check_config({"precision": "int4", "int4_mixed_precision": "last_matmul:int8"}, CPU) == []
    lines = ModelBuilder.check_config({"precision": "fp32", "int4_mixed_precision": "last_matmul:int8"}, CPU)
    assert lines == ["int4_mixed_precision: applies to int4 and int8 precision only; "
                     "remove it or set precision to int4"]
    lines = ModelBuilder.check_config({"precision": "int4",
                                       "extra_options": {"matmul_mixed_precision": "last_matmul:int8"}}, CPU)
    assert lines == ["extra_options.matmul_mixed_precision: not allowed here; use the int4_mixed_precision field"]


K_QUANT = {"int4_algo_config": "k_quant", "int4_accuracy_level": 4}
UPGRADED = ["model.layers.0.self_attn.qkv_proj", "model.layers.1.mlp.down_proj"]


def test_int8_layers_upgrade_exactly_the_named_layers(build):
    plain = build("k_quant", **K_QUANT)
    mixed = build("int8-layers", int8_layers=UPGRADED, **K_QUANT)
    eight = sorted(n for n, a in mixed.items() if a["bits"] == 8)
    assert eight == ["/model/layers.0/attn/qkv_proj/MatMul_Q8", "/model/layers.1/mlp/down_proj/MatMul_Q8"]
    assert {a["bits"] for n, a in mixed.items() if n not in eight} == {4}
    assert len(mixed) == len(plain)
    # the same layers when a sensitivity pass put them on the input model's handle
    assert build("handle", handle_fields={"int8_layers": UPGRADED}, **K_QUANT) == mixed


def test_int8_layers_leave_every_other_weight_as_it_was(build):
    plain = build("k_quant-w", weights=True, **K_QUANT)
    mixed = build("int8-layers-w", weights=True, int8_layers=UPGRADED, **K_QUANT)
    named = re.compile(r"layers\.0[./]attn[./]qkv_proj|layers\.1[./]mlp[./]down_proj")
    changed = {n for n in plain if mixed.get(n) != plain[n]}
    assert changed and all(named.search(n) for n in changed)  # the 4-bit tensors they replace
    added = {n for n in mixed if n not in plain}
    assert all(named.search(n) for n in added) and sum("_Q8G32" in n for n in added) == 2


def test_int8_layers_from_the_handle_are_ignored_by_other_precisions(build):
    plain = build("int8-plain", precision="int8")
    assert build("int8-handle", precision="int8", handle_fields={"int8_layers": UPGRADED}) == plain


def test_builder_node_names_of_hugging_face_layers():
    from modelpress.plugins.onnx_genai.builder_patches import builder_nodes

    packed = {"/model/layers.2/attn/qkv_proj/MatMul", "/model/layers.2/mlp/gate_proj/MatMul",
              "/model/layers.2/mlp/up_proj/MatMul"}
    split = {"/model/layers.2/attn/q_proj/MatMul", "/model/layers.2/attn/k_proj/MatMul",
             "/model/layers.2/attn/v_proj/MatMul", "/model/layers.2/mlp/gate_proj/MatMul",
             "/model/layers.2/mlp/up_proj/MatMul"}
    assert builder_nodes("model.layers.2.self_attn.k_proj", packed) == ["/model/layers.2/attn/qkv_proj/MatMul"]
    assert builder_nodes("model.layers.2.self_attn.qkv_proj", split) == [
        "/model/layers.2/attn/q_proj/MatMul", "/model/layers.2/attn/k_proj/MatMul",
        "/model/layers.2/attn/v_proj/MatMul"]
    assert builder_nodes("model.layers.2.mlp.gate_proj", packed) == ["/model/layers.2/mlp/gate_proj/MatMul"]
    assert builder_nodes("model.layers.3.mlp.gate_proj", packed) == []
    assert builder_nodes("lm_head", packed) == []


def test_int8_layers_are_checked(build):
    from modelpress.errors import UserError
    from modelpress.plugins.onnx_genai.model_builder import ModelBuilder

    assert ModelBuilder.check_config({"precision": "int4", "int8_layers": UPGRADED}, CPU) == []
    assert ModelBuilder.check_config({"precision": "int8", "int8_layers": UPGRADED}, CPU) == [
        "int8_layers: applies to int4 precision only (the layers named stay 8-bit in an int4 body); "
        "remove it or set precision to int4"]
    assert ModelBuilder.check_config({"precision": "int4", "int8_layers": ["lm_head"]}, CPU) == [
        "int8_layers: 'lm_head' is not a decoder linear layer; name one as the model does, e.g. "
        "model.layers.3.mlp.down_proj (the LM head: int4_mixed_precision last_matmul:int8)"]
    with pytest.raises(UserError, match=r"int8_layers: model.layers.7.mlp.down_proj not found among"):
        build("missing", int8_layers=["model.layers.7.mlp.down_proj"], **K_QUANT)
