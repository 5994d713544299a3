"""ModelBuilder's int4 options on the tiny Phi-3: what each writes into the graph.

Guarantees: ``int4_mixed_precision: last_matmul:int8`` makes the LM head an
8-bit MatMulNBits while every other MatMul stays 4-bit (the plain int4 build
has a 4-bit LM head); ``int4_algo_config`` and ``int4_accuracy_level`` reach
every quantized MatMul; the builder's own option name is reserved in
extra_options.
"""
from __future__ import annotations

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

    def run(name, **config):
        the_pass = registry.create_pass({"type": "ModelBuilder", "precision": "int4", **config},
                                        RunContext(registry=registry, accelerator=CPU))
        handle = the_pass.run(registry.model_handle({"type": "HfModel", "model_path": str(tiny_phi3)}),
                              root / name / "model")
        graph = onnx.load(f"{handle.config['model_path']}/model.onnx", load_external_data=False).graph
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
