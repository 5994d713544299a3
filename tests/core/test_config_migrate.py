"""Both Olive config forms migrate to one canonical form, with a note per rewrite."""
from __future__ import annotations

import json

import pytest
import yaml

from modelpress.config import load, migrate
from modelpress.errors import ConfigError
from tests.core.bad_configs import GOOD, PLUGIN, PLUGIN_NAME, write_config

OLIVE_06 = {
    "input_model": {"type": "OldFakeModel", "config": {"hf_config": {
        "model_name": "org/m", "task": "text-generation", "model_loading_args": {"trust_remote_code": True}}}},
    "data_configs": {"train": {"type": "FakeData",
                               "load_dataset_config": {"params": {"data_files": "data.jsonl", "split": "train"}},
                               "pre_process_data_config": {"params": {"dataset_type": "corpus",
                                                                      "source_max_len": 512}}}},
    "passes": {"lora": {"type": "FakeLoRA", "disable_search": True, "config": {
        "lora_r": 16, "lora_alpha": 32, "old_knob": 1, "train_data_config": "train",
        "training_args": {"evaluation_strategy": "steps", "max_steps": 5}}}},
    "engine": {"log_severity_level": 0, "search_strategy": False, "cache_dir": "c", "output_dir": "o"},
}
CURRENT = {
    "input_model": {"type": "FakeModel", "model_path": "org/m", "task": "text-generation",
                    "load_kwargs": {"trust_remote_code": True}},
    "data_configs": [{"name": "train", "type": "FakeData",
                      "load_dataset_config": {"data_files": "data.jsonl", "split": "train"},
                      "pre_process_data_config": {"max_seq_len": 512}}],
    "passes": {"lora": {"type": "FakeLoRA", "r": 16, "alpha": 32, "train_data_config": "train",
                        "training_args": {"eval_strategy": "steps", "max_steps": 5}}},
    "log_severity_level": 0, "search_strategy": False, "cache_dir": "c", "output_dir": "o",
}


@pytest.fixture
def registry(register_plugin):
    return register_plugin(PLUGIN, PLUGIN_NAME)


def test_olive_06_migrates_to_the_current_form(registry):
    canonical, notes = migrate(OLIVE_06, registry)
    assert canonical == CURRENT
    assert notes == [
        "engine: log_severity_level, search_strategy, cache_dir, output_dir moved to the top level",
        "input_model.type: 'OldFakeModel' is now 'FakeModel'",
        "input_model.config: flattened into input_model",
        "input_model.hf_config.model_name: moved to input_model.model_path",
        "input_model.hf_config.task: moved to input_model.task",
        "input_model.hf_config.model_loading_args: moved to input_model.load_kwargs",
        "data_configs: the mapping of names became a list of configs with 'name'",
        "data_configs[0].load_dataset_config.params: flattened into data_configs[0].load_dataset_config",
        "data_configs[0].pre_process_data_config.params: flattened into data_configs[0].pre_process_data_config",
        "data_configs[0].pre_process_data_config.dataset_type: dropped (no longer used)",
        "data_configs[0].pre_process_data_config.source_max_len: renamed to 'max_seq_len'",
        "passes.lora.config: flattened into passes.lora",
        "passes.lora.disable_search: dropped; a pass is searched only where a value asks for it",
        "passes.lora.lora_r: renamed to 'r'",
        "passes.lora.lora_alpha: renamed to 'alpha'",
        "passes.lora.old_knob: dropped (no longer used)",
        "passes.lora.training_args.evaluation_strategy: renamed to 'eval_strategy'",
    ]
    assert list(canonical["passes"]["lora"]) == ["type", "r", "alpha", "train_data_config", "training_args"]


def test_the_current_form_needs_no_rewrite_and_both_load_alike(registry, tmp_path):
    assert migrate(CURRENT, registry) == (CURRENT, [])
    old = load(write_config(tmp_path, ("old.json", json.dumps(OLIVE_06))), registry)
    new = load(write_config(tmp_path, ("new.yaml", yaml.safe_dump(CURRENT))), registry)
    assert old.canonical == new.canonical
    assert old.notes and not new.notes


def test_model_name_is_kept_when_model_path_is_given(registry):
    raw = {"input_model": {"type": "FakeModel", "model_path": {"type": "fake_blob", "config": {"path": "m"}},
                           "hf_config": {"model_name": "org/m", "from_pretrained_args": {"revision": "x"}}}}
    canonical, _ = migrate(raw, registry)
    assert canonical["input_model"] == {"type": "FakeModel", "model_path": {"type": "fake_blob", "config": {"path": "m"}},
                                        "model_name": "org/m", "load_kwargs": {"revision": "x"}}


