"""One ``validate`` reports every problem of a config, each naming the key as written."""
from __future__ import annotations

import json

import pytest

from modelpress.config import load
from modelpress.errors import ConfigError, did_you_mean

#: an Olive 0.6 config with one problem of every kind validation knows
BROKEN = {
    "input_model": {"type": "PyTorchModel", "config": {"hf_config": {"model_name": "./models/phi3"}}},
    "systems": {"local_system": {"type": "LocalSystem", "config": {"accelerators": ["cpu"]}}},
    "data_configs": [{"name": "train", "type": "HuggingfaceContainer",
                      "load_dataset_config": {"params": {"data_name": "json", "data_files": "data/missing.jsonl"}}}],
    "passes": {"lora": {"type": "LoRA", "config": {
        "lora_r": "big", "train_data_config": "trian",
        "training_args": {"learning_rat": 0.001, "extra_args": {"max_stepz": 3}}}}},
    "engine": {"target": "local_sytem", "evaluator": "common"},
}


def _problems(registry, tmp_path, config) -> list[str]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    with pytest.raises(ConfigError) as info:
        load(path, registry)
    return info.value.problems


def test_every_kind_of_problem_in_one_pass(plugin_registry, tmp_path):
    problems = _problems(plugin_registry, tmp_path, BROKEN)
    starts = [
        # schema, named as written (and what it became)
        "passes.lora.config.lora_r: expected an integer, got \"big\" (now passes.lora.r)",
        # training_args fields of the installed transformers, despite the schema problem above
        "passes.lora.config.training_args.learning_rat: not a field of transformers.TrainingArguments "
        "(installed version); did you mean 'learning_rate'?",
        "passes.lora.config.training_args.extra_args.max_stepz: not a field of transformers.TrainingArguments "
        "(installed version); did you mean 'max_steps'?",
        # references
        "passes.lora.config.train_data_config: no data config named 'trian'; did you mean 'train'?",
        "engine.target: no system named 'local_sytem'; did you mean 'local_system'?",
        "engine.evaluator: no evaluator named 'common'",
        # local files that must exist
        "input_model.config.hf_config.model_name: no such file or folder \"./models/phi3\"",
        "data_configs[0].load_dataset_config.params.data_files: no such file or folder \"data/missing.jsonl\"",
    ]
    for start in starts:
        assert sum(line.startswith(start) for line in problems) == 1, f"{start!r} not once in {problems}"
    assert len(problems) == len(starts), problems
    moved = [line for line in problems if line.startswith("input_model.config.hf_config.model_name")]
    assert moved[0].endswith("fix the path (now input_model.model_path)")


def test_a_missing_gguf_file_and_a_model_folder_that_must_exist(plugin_registry, tmp_path):
    config = {"input_model": {"type": "HfModel", "model_path": "models/phi3/v1", "gguf_file": "phi3.gguf"},
              "passes": {"merge": {"type": "MergeAdapterWeights"}}}
    assert [p.split(";")[0] for p in _problems(plugin_registry, tmp_path, config)] == [
        f"input_model.model_path: no such file or folder \"models/phi3/v1\" (looked in {tmp_path})",
        f"input_model.gguf_file: no such file or folder \"phi3.gguf\" (looked in {tmp_path})"]
    (tmp_path / "models" / "phi3" / "v1").mkdir(parents=True)
    (tmp_path / "models" / "phi3" / "v1" / "phi3.gguf").write_bytes(b"GGUF")  # found inside the model folder
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    assert load(path, plugin_registry).input_model["model_path"] == str(tmp_path / "models" / "phi3" / "v1")


def test_hub_names_are_not_local_files(plugin_registry, tmp_path):
    config = {"input_model": {"type": "HfModel", "model_path": "microsoft/Phi-3-mini-4k-instruct"},
              "data_configs": [{"name": "d", "type": "HuggingfaceContainer", "load_dataset_config": {
                  "data_name": "org/tone", "data_files": "data/train.jsonl"}}],
              "passes": {"lora": {"type": "LoRA", "train_data_config": "d"}}}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    wf = load(path, plugin_registry)
    assert wf.data_configs["d"]["load_dataset_config"]["data_files"] == "data/train.jsonl"


def test_one_problem_is_one_line(plugin_registry, tmp_path):
    """A value of the wrong type is not also reported against its choices; a broken engine block is not
    reported again as an unknown top-level key."""
    config = {"input_model": {"type": "PyTorchModel", "config": {"hf_config": {"model_name": "org/m"}}},
              "data_configs": [{"name": "d", "type": "HuggingfaceContainer",
                                "load_dataset_config": {"data_name": "org/tone"}}],
              "passes": {"lora": {"type": "LoRA", "config": {"train_data_config": "d", "torch_dtype": 16,
                                                             "training_args": {"evaluation_strategy": 7}}}},
              "engine": ["cache"]}
    assert sorted(_problems(plugin_registry, tmp_path, config)) == [
        "engine: expected an object of engine keys (host, target, cache_dir, ...), got list",
        "passes.lora.config.torch_dtype: expected a string, got 16",
        "passes.lora.config.training_args.evaluation_strategy: expected a string, got 7 "
        "(now passes.lora.training_args.eval_strategy)"]


@pytest.mark.parametrize("word,candidates,hint", [
    ("extra_args", ["optim_args", "learning_rate"], ""),  # only the shared "_args": no typo
    ("report_too", ["report_to", "resume_from_checkpoint"], "report_to"),
    ("lora_rr", ["lora_r", "r"], "lora_r"),
    ("learnin_rate", ["learning_rate", "warmup_ratio"], "learning_rate"),
    ("num_epochs", ["num_train_epochs"], "num_train_epochs"),
    ("eval_step", ["eval_steps", "save_steps"], "eval_steps"),
    ("data_seeed", ["data_seed", "seed"], "data_seed"),
    ("model_pth", ["model_path", "model_name"], "model_path"),
])
def test_did_you_mean_needs_the_differing_words_to_be_close(word, candidates, hint):
    assert did_you_mean(word, candidates) == (f"; did you mean '{hint}'?" if hint else "")
