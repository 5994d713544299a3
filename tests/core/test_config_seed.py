"""The brief's Olive configs against the built-in plugins' real schemas."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from modelpress.config import load, load_raw, migrate, workflow_schema
from modelpress.errors import ConfigError

CONFIGS = Path(__file__).parent / "configs"


@pytest.fixture
def seed(tmp_path) -> Path:
    """seed-qlora-local.json with model_name and data_files pointed at local files."""
    config = json.loads((CONFIGS / "seed-qlora-local.json").read_text())
    (tmp_path / "phi3").mkdir()
    (tmp_path / "data.jsonl").write_text('{"phrase": "I won!", "tone": "joy"}\n')
    config["input_model"]["config"]["hf_config"]["model_name"] = "phi3"
    config["data_configs"][0]["load_dataset_config"]["params"]["data_files"] = "data.jsonl"
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def test_seed_has_exactly_one_error_the_lora_double_quant(plugin_registry, seed):
    with pytest.raises(ConfigError) as info:
        load(seed, plugin_registry)
    assert info.value.problems == [
        "passes.lora.config.double_quant: LoRA has no option 'double_quant'; it belongs to QLoRA: set \"type\": \"QLoRA\""]


def test_seed_with_qlora_validates_and_migrates(plugin_registry, seed):
    raw = load_raw(seed)
    raw["passes"]["lora"]["type"] = "QLoRA"
    seed.write_text(json.dumps(raw))
    wf = load(seed, plugin_registry)
    folder = seed.parent
    assert wf.input_model["type"] == "HfModel"
    assert wf.input_model["model_path"] == str(folder / "phi3")
    assert wf.input_model["load_kwargs"] == {"trust_remote_code": True}
    data = wf.data_configs["dataset_default_train"]
    assert data["load_dataset_config"]["data_files"] == str(folder / "data.jsonl")
    assert data["pre_process_data_config"]["strategy"] == "join"
    assert data["pre_process_data_config"]["max_seq_len"] == 2048
    lora = wf.passes[0].alternatives[0]
    assert (lora["type"], lora["r"], lora["alpha"], lora["double_quant"]) == ("QLoRA", 64, 64, True)
    assert lora["training_args"]["eval_strategy"] == "steps"
    assert [s.name for s in wf.passes] == ["lora", "merge_adapter_weights", "builder"]
    assert wf.log_severity_level == 0 and wf.execution_providers == ["CPUExecutionProvider"]
    assert wf.output_dir == (folder / "../model-cache/models/phi3-finetuned").resolve()

    canonical, notes = migrate(raw, plugin_registry)
    for note in ("input_model.type: 'PyTorchModel' is now 'HfModel'",
                 "input_model.hf_config.model_name: moved to input_model.model_path",
                 "passes.lora.lora_r: renamed to 'r'",
                 "passes.lora.training_args.evaluation_strategy: renamed to 'eval_strategy'",
                 "data_configs[0].pre_process_data_config.corpus_strategy: renamed to 'strategy'",
                 "data_configs[0].pre_process_data_config.source_max_len: renamed to 'max_seq_len'"):
        assert note in notes
    assert "engine" not in canonical and "config" not in canonical["passes"]["lora"]
    assert migrate(canonical, plugin_registry) == (canonical, [])  # canonical is a fixed point
    assert list(jsonschema.Draft202012Validator(workflow_schema(plugin_registry)).iter_errors(wf.canonical)) == []


def test_seed_azureml_validates(plugin_registry, tmp_path):
    for name in ("seed-azureml.json", "conda.yaml"):
        shutil.copy(CONFIGS / name, tmp_path / name)
    wf = load(tmp_path / "seed-azureml.json", plugin_registry)
    assert wf.host == wf.target == "aml"
    assert wf.input_model["model_path"]["type"] == "azureml_registry_model"
    assert wf.systems["aml"]["aml_docker_config"]["conda_file_path"] == str(tmp_path / "conda.yaml")
