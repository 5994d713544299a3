"""Reading config files, resolving relative paths, and staying light (no torch)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from modelpress.config import load, load_raw
from modelpress.errors import ConfigError
from tests.core.bad_configs import GOOD, PLUGIN, PLUGIN_NAME, write_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def registry(register_plugin):
    return register_plugin(PLUGIN, PLUGIN_NAME)


def test_json_and_yaml_give_the_same_workflow(registry, tmp_path):
    import yaml

    json_path = write_config(tmp_path / "j", GOOD)
    yaml_path = write_config(tmp_path / "y", yaml.safe_dump(GOOD))
    assert load_raw(json_path) == load_raw(yaml_path) == GOOD
    a, b = load(json_path, registry), load(yaml_path, registry)
    assert a.passes == b.passes and a.evaluators == b.evaluators


def test_yaml_syntax_error_names_file_line_and_column(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text("passes:\n  lora: {type: FakeLoRA\n  other: 1\n")
    with pytest.raises(ConfigError) as info:
        load_raw(path)
    (line,) = info.value.problems
    assert line.startswith(f"{path}:3:") and "invalid YAML" in line


def test_json_duplicate_key_is_an_error(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"passes": {}, "passes": {}}')
    with pytest.raises(ConfigError, match="duplicate key 'passes'"):
        load_raw(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_raw(tmp_path / "nope.json")
    assert info.value.problems == [f"{tmp_path / 'nope.json'}: no such config file"]
    with pytest.raises(ConfigError, match="is a folder"):
        load_raw(tmp_path)


def test_relative_paths_resolve_against_the_config_folder(registry, tmp_path, monkeypatch):
    folder = tmp_path / "project"
    (folder / "models" / "base").mkdir(parents=True)
    (folder / "adapters" / "a1").mkdir(parents=True)
    config = json.loads(json.dumps(GOOD))
    config["input_model"] = {"type": "FakeModel", "model_path": "models/base", "adapter_path": "adapters/a1"}
    config["passes"]["lora"]["output_folder"] = "./out/lora"
    config["cache_dir"] = "../shared-cache"
    path = write_config(folder, config)
    monkeypatch.chdir(tmp_path)  # the current folder must not matter
    wf = load(path, registry)
    assert wf.base_dir == folder.resolve() and wf.source == path
    assert wf.input_model["model_path"] == str(folder / "models" / "base")
    assert wf.input_model["adapter_path"] == str(folder / "adapters" / "a1")
    assert wf.data_configs["train"]["load_dataset_config"]["data_files"] == str(folder / "data.jsonl")
    assert wf.passes[0].alternatives[0]["output_folder"] == str(folder / "out" / "lora")
    assert wf.cache_dir == tmp_path / "shared-cache"
    assert wf.output_dir == folder / "output"


def test_hub_names_and_urls_are_kept(registry, tmp_path):
    config = json.loads(json.dumps(GOOD))
    config["data_configs"][0]["load_dataset_config"]["data_files"] = ["data.jsonl", "https://example.org/x.jsonl"]
    wf = load(write_config(tmp_path, config), registry)
    assert wf.input_model["model_path"] == "org/some-hub-model"
    files = wf.data_configs["train"]["load_dataset_config"]["data_files"]
    assert files == [str(tmp_path / "data.jsonl"), "https://example.org/x.jsonl"]


def test_a_dict_resolves_against_base_dir(registry, tmp_path):
    write_config(tmp_path, GOOD)
    wf = load(GOOD, registry, base_dir=tmp_path)
    assert wf.source is None and wf.cache_dir == tmp_path.resolve() / "cache"


def test_resource_objects_are_checked_not_resolved(registry, tmp_path):
    config = json.loads(json.dumps(GOOD))
    blob = {"type": "fake_blob", "config": {"path": "train.jsonl"}}
    config["data_configs"][0]["load_dataset_config"]["data_files"] = blob
    config["input_model"]["model_path"] = {"type": "fake_blob", "config": {"path": "models/m"}}
    wf = load(write_config(tmp_path, config), registry)
    assert wf.data_configs["train"]["load_dataset_config"]["data_files"] == {
        "type": "fake_blob", "config": {"path": "train.jsonl", "account": "dev"}}
    config["data_configs"][0]["load_dataset_config"]["data_files"] = {"type": "fake_blb", "config": {}}
    with pytest.raises(ConfigError) as info:
        load(write_config(tmp_path, config), registry)
    assert info.value.problems[0].startswith(
        "data_configs[0].load_dataset_config.data_files.type: no plugin provides resource type 'fake_blb'")


def test_loading_does_not_import_heavy_libraries(tmp_path):
    path = write_config(tmp_path, GOOD)
    script = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from modelpress.registry import Registry, new_plugin_manager
from modelpress.config import load
from tests.core.fake_components import PLUGIN
pm = new_plugin_manager(autoload=False)
pm.register(PLUGIN, "fake_components")
load({str(path)!r}, Registry(pm))
heavy = [m for m in ("torch", "transformers", "peft", "onnxruntime_genai", "optuna", "datasets")
         if m in sys.modules]
print("HEAVY", heavy)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout
