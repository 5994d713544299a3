"""The plugin inside real workflows: LoRA -> merge -> MagnitudePrune -> ModelBuilder,
and a search over ``sparsity`` with this plugin's "coordinate" strategy."""
from __future__ import annotations

import json
import random

import pytest

import modelpress
import modelpress_magnitude_prune

TONES = {"joy": "thrilled happy excited", "sadness": "sad lonely heartbroken",
         "fear": "scared afraid terrified", "surprise": "shocked amazed surprised"}


@pytest.fixture
def registry(register_plugin):
    return register_plugin(modelpress_magnitude_prune)


@pytest.fixture
def tone_data(tmp_path):
    rng = random.Random(0)
    path = tmp_path / "tone.jsonl"
    with path.open("w") as f:
        for i in range(48):
            tone = list(TONES)[i % 4]
            words = " ".join(rng.sample(TONES[tone].split() + ["the", "new", "job", "news"], 4))
            f.write(json.dumps({"phrase": f"I am {words}", "tone": tone}) + "\n")
    return path


def data_config(path) -> dict:
    return {"name": "tone", "type": "HuggingfaceContainer",
            "load_dataset_config": {"data_name": "json", "data_files": str(path), "split": "train"},
            "pre_process_data_config": {"text_template": "### Text: {phrase}\n### The tone is:\n{tone}",
                                        "strategy": "join", "max_seq_len": 64}}


def test_prune_between_merge_and_model_builder(registry, tiny_phi3, tone_data, tmp_path):
    config = {
        "input_model": {"type": "HfModel", "model_path": str(tiny_phi3)},
        "data_configs": [data_config(tone_data)],
        "passes": {
            "lora": {"type": "LoRA", "r": 4, "alpha": 8, "train_data_config": "tone",
                     "training_args": {"max_steps": 2, "per_device_train_batch_size": 2}},
            "merge": {"type": "MergeAdapterWeights"},
            "prune": {"type": "MagnitudePrune", "sparsity": 0.5},
            "builder": {"type": "ModelBuilder", "precision": "int4"},
        },
        "cache_dir": str(tmp_path / "cache"),
        "output_dir": str(tmp_path / "out"),
    }
    result = modelpress.run(config)
    assert [n["pass"] for n in result.footprints] == ["LoRA", "MergeAdapterWeights", "MagnitudePrune", "ModelBuilder"]
    prune = result.footprints[2]
    assert prune["input_model_id"] == result.footprints[1]["output_model_id"]
    assert result.output_model.name == "ONNXModel"
    assert (tmp_path / "out" / "model" / "genai_config.json").is_file()
    from modelpress.components import Accelerator
    with result.output_model.open_session(Accelerator()) as session:
        text = session.generate(["### Text: I am happy\n### The tone is:\n"], max_new_tokens=4)[0]
    assert isinstance(text, str)


def test_search_sparsity_with_the_coordinate_strategy(registry, tiny_phi3, tone_data, tmp_path):
    config = {
        "input_model": {"type": "HfModel", "model_path": str(tiny_phi3)},
        "data_configs": [data_config(tone_data)],
        "passes": {"prune": {"type": "MagnitudePrune", "sparsity": {"search": [0.25, 0.5, 0.75]}}},
        "evaluators": {"ppl": {"metrics": [{"name": "ppl", "type": "perplexity", "data_config": "tone",
                                            "user_config": {"max_samples": 8, "max_length": 64}}]}},
        "evaluator": "ppl",
        "evaluate_input_model": False,
        "search_strategy": {"sampler": "coordinate"},
        "cache_dir": str(tmp_path / "cache"),
        "output_dir": str(tmp_path / "out"),
    }
    result = modelpress.run(config)
    trials = result.search.trials
    # coordinate descent tries the first candidate, then the others of the one parameter, in order
    assert [t["params"]["prune.sparsity"] for t in trials] == [0.25, 0.5, 0.75]
    assert all(t["state"] == "COMPLETE" for t in trials), trials
    lowest = min(trials, key=lambda t: t["metrics"]["ppl-perplexity"] if "ppl-perplexity" in t["metrics"]
                 else next(iter(t["metrics"].values())))
    assert result.search.best[0].point["prune.sparsity"] == lowest["params"]["prune.sparsity"]