def test_olive_search_keys(registry):
    raw = {**GOOD, "search_strategy": {"execution_order": "joint", "search_algorithm": "fake_grid",
                                       "search_algorithm_config": {"num_samples": 3, "seed": 7}}}
    canonical, notes = migrate(raw, registry)
    assert canonical["search_strategy"] == {"execution_order": "joint", "sampler": "fake_grid",
                                            "max_samples": 3, "seed": 7}
    assert "search_strategy.search_algorithm: renamed to 'sampler'" in notes


def test_alternatives_are_migrated_too(registry):
    raw = {"passes": {"q": [{"type": "FakeLoRA", "config": {"lora_r": 4}}, {"type": "FakeQLoRA", "lora_r": 8}]}}
    canonical, notes = migrate(raw, registry)
    assert canonical["passes"]["q"] == [{"type": "FakeLoRA", "r": 4}, {"type": "FakeQLoRA", "r": 8}]
    assert "passes.q[1].lora_r: renamed to 'r'" in notes


@pytest.mark.parametrize("raw,expected", [
    ({"passes": {"lora": {"type": "FakeLoRA", "r": 8, "lora_r": 16}}},
     "passes.lora.lora_r: renamed to 'r', which is also set; keep only 'r'"),
    ({"log_severity_level": 1, "engine": {"log_severity_level": 3}},
     "engine.log_severity_level: also set at the top level with another value; keep one"),
    ({"passes": {"lora": {"type": "FakeLoRA", "r": 8, "config": {"r": 16}}}},
     "passes.lora.config.r: also set outside 'config'; keep one"),
    ({"input_model": {"type": "FakeModel", "task": "a", "hf_config": {"task": "b"}}},
     "input_model.hf_config.task: input_model.task is also set; keep one"),
])
def test_conflicting_old_and_new_keys_are_errors(registry, raw, expected):
    with pytest.raises(ConfigError) as info:
        migrate(raw, registry)
    assert info.value.problems == [expected]


def test_inline_data_configs_move_to_data_configs(registry, tmp_path):
    inline = {"type": "FakeData", "load_dataset_config": {"params": {"data_files": "data.jsonl"}}}
    raw = {"input_model": {"type": "FakeModel", "model_path": "m"},
           "passes": {"lora": {"type": "FakeLoRA", "config": {"train_data_config": inline}}},
           "evaluators": {"e": {"metrics": [{"name": "acc", "type": "fake_accuracy", "data_config": dict(inline)}]}}}
    canonical, notes = migrate(raw, registry)
    assert [d["name"] for d in canonical["data_configs"]] == ["acc_data", "lora_train_data"]
    assert canonical["passes"]["lora"]["train_data_config"] == "lora_train_data"
    assert canonical["evaluators"]["e"]["metrics"][0]["data_config"] == "acc_data"
    assert "passes.lora.train_data_config: the inline data config moved to data_configs as 'lora_train_data'" in notes
    assert canonical["data_configs"][1]["load_dataset_config"] == {"data_files": "data.jsonl"}
    write_config(tmp_path, {})
    assert set(load(canonical, registry, base_dir=tmp_path).data_configs) == {"acc_data", "lora_train_data"}


def test_olive_engine_keys_that_change_nothing_are_dropped_with_a_note(registry):
    raw = {**GOOD, "engine": {"log_to_file": True, "ort_log_severity_level": 3, "cache_dir": "c"}}
    canonical, notes = migrate(raw, registry)
    assert "log_to_file" not in canonical and "ort_log_severity_level" not in canonical
    assert canonical["cache_dir"] == "c"
    assert [n.split(";")[0] for n in notes if "dropped" in n] == [
        "engine.ort_log_severity_level: dropped", "engine.log_to_file: dropped"]


def test_olive_keys_that_would_change_what_runs_are_problems(registry):
    with pytest.raises(ConfigError) as info:
        migrate({**GOOD, "pass_flows": [["lora"]], "engine": {"packaging_config": {"type": "Zipfile"}}}, registry)
    assert [p.split(";")[0] for p in info.value.problems] == [
        "pass_flows: Olive's pass_flows is not supported",
        "engine.packaging_config: Olive's packaging_config is not supported"]


def test_inline_engine_systems_and_evaluator_get_names(registry):
    evaluator = {"metrics": [{"name": "acc", "type": "fake_accuracy", "data_config": "train"}]}
    raw = {**GOOD, "engine": {"host": {"type": "LocalSystem", "config": {"accelerators": ["cpu"]}},
                              "evaluator": evaluator}}
    raw.pop("evaluator")
    canonical, notes = migrate(raw, registry)
    assert canonical["host"] == "host" and canonical["systems"]["host"] == {"type": "LocalSystem",
                                                                         "accelerators": ["cpu"]}
    assert canonical["evaluator"] == "evaluator" and canonical["evaluators"]["evaluator"] == evaluator
    assert "engine.host: the inline system moved to systems as 'host'" in notes
