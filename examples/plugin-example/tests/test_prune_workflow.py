"""The plugin inside real workflows: LoRA -> merge -> MagnitudePrune -> ModelBuilder,
and a search over ``sparsity`` with this plugin's "coordinate" strategy."""
from __future__ import annotations

from pathlib import Path

import modelpress_magnitude_prune
import pytest
import yaml
from safetensors.torch import load_file

import modelpress
from modelpress.components import Accelerator

EXAMPLE = Path(__file__).resolve().parent.parent


@pytest.fixture
def registry(register_plugin):
    return register_plugin(modelpress_magnitude_prune)


def shipped_config(name: str, model_path, tmp_path) -> dict:
    """An example config of this package, pointed at the tiny model and a temporary output."""
    config = yaml.safe_load((EXAMPLE / name).read_text())
    config["input_model"]["model_path"] = str(model_path)
    for data in config["data_configs"]:
        data["load_dataset_config"]["data_files"] = str(EXAMPLE / data["load_dataset_config"]["data_files"])
        data["pre_process_data_config"]["max_seq_len"] = 64
    config.update(cache_dir=str(tmp_path / "cache"), output_dir=str(tmp_path / "out"))
    return config


def test_prune_between_merge_and_model_builder(registry, tiny_phi3, tmp_path):
    config = shipped_config("prune-workflow.yaml", tiny_phi3, tmp_path)
    assert list(config["passes"]) == ["lora", "merge", "prune", "builder"]
    config["passes"]["lora"].update(r=4, alpha=8, training_args={"max_steps": 2, "per_device_train_batch_size": 2})
    result = modelpress.run(config)
    assert [n["pass"] for n in result.footprints] == ["LoRA", "MergeAdapterWeights", "MagnitudePrune", "ModelBuilder"]
    prune = result.footprints[2]
    assert prune["input_model_id"] == result.footprints[1]["output_model_id"]
    # the merged weights (adapter folded in) were pruned before the build
    weights = load_file(str(Path(prune["entry_dir"]) / "model" / "model.safetensors"))
    o_proj = weights["model.layers.0.self_attn.o_proj.weight"]
    assert (o_proj == 0).float().mean().item() == pytest.approx(0.3, abs=1e-3)
    assert result.output_model.name == "ONNXModel"
    assert (tmp_path / "out" / "model" / "genai_config.json").is_file()
    with result.output_model.open_session(Accelerator()) as session:
        text = session.generate(["### Text: I am happy\n### The tone is:\n"], max_new_tokens=4)[0]
    assert isinstance(text, str)


def test_search_sparsity_with_the_coordinate_strategy(registry, tiny_phi3, tmp_path):
    config = shipped_config("prune-search.yaml", tiny_phi3, tmp_path)
    assert config["search_strategy"]["sampler"] == "coordinate"
    config["passes"]["prune"]["sparsity"] = {"search": [0.25, 0.5, 0.75]}
    config["evaluators"]["quality"]["metrics"][0]["user_config"] = {"max_samples": 8, "max_length": 64}
    result = modelpress.run(config)
    trials = result.search.trials
    # coordinate descent tries the first candidate, then the others of the one parameter, in order
    assert [t["params"]["prune.sparsity"] for t in trials] == [0.25, 0.5, 0.75]
    assert all(t["state"] == "COMPLETE" for t in trials), trials
    lowest = min(trials, key=lambda t: t["metrics"]["ppl-perplexity"])
    assert result.search.best[0].point["prune.sparsity"] == lowest["params"]["prune.sparsity"]
