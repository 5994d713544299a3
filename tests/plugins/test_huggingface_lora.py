"""LoRA and QLoRA training, plain-peft loading, and MergeAdapterWeights, on the tiny Phi-3."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelpress.components import Accelerator, RunContext
from modelpress.errors import UserError

TONES = ["joy", "sadness", "fear", "surprise"]
PHRASES = ["I won the lottery", "I lost my keys again", "The storm at night is frightening",
           "What just happened", "My dog is happy", "The exam results are terrible",
           "This party is wonderful", "I cannot believe the news", "The movie was sad", "A new job"]
TRAIN_ARGS = {"seed": 0, "data_seed": 42, "per_device_train_batch_size": 4, "per_device_eval_batch_size": 4,
              "gradient_accumulation_steps": 2, "learning_rate": 3e-3, "max_steps": 24, "logging_steps": 4,
              "eval_strategy": "steps", "eval_steps": 12, "max_grad_norm": 0.3, "adam_beta2": 0.999,
              "group_by_length": True, "disable_tqdm": True}


def lora_config(kind: str, **extra) -> dict:
    cfg = {"type": kind, "r": 16, "alpha": 32, "lora_dropout": 0.0, "target_modules": ["qkv_proj", "o_proj"],
           "modules_to_save": None, "train_data_config": "train", "eval_data_config": None,
           "eval_dataset_size": 0.2, "torch_dtype": "float32", "training_args": dict(TRAIN_ARGS)}
    if kind == "QLoRA":
        cfg.update(quant_type="nf4", double_quant=True, compute_dtype=None)
    cfg.update(extra)
    return cfg


@pytest.fixture(scope="module")
def setup(tiny_phi3, tmp_path_factory):
    from modelpress.registry import Registry, new_plugin_manager

    folder = tmp_path_factory.mktemp("hf-lora")
    data_file = folder / "tone.json"
    rows = [{"phrase": f"{PHRASES[i % 10]}", "tone": TONES[i % 4]} for i in range(60)]
    data_file.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    data = {"train": {"type": "HuggingfaceContainer",
                      "load_dataset_config": {"data_name": "json", "data_files": str(data_file), "split": "train"},
                      "pre_process_data_config": {"text_cols": ["phrase", "tone"],
                                                  "text_template": "### Text: {phrase}\n### The tone is:\n{tone}",
                                                  "strategy": "join", "max_seq_len": 48,
                                                  "use_attention_mask": False}}}
    registry = Registry(new_plugin_manager(autoload=False))
    context = RunContext(registry=registry, data_configs=data)
    base = registry.model_handle({"type": "HfModel", "model_path": str(tiny_phi3)})
    return registry, context, base, folder


@pytest.fixture(scope="module")
def lora(setup):
    registry, context, base, folder = setup
    return registry.create_pass(lora_config("LoRA"), context).run(base, folder / "lora")


@pytest.fixture(scope="module")
def qlora(setup):
    registry, context, base, folder = setup
    return registry.create_pass(lora_config("QLoRA"), context).run(base, folder / "qlora")


def logits(model, ids):
    import torch

    with torch.no_grad():
        return model(input_ids=ids).logits.float()


@pytest.fixture(scope="module")
def ids():
    import torch

    return torch.randint(6, 400, (2, 40), generator=torch.Generator().manual_seed(0))


def check_training_log(handle):
    log = json.loads((Path(handle.config["adapter_path"]) / "training_log.json").read_text())
    losses = [h["loss"] for h in log["log_history"] if "loss" in h]
    evals = [h["eval_loss"] for h in log["log_history"] if "eval_loss" in h]
    assert len(losses) == 6 and len(evals) == 2 and log["steps"] == 24
    assert losses[-1] < losses[0] - 0.3, losses  # it learns
    assert evals[-1] < evals[0] and log["eval_loss"] == evals[-1]
    assert log["tokens_per_second"] > 0 and log["trainer"] == "transformers.Trainer"
    return log


def test_lora_trains_and_adapter_loads_with_plain_peft(lora, setup, ids, tiny_phi3):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base_handle = setup[2]
    assert lora.to_json() == {"type": "HfModel", "model_path": str(tiny_phi3),
                              "adapter_path": str(setup[3] / "lora")}
    check_training_log(lora)
    adapter = Path(lora.config["adapter_path"])
    assert {"adapter_config.json", "adapter_model.safetensors"} <= {p.name for p in adapter.iterdir()}
    assert not list(adapter.glob("model*.safetensors"))  # base weights not copied
    base = AutoModelForCausalLM.from_pretrained(tiny_phi3)
    before = logits(base, ids)
    tuned = PeftModel.from_pretrained(base, adapter)
    assert (logits(tuned, ids) - before).abs().max() > 1e-2
    assert base_handle.config.get("adapter_path") is None


def test_merged_lora_equals_peft(lora, setup, ids):
    from modelpress.plugins.huggingface.loading import load_model

    registry, context, _, folder = setup
    merged = registry.create_pass({"type": "MergeAdapterWeights", "dtype": None}, context).run(lora, folder / "merged")
    assert merged.to_json() == {"type": "HfModel", "model_path": str(folder / "merged"), "load_kwargs": {}}
    names = {p.name for p in (folder / "merged").iterdir()}
    assert {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json"} <= names
    diff = (logits(load_model(merged.config), ids) - logits(load_model(lora.config), ids)).abs().max()
    assert diff < 1e-4


def test_qlora_trains_and_records_quantization(qlora, setup, ids, tiny_phi3):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    assert qlora.config["quantization"] == {"method": "bnb_4bit", "quant_type": "nf4", "double_quant": True,
                                            "compute_dtype": "float32", "load_dtype": "float32"}
    check_training_log(qlora)
    base = AutoModelForCausalLM.from_pretrained(tiny_phi3)
    before = logits(base, ids)
    assert (logits(PeftModel.from_pretrained(base, qlora.config["adapter_path"]), ids) - before).abs().max() > 1e-2


def test_qlora_merge_reproduces_4bit_training_weights(qlora, setup, tiny_phi3):
    """The merged weights are the weights training saw: dequantised 4-bit base + B @ A * scaling.

    Guarantee (any CPU kind): equal to float32 rounding of the sum, because dequantising
    a 4-bit block is a table lookup times its absmax, the same on every bitsandbytes
    kernel. Comparing logits instead would depend on which 4-bit matmul kernel the CPU
    runs (AVX512-BF16 or not), so the weights themselves are compared.
    """
    import bitsandbytes as bnb
    import bitsandbytes.functional as F
    import torch

    from modelpress.plugins.huggingface.loading import load_model

    registry, context, _, folder = setup
    merged = registry.create_pass({"type": "MergeAdapterWeights", "dtype": "float32"}, context) \
        .run(qlora, folder / "qmerged")
    assert "quantization" not in merged.config and "adapter_path" not in merged.config
    merged_weights = dict(load_model(merged.config).named_parameters())
    original = dict(load_model({"model_path": str(tiny_phi3)}).named_parameters())
    trained = load_model(qlora.config)  # 4-bit base + adapter, loaded as training loaded it
    quantized, with_adapter, naive_gap = 0, 0, 0.0
    with torch.no_grad():
        for name, module in trained.named_modules():
            if not isinstance(module, bnb.nn.Linear4bit):
                continue
            owner = trained.get_submodule(name.removesuffix(".base_layer"))
            key = name.removeprefix("base_model.model.").removesuffix(".base_layer") + ".weight"
            expected = F.dequantize_4bit(module.weight.data, module.weight.quant_state).float()
            delta = torch.zeros_like(expected)
            if hasattr(owner, "lora_A") and "default" in owner.lora_A:
                a, b = owner.lora_A["default"].weight.float(), owner.lora_B["default"].weight.float()
                delta = (b @ a) * owner.scaling["default"]
                with_adapter += 1
            expected = expected.reshape(merged_weights[key].shape) + delta
            assert torch.allclose(merged_weights[key], expected, rtol=0, atol=1e-6), key
            # merging into the original full-precision weights (Olive's way) is measurably off
            naive_gap = max(naive_gap, float((original[key] + delta - expected).abs().max()))
            quantized += 1
    assert quantized > 0 and with_adapter > 0
    assert naive_gap > 1e-3, naive_gap


def test_session_with_adapter_and_4bit(qlora, lora):
    sessions = [h.open_session(Accelerator()) for h in (lora, qlora)]
    for s in sessions:
        nll, n = s.negative_log_likelihood(["### Text: My dog is happy\n### The tone is:\njoy"])[0]
        assert n > 5 and 0 < nll / n < 6.5
        assert isinstance(s.generate(["### Text: A new job"], max_new_tokens=4)[0], str)


def test_merge_without_adapter_is_clear(setup, tmp_path):
    registry, context, base, _ = setup
    with pytest.raises(UserError, match="MergeAdapterWeights: the input model has no adapter_path"):
        registry.create_pass({"type": "MergeAdapterWeights"}, context).run(base, tmp_path)


def test_training_args_are_checked_against_transformers():
    from modelpress.plugins.huggingface.lora import LoRA

    cfg = lora_config("LoRA", training_args={**TRAIN_ARGS, "lerning_rate": 1e-4, "gradient_acumulation": 2})
    problems = LoRA.check_config(cfg, Accelerator())
    assert problems == [
        "training_args.lerning_rate: not a field of transformers.TrainingArguments (installed version); "
        "did you mean 'learning_rate'?",
        "training_args.gradient_acumulation: not a field of transformers.TrainingArguments (installed version); "
        "did you mean 'gradient_accumulation_steps'?"]
    no_eval = lora_config("LoRA", eval_dataset_size=None)
    assert LoRA.check_config(no_eval, Accelerator()) == [
        "training_args.eval_strategy: 'steps' needs eval data; set eval_data_config or eval_dataset_size, "
        "or set eval_strategy to 'no'"]
    assert LoRA.check_config(lora_config("LoRA"), Accelerator()) == []


def test_other_training_args_use_transformers_trainer(setup, tmp_path):
    registry, context, base, _ = setup
    args = {"seed": 0, "per_device_train_batch_size": 4, "max_steps": 3, "logging_steps": 1,
            "learning_rate": 1e-3, "label_smoothing_factor": 0.1, "disable_tqdm": True}
    out = registry.create_pass(lora_config("LoRA", eval_dataset_size=None, training_args=args), context) \
        .run(base, tmp_path / "adapter")
    log = json.loads((tmp_path / "adapter" / "training_log.json").read_text())
    assert log["trainer"] == "transformers.Trainer" and log["steps"] == 3
    assert (Path(out.config["adapter_path"]) / "adapter_config.json").exists()


def test_schemas_declare_renames_and_search():
    from modelpress.plugins.huggingface.lora import LoRA, QLoRA

    schema = LoRA.get_schema()
    assert schema["x-renamed"] == {"lora_r": "r", "lora_alpha": "alpha"}
    assert schema["properties"]["training_args"]["x-renamed"] == {"evaluation_strategy": "eval_strategy"}
    assert schema["properties"]["train_data_config"]["x-data-config"] is True
    assert all("x-search" in schema["properties"][k] for k in ("r", "alpha", "lora_dropout"))
    assert set(QLoRA.get_schema()["properties"]) - set(schema["properties"]) == {"quant_type", "double_quant",
                                                                                 "compute_dtype"}
    assert QLoRA.requires["bitsandbytes"] == "pip install 'modelpress[qlora]'"
