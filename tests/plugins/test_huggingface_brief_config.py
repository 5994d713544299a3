"""The brief's local config (Olive 0.6 form, ``type: QLoRA``) through the config layer and its pass."""
from __future__ import annotations

import json
import shutil

import pytest

from modelpress.components import Accelerator, RunContext

# The brief's seed-qlora-local.json, with the LoRA pass typed QLoRA (it sets double_quant).
BRIEF = {
    "input_model": {"type": "PyTorchModel", "config": {"hf_config": {
        "model_name": "model-cache/microsoft/phi-3-mini", "task": "text-generation",
        "model_loading_args": {"trust_remote_code": True}}}},
    "data_configs": [{
        "name": "dataset_default_train", "type": "HuggingfaceContainer",
        "load_dataset_config": {"params": {"data_name": "json",
                                           "data_files": "dataset/dataset-classification.json", "split": "train"}},
        "pre_process_data_config": {"params": {
            "dataset_type": "corpus", "text_cols": ["phrase", "tone"],
            "text_template": "### Text: {phrase}\n### The tone is:\n{tone}", "corpus_strategy": "join",
            "source_max_len": 2048, "pad_to_max_len": False, "use_attention_mask": False}}}],
    "passes": {"lora": {"type": "QLoRA", "config": {
        "target_modules": ["o_proj", "qkv_proj"], "double_quant": True, "lora_r": 64, "lora_alpha": 64,
        "lora_dropout": 0.1, "train_data_config": "dataset_default_train", "eval_dataset_size": 0.3,
        "training_args": {
            "seed": 0, "data_seed": 42, "per_device_train_batch_size": 1, "per_device_eval_batch_size": 1,
            "gradient_accumulation_steps": 4, "gradient_checkpointing": False, "learning_rate": 0.0001,
            "num_train_epochs": 3, "max_steps": 10, "logging_steps": 10, "evaluation_strategy": "steps",
            "eval_steps": 187, "group_by_length": True, "adam_beta2": 0.999, "max_grad_norm": 0.3}}}},
    "engine": {"log_severity_level": 0, "search_strategy": False, "execution_providers": ["CPUExecutionProvider"],
               "cache_dir": "cache", "output_dir": "output"},
}


@pytest.fixture
def brief_folder(tmp_path, tiny_phi3):
    from modelpress.testing import corpus

    shutil.copytree(tiny_phi3, tmp_path / "model-cache" / "microsoft" / "phi-3-mini")
    (tmp_path / "dataset").mkdir()
    tones = ["joy", "sadness", "fear", "surprise"]
    rows = [{"phrase": text, "tone": tones[i % 4]} for i, text in enumerate(corpus(300, seed=1))]
    (tmp_path / "dataset" / "dataset-classification.json").write_text(
        "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (tmp_path / "config.json").write_text(json.dumps(BRIEF), encoding="utf-8")
    return tmp_path


def test_brief_config_validates_and_its_qlora_pass_runs(plugin_registry, brief_folder):
    config = pytest.importorskip("modelpress.config")
    wf = config.load(brief_folder / "config.json", plugin_registry)
    step = wf.passes[0].alternatives[0]
    assert step["type"] == "QLoRA" and step["r"] == 64 and step["alpha"] == 64
    assert step["training_args"]["eval_strategy"] == "steps"
    data = wf.data_configs["dataset_default_train"]
    assert data["pre_process_data_config"]["strategy"] == "join"
    assert data["pre_process_data_config"]["max_seq_len"] == 2048

    model = plugin_registry.model_handle(wf.input_model)
    context = RunContext(registry=plugin_registry, accelerator=Accelerator(), data_configs=wf.data_configs)
    out = plugin_registry.create_pass(step, context).run(model, brief_folder / "out")
    assert out.config["quantization"]["double_quant"] is True
    log = json.loads((brief_folder / "out" / "training_log.json").read_text())
    assert log["steps"] == 10 and log["eval_blocks"] >= 1 and log["eval_loss"] > 0
    assert [h["step"] for h in log["log_history"] if "loss" in h] == [10]
