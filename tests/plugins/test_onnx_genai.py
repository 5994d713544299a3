"""ModelBuilder and onnxruntime-genai sessions on the tiny Phi-3, against PyTorch.

One LoRA adapter (random, non-zero B) is made with plain peft; its merged
model comes from peft's merge_and_unload. Builds are shared per module.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modelpress.components import Accelerator, RunContext
from modelpress.errors import UserError

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime_genai")
pytest.importorskip("onnx_ir")

CPU = Accelerator()
PROMPT = "I am thrilled the new job is wonderful"


@pytest.fixture(scope="module")
def registry():
    from modelpress.registry import Registry, new_plugin_manager

    return Registry(new_plugin_manager(autoload=False))


@pytest.fixture(scope="module")
def lora(tiny_phi3, tmp_path_factory):
    """Adapter folder, merged folder and the PyTorch references for PROMPT."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    work = tmp_path_factory.mktemp("lora")
    tok = AutoTokenizer.from_pretrained(tiny_phi3)
    ids = tok(PROMPT)["input_ids"]
    base = AutoModelForCausalLM.from_pretrained(tiny_phi3)
    with torch.no_grad():
        base_logits = base(torch.tensor([ids])).logits[0].numpy()
    torch.manual_seed(1)
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0,
                                                 target_modules=["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]))
    for name, param in peft_model.named_parameters():
        if "lora_B" in name:  # peft starts B at zero: an adapter that changes nothing proves nothing
            torch.nn.init.normal_(param, std=0.2)
    peft_model.save_pretrained(work / "tone")
    with torch.no_grad():
        peft_logits = peft_model(torch.tensor([ids])).logits[0].numpy()
    merged = peft_model.merge_and_unload()
    merged.save_pretrained(work / "merged")
    tok.save_pretrained(work / "merged")
    with torch.no_grad():
        greedy = merged.generate(torch.tensor([ids]), max_new_tokens=16, do_sample=False)[0, len(ids):].tolist()
    assert np.abs(peft_logits - base_logits).max() > 0.1, "the adapter must change the model"
    return {"adapter": work / "tone", "merged": work / "merged", "ids": ids, "base": base_logits,
            "peft": peft_logits, "greedy": greedy, "text": tok.decode(greedy)}


@pytest.fixture(scope="module")
def build(registry, tmp_path_factory):
    """``build(name, handle fields, **pass config)`` -> output handle, built once per name."""
    built = {}
    root = tmp_path_factory.mktemp("builds")

    def run(name, fields, **config):
        if name not in built:
            context = RunContext(registry=registry, accelerator=CPU)
            the_pass = registry.create_pass({"type": "ModelBuilder", **config}, context)
            built[name] = the_pass.run(registry.model_handle({"type": "HfModel", **fields}), root / name / "model")
        return built[name]

    return run


def logits_of(handle, ids):
    with handle.open_session(CPU) as session:
        return session.logits(ids)


def test_fp32_logits_and_greedy_output_match_pytorch(build, lora):
    handle = build("fp32-merged", {"model_path": str(lora["merged"])}, precision="fp32")
    folder = Path(handle.config["model_path"])
    for name in ("model.onnx", "model.onnx.data", "genai_config.json", "tokenizer.json", "tokenizer_config.json"):
        assert (folder / name).is_file(), name
    assert handle.to_json() == {"type": "ONNXModel", "model_path": str(folder)}
    with handle.open_session(CPU) as session:
        assert np.abs(session.logits(lora["ids"]) - lora["peft"]).max() < 1e-4
        assert list(session.generate_ids(lora["ids"], max_new_tokens=16)) == lora["greedy"]
        streamed = "".join(session.generate_stream(PROMPT, max_new_tokens=16))
    # A random model can emit byte tokens that are not valid UTF-8: the two
    # tokenizers mend those differently, so compare up to the first one.
    cut = lora["text"].find("\ufffd")
    assert streamed == lora["text"] if cut < 0 else streamed.startswith(lora["text"][:cut])


def test_negative_log_likelihood_matches_pytorch(build, lora):
    handle = build("fp32-merged", {"model_path": str(lora["merged"])}, precision="fp32")
    logits = torch.tensor(lora["peft"][:-1], dtype=torch.float64)
    expected = torch.nn.functional.cross_entropy(logits, torch.tensor(lora["ids"][1:]), reduction="sum").item()
    with handle.open_session(CPU) as session:
        (nll, count), = session.negative_log_likelihood([PROMPT])
        assert count == len(lora["ids"]) - 1
        assert abs(nll - expected) < 1e-3
        assert session.count_tokens(PROMPT) == len(lora["ids"])
        assert session.negative_log_likelihood([PROMPT], max_length=3)[0][1] == 2


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    """A tiny Phi-3 whose gate_up_proj (2 x intermediate 256) is as wide as its 512-token vocabulary."""
    from modelpress.testing import build_tiny_phi3

    return build_tiny_phi3(tmp_path_factory.mktemp("wide"), hidden_size=128, vocab_size=512)


def test_layers_as_wide_as_the_vocabulary_build_correctly(build, wide):
    # The builder takes any Linear with vocab_size outputs for the LM head.
    from transformers import AutoModelForCausalLM

    folder = wide
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert 2 * model.config.intermediate_size == model.config.vocab_size
    ids = [5, 40, 77, 123, 300]
    with torch.no_grad():
        expected = model(torch.tensor([ids])).logits[0].numpy()
    handle = build("fp32-wide", {"model_path": str(folder)}, precision="fp32")
    assert np.abs(logits_of(handle, ids) - expected).max() < 1e-4


def test_without_the_correction_such_models_are_refused(wide):
    from modelpress.plugins.onnx_genai.builder_source import check_lm_head

    with pytest.raises(UserError, match="gate_up_proj has 512 outputs, as many as the vocabulary"):
        check_lm_head(wide)


def test_int4_builds_and_generates(build, tiny_phi3, lora):
    import onnx

    handle = build("int4-base", {"model_path": str(tiny_phi3)}, precision="int4", int4_block_size=32)
    folder = Path(handle.config["model_path"])
    graph = onnx.load(folder / "model.onnx", load_external_data=False).graph
    assert sum(node.op_type == "MatMulNBits" for node in graph.node) >= 9  # 4 per layer + LM head
    with handle.open_session(CPU) as session:
        tokens = list(session.generate_ids(lora["ids"], max_new_tokens=8))
        assert 1 <= len(tokens) <= 8
        # int4 stays close to the model it quantizes
        assert np.abs(session.logits(lora["ids"]) - lora["base"]).max() < 1.0


def test_adapter_in_the_input_is_built_into_the_graph(build, tiny_phi3, lora):
    handle = build("fp32-baked", {"model_path": str(tiny_phi3), "adapter_path": str(lora["adapter"])},
                   precision="fp32")
    assert "adapters" not in handle.config
    assert np.abs(logits_of(handle, lora["ids"]) - lora["peft"]).max() < 1e-4


def test_exported_adapter_switches_between_merged_and_base(build, tiny_phi3, lora):
    handle = build("fp32-export", {"model_path": str(tiny_phi3), "adapter_path": str(lora["adapter"])},
                   precision="fp32", export_adapter=True)
    adapter_file = Path(handle.config["adapters"]["tone"])
    assert adapter_file.name == "tone.onnx_adapter" and adapter_file.parent == Path(handle.config["model_path"])
    assert handle.config["active_adapter"] == "tone"  # what a workflow evaluates is the fine-tune
    on = logits_of(handle, lora["ids"])
    off = logits_of(handle.replace(active_adapter=None), lora["ids"])
    assert np.abs(on - lora["peft"]).max() < 1e-4
    assert np.abs(off - lora["base"]).max() < 1e-4


def test_int4_export_keeps_the_adapter_in_float(build, tiny_phi3, lora):
    import onnx

    handle = build("int4-export", {"model_path": str(tiny_phi3), "adapter_path": str(lora["adapter"])},
                   precision="int4", export_adapter=True, adapter_name="tone-v1")
    graph = onnx.load(Path(handle.config["model_path"]) / "model.onnx", load_external_data=False).graph
    lora_nodes = [n for n in graph.node if "/lora_A/" in n.name or "/lora_B/" in n.name]
    assert lora_nodes and all(n.op_type == "MatMul" for n in lora_nodes)
    base = build("int4-base", {"model_path": str(tiny_phi3)}, precision="int4", int4_block_size=32)
    off = logits_of(handle.replace(active_adapter=None), lora["ids"])
    assert np.abs(off - logits_of(base, lora["ids"])).max() < 1e-4  # switched off: the int4 base model
    on = logits_of(handle, lora["ids"])
    assert handle.config["active_adapter"] == "tone-v1"
    assert np.abs(on - lora["peft"]).max() < np.abs(off - lora["peft"]).max() / 2


def test_activate_adapter_false_leaves_the_base_active(build, tiny_phi3, lora):
    handle = build("fp32-export-off", {"model_path": str(tiny_phi3), "adapter_path": str(lora["adapter"])},
                   precision="fp32", export_adapter=True, activate_adapter=False)
    assert "active_adapter" not in handle.config and set(handle.config["adapters"]) == {"tone"}
    assert np.abs(logits_of(handle, lora["ids"]) - lora["base"]).max() < 1e-4


def test_generate_function_streams_applies_the_template_and_selects_adapters(build, tiny_phi3, lora):
    from modelpress.plugins.onnx_genai import generate

    handle = build("fp32-export", {"model_path": str(tiny_phi3), "adapter_path": str(lora["adapter"])},
                   precision="fp32", export_adapter=True)
    folder = handle.config["model_path"]
    pieces = []
    text = generate(folder, PROMPT, max_tokens=8, raw=True, stream=pieces.append)
    assert pieces and "".join(pieces) == text
    templated = f"<|user|>\n{PROMPT}<|end|>\n<|assistant|>\n"
    assert generate(folder, PROMPT, max_tokens=8) == generate(folder, templated, max_tokens=8, raw=True)
    with_adapter = generate(folder, PROMPT, max_tokens=8, raw=True, adapter="tone")
    assert with_adapter != text
    with pytest.raises(UserError, match="no adapter named 'tne'; did you mean 'tone'"):
        generate(folder, PROMPT, adapter="tne")
    with pytest.raises(UserError, match="has no genai_config.json"):
        generate(tiny_phi3, PROMPT)


def test_detect_finds_the_folder_and_its_adapters(build, tiny_phi3, lora, registry):
    handle = build("fp32-export", {"model_path": str(tiny_phi3), "adapter_path": str(lora["adapter"])},
                   precision="fp32", export_adapter=True)
    cls = registry.get("model_type", "ONNXModel").cls
    folder = Path(handle.config["model_path"])
    assert cls.detect(folder) == {"model_path": str(folder), "adapters": {"tone": str(folder / "tone.onnx_adapter")}}
    assert cls.detect(tiny_phi3) is None


def test_qlora_adapter_input_is_refused_with_the_fix(build, tiny_phi3, lora):
    quant = {"method": "bnb_4bit", "quant_type": "nf4", "double_quant": True, "compute_dtype": "bfloat16"}
    with pytest.raises(UserError, match="add a MergeAdapterWeights pass before ModelBuilder"):
        build("qlora", {"model_path": str(tiny_phi3), "adapter_path": str(lora["adapter"]), "quantization": quant},
              precision="int4")


def test_export_adapter_without_adapter_and_remote_models_are_user_errors(build, tmp_path):
    with pytest.raises(UserError, match="has no adapter_path to export"):
        build("no-adapter", {"model_path": str(tmp_path)}, precision="fp32", export_adapter=True)
    with pytest.raises(UserError, match="is not a local folder"):
        build("hub", {"model_path": "microsoft/Phi-3-mini-4k-instruct"}, precision="int4")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "no-such-architecture"}))
    with pytest.raises(UserError, match="refused"):
        build("unsupported", {"model_path": str(tmp_path)}, precision="int4")
