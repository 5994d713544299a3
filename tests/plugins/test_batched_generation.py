"""Batched generation gives the answers of one-at-a-time generation (greedy), PyTorch and ONNX.

Guarantees: ``session.generate(prompts)`` (one batch: left padding for
PyTorch, equal-length groups for ONNX Runtime GenAI) returns, for every
prompt, exactly the text that generating it alone returns, for prompts of
mixed and of equal token lengths, on the tiny Phi-3 in PyTorch, fp32 ONNX and
int4 ONNX; the accuracy metric gives the same answers and values with
``batch_size`` 1 and 8.
"""
from __future__ import annotations

import pytest

from modelpress.components import Accelerator, RunContext
from modelpress.evaluate.evaluator import evaluate_with_details

pytest.importorskip("torch")
CPU = Accelerator()
PROMPTS = ["### Text: I am thrilled ### The tone is:", "the storm at", "the party was", "the party is",
           "### Text: lost my keys again this is terrible at night ### The tone is:", "the storm is",
           "I cannot believe what just happened to my dog", "### Text: a gift ### The tone is:", "new job"]


@pytest.fixture(scope="module")
def onnx_builds(tiny_phi3, tmp_path_factory):
    """The tiny Phi-3 built to fp32 and int4 by the ModelBuilder pass."""
    from modelpress.registry import Registry, new_plugin_manager

    pytest.importorskip("onnxruntime_genai")
    registry = Registry(new_plugin_manager(autoload=False))
    out = tmp_path_factory.mktemp("batched")
    handles = {}
    for precision in ("fp32", "int4"):
        the_pass = registry.create_pass({"type": "ModelBuilder", "precision": precision},
                                        RunContext(registry=registry, accelerator=CPU))
        handles[precision] = the_pass.run(registry.model_handle({"type": "HfModel", "model_path": str(tiny_phi3)}),
                                          out / precision / "model")
    return handles


def one_at_a_time(session, prompts, n):
    return ["".join(session.generate_stream(p, max_new_tokens=n)) for p in prompts]


def test_pytorch_batch_equals_single(tiny_phi3):
    from modelpress.registry import Registry, new_plugin_manager

    registry = Registry(new_plugin_manager(autoload=False))
    handle = registry.model_handle({"type": "HfModel", "model_path": str(tiny_phi3)})
    with handle.open_session(CPU) as session:
        lengths = {len(session.prompt_ids(p)) for p in PROMPTS}
        assert len(lengths) > 3  # the batch really is padded
        single = one_at_a_time(session, PROMPTS, 12)
        assert session.generate(PROMPTS, max_new_tokens=12) == single
        assert session.generate(PROMPTS[:3], max_new_tokens=5) == [s for s in one_at_a_time(session, PROMPTS[:3], 5)]
    assert len(set(single)) > 1 and all(single)


@pytest.mark.parametrize("precision", ["fp32", "int4"])
def test_onnx_batch_equals_single(onnx_builds, precision):
    with onnx_builds[precision].open_session(CPU) as session:
        lengths = [len(session.encode(p)) for p in PROMPTS]
        assert len(set(lengths)) < len(lengths)  # some prompts share a length: a real batch runs
        single = one_at_a_time(session, PROMPTS, 12)
        assert session.generate(PROMPTS, max_new_tokens=12) == single
    assert len(set(single)) > 1 and all(single)


@pytest.mark.parametrize("model", ["pytorch", "int4"])
def test_accuracy_metric_same_with_and_without_batches(inline_rows_registry, tiny_phi3, onnx_builds, model):
    registry = inline_rows_registry
    rows = [{"text": p, "tone": ("joy", "fear", "sadness", "surprise")[i % 4]} for i, p in enumerate(PROMPTS)]
    handle = ({"type": "HfModel", "model_path": str(tiny_phi3)} if model == "pytorch"
              else {"type": "ONNXModel", "model_path": onnx_builds["int4"].config["model_path"]})
    results = []
    for batch_size in (1, 8):
        metric = {"name": "tone", "type": "accuracy", "data_config": "rows",
                  "user_config": {"label_col": "tone", "max_new_tokens": 6, "batch_size": batch_size,
                                  "examples": len(PROMPTS)},
                  "sub_types": [{"name": "accuracy"}, {"name": "exact_match"}, {"name": "unparsed_rate"}]}
        context = RunContext(registry, data_configs={"rows": {"type": "InlineRows", "rows": rows}})
        values, details = evaluate_with_details(registry.model_handle(handle), [metric], context)
        results.append((values, [(e["prompt"], e["answer"]) for e in details["tone"]["examples"]]))
    assert results[0] == results[1]
    assert [p for p, _ in results[0][1]] == PROMPTS  # answers back in row order
