"""MagnitudePrune as a user runs it: workflow configs through ``modelpress.run``.

Only the fixtures ``modelpress.testing`` ships are used: ``tiny_phi3`` (a
tiny random Phi-3 folder) and ``register_plugin`` (adds this plugin to a
fresh registry of the built-in plugins, for one test).
"""
from __future__ import annotations

import modelpress_magnitude_prune
import pytest

import modelpress
from modelpress.config import load
from modelpress.errors import ConfigError, UserError


@pytest.fixture
def registry(register_plugin):
    return register_plugin(modelpress_magnitude_prune)


def workflow(model_path, tmp_path, **prune) -> dict:
    return {
        "input_model": {"type": "HfModel", "model_path": str(model_path)},
        "passes": {"prune": {"type": "MagnitudePrune", **prune}},
        "cache_dir": str(tmp_path / "cache"),
        "output_dir": str(tmp_path / "out"),
    }


def linear_weights(folder) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    return {name: m.weight.detach().clone() for name, m in model.named_modules()
            if isinstance(m, torch.nn.Linear)}


def test_prune_zeroes_exactly_the_smallest_weights(registry, tiny_phi3, tmp_path):
    result = modelpress.run(workflow(tiny_phi3, tmp_path, sparsity=0.5))
    assert result.output_model.name == "HfModel"
    before, after = linear_weights(tiny_phi3), linear_weights(result.output_model.config["model_path"])
    assert before.keys() == after.keys() and len(before) > 4
    for name, old in before.items():
        new = after[name]
        if name == "lm_head":  # skip_modules default: the head stays dense
            assert (new == old).all()
            continue
        zeroed = new == 0
        assert int(zeroed.sum()) == int(old.numel() * 0.5), name
        assert (new[~zeroed] == old[~zeroed]).all(), f"{name}: kept weights changed"
        assert old[zeroed].abs().max() <= old[~zeroed].abs().min(), f"{name}: a larger weight was zeroed"


def test_rerun_is_a_cache_hit_and_sparsity_is_in_the_key(registry, tiny_phi3, tmp_path):
    first = modelpress.run(workflow(tiny_phi3, tmp_path, sparsity=0.25))
    again = modelpress.run(workflow(tiny_phi3, tmp_path, sparsity=0.25))
    other = modelpress.run(workflow(tiny_phi3, tmp_path, sparsity=0.75))
    assert [n["cache_hit"] for n in first.footprints] == [False]
    assert [n["cache_hit"] for n in again.footprints] == [True]
    assert [n["cache_hit"] for n in other.footprints] == [False]
    assert other.footprints[0]["output_model_id"] != first.footprints[0]["output_model_id"]


def test_config_is_checked_by_the_schema(registry, tiny_phi3, tmp_path):
    with pytest.raises(ConfigError) as err:
        load(workflow(tiny_phi3, tmp_path, sparsity=1.5, sparsty=0.1))
    text = "\n".join(err.value.problems)
    assert "passes.prune.sparsity" in text
    assert "sparsty" in text and "did you mean 'sparsity'?" in text
    defaults = load(workflow(tiny_phi3, tmp_path)).passes[0].alternatives[0]
    assert defaults["sparsity"] == 0.5 and defaults["skip_modules"] == ["lm_head"]


def test_a_model_with_an_adapter_asks_for_a_merge_first(registry, tiny_phi3, tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    cfg = workflow(tiny_phi3, tmp_path)
    cfg["input_model"]["adapter_path"] = str(adapter)
    with pytest.raises(UserError, match="put a MergeAdapterWeights pass before it"):
        modelpress.run(cfg)
