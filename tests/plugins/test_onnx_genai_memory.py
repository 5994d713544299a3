"""The low-memory int4/int8 build writes the same model as onnxruntime-genai's builder on its own.

"Plain" builds run the same pass with ``low_memory_build`` switched off, so
the comparison is byte for byte: same nodes, same initializers, same
genai_config.json.
"""
from __future__ import annotations

import contextlib
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from modelpress.components import Accelerator, RunContext

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime_genai")
pytest.importorskip("onnx_ir")

from modelpress.plugins.onnx_genai import builder_memory, lazy_weights  # noqa: E402

CPU = Accelerator()


@pytest.fixture(scope="module")
def registry():
    from modelpress.registry import Registry, new_plugin_manager

    return Registry(new_plugin_manager(autoload=False))


def build(registry, source: Path, out: Path, **config) -> Path:
    context = RunContext(registry=registry, accelerator=CPU)
    the_pass = registry.create_pass({"type": "ModelBuilder", **config}, context)
    the_pass.run(registry.model_handle({"type": "HfModel", "model_path": str(source)}), out)
    return out


def plain(monkeypatch):
    """Switch the memory patches off for the builds inside the returned context."""
    stack = contextlib.ExitStack()
    patch = stack.enter_context(monkeypatch.context())
    patch.setattr(builder_memory, "low_memory_build", lambda source, lazy: contextlib.nullcontext())
    return stack


def contents(folder: Path):
    model = onnx.load(str(folder / "model.onnx"))
    tensors = {t.name: onnx.numpy_helper.to_array(t, str(folder)) for t in model.graph.initializer}
    nodes = sorted((n.op_type, n.name, tuple(n.input), tuple(n.output),
                    sorted((a.name, str(a)) for a in n.attribute)) for n in model.graph.node)
    opsets = sorted((o.domain, o.version) for o in model.opset_import)
    return nodes, tensors, opsets, (folder / "genai_config.json").read_text()


def assert_same_model(a: Path, b: Path) -> None:
    nodes_a, tensors_a, opsets_a, config_a = contents(a)
    nodes_b, tensors_b, opsets_b, config_b = contents(b)
    assert nodes_a == nodes_b
    assert opsets_a == opsets_b and config_a == config_b
    assert tensors_a.keys() == tensors_b.keys()
    for name, value in tensors_a.items():
        assert value.dtype == tensors_b[name].dtype and value.shape == tensors_b[name].shape, name
        assert value.tobytes() == tensors_b[name].tobytes(), name


@pytest.fixture
def counted(monkeypatch):
    """Counts of weights read lazily, nodes quantized one by one and weights a whole-graph quantizer read."""
    counts = {"lazy_reads": 0, "nodes": 0, "scratch_reads": 0}
    read, one, to_array = lazy_weights.LazyLoader._read, builder_memory._quantize_one, onnx.numpy_helper.to_array

    def counting_to_array(tensor, base_dir=""):
        counts["scratch_reads"] += builder_memory._in_scratch(tensor)
        return to_array(tensor, base_dir)

    def counting_read(self, param):
        counts["lazy_reads"] += 1
        return read(self, param)

    def counting_one(*args):
        counts["nodes"] += 1
        return one(*args)

    monkeypatch.setattr(lazy_weights.LazyLoader, "_read", counting_read)
    monkeypatch.setattr(builder_memory, "_quantize_one", counting_one)
    monkeypatch.setattr(onnx.numpy_helper, "to_array", counting_to_array)
    return counts


@pytest.mark.parametrize("precision, fields", [
    ("int4", {"int4_block_size": 32}), ("int8", {}),
    # whole-graph algorithms: each weight read from the scratch file as the quantizer reaches it
    ("int4", {"int4_algo_config": "rtn", "int4_accuracy_level": 4}),
    ("int4", {"int4_algo_config": "k_quant", "int4_mixed_precision": "last_matmul:int8"})])
def test_streamed_build_equals_the_builders_own(registry, tiny_phi3, tmp_path, monkeypatch, counted, caplog,
                                                precision, fields):
    caplog.set_level(logging.INFO, logger="modelpress.plugins.onnx_genai.model_builder")
    streamed = build(registry, tiny_phi3, tmp_path / "streamed", precision=precision, **fields)
    whole_graph = "int4_algo_config" in fields  # rtn, k_quant: the quantizer reads each weight itself
    assert counted["lazy_reads"] > 0, "the low-memory path must have run"
    assert (counted["scratch_reads"] if whole_graph else counted["nodes"]) > 0, "weights read one at a time"
    assert "layer-by-layer loading not possible" not in caplog.text
    with plain(monkeypatch):
        reference = build(registry, tiny_phi3, tmp_path / "plain", precision=precision, **fields)
    assert_same_model(streamed, reference)
    nodes, *_ = contents(streamed)
    assert any(op == "MatMulNBits" for op, *_ in nodes)


def test_models_the_lazy_loader_cannot_read_are_built_the_ordinary_way(registry, tiny_phi3, tmp_path, monkeypatch,
                                                                       counted, caplog):
    """Weights in a PyTorch .bin file: no layer-by-layer reading, still the streamed quantizer, same model."""
    from safetensors.torch import load_file

    source = tmp_path / "bin-model"
    shutil.copytree(tiny_phi3, source)
    torch.save(load_file(str(source / "model.safetensors")), source / "pytorch_model.bin")
    (source / "model.safetensors").unlink()
    caplog.set_level(logging.INFO, logger="modelpress.plugins.onnx_genai.model_builder")
    streamed = build(registry, source, tmp_path / "streamed", precision="int4")
    assert "layer-by-layer loading not possible" in caplog.text
    assert counted["lazy_reads"] == 0 and counted["nodes"] > 0
    with plain(monkeypatch):
        reference = build(registry, tiny_phi3, tmp_path / "plain", precision="int4")
    assert_same_model(streamed, reference)


def test_fp32_builds_are_left_to_the_builder(registry, tiny_phi3, tmp_path, counted):
    out = build(registry, tiny_phi3, tmp_path / "fp32", precision="fp32")
    assert counted == {"lazy_reads": 0, "nodes": 0, "scratch_reads": 0}
    _, tensors, _, _ = contents(out)
    assert all(v.dtype == np.float32 for v in tensors.values() if v.dtype.kind == "f")


def test_a_failing_low_memory_build_is_built_again_the_builders_own_way(registry, tiny_phi3, tmp_path,
                                                                        monkeypatch, caplog):
    def broken(*args):
        raise RuntimeError("simulated failure inside the streamed quantizer")

    monkeypatch.setattr(builder_memory, "_quantize_one", broken)
    caplog.set_level(logging.INFO, logger="modelpress.plugins.onnx_genai.model_builder")
    rebuilt = build(registry, tiny_phi3, tmp_path / "rebuilt", precision="int4")
    assert "the low-memory build failed (RuntimeError: simulated failure" in caplog.text
    with plain(monkeypatch):
        reference = build(registry, tiny_phi3, tmp_path / "plain", precision="int4")
    assert_same_model(rebuilt, reference)
