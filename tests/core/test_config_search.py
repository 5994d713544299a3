"""Search values in pass configs: parsing, checking, search_params and resolve."""
from __future__ import annotations

import copy

import pytest

from modelpress.config import load, validate
from modelpress.errors import ConfigError
from tests.core.bad_configs import GOOD, PLUGIN, PLUGIN_NAME, write_config

SEARCH = {"sampler": "fake_grid"}


@pytest.fixture
def registry(register_plugin):
    return register_plugin(PLUGIN, PLUGIN_NAME)


def with_passes(**passes):
    config = copy.deepcopy(GOOD)
    config["search_strategy"] = dict(SEARCH)
    config["passes"] = passes
    return config


def lora(**options):
    return {"type": "FakeLoRA", "train_data_config": "train", **options}


def test_every_search_form_becomes_a_search_spec(registry, tmp_path):
    config = with_passes(lora=lora(r="SEARCHABLE_VALUES", alpha={"search": {"low": 0.5, "high": 64, "log": True}},
                                   lora_dropout=[0.0, 0.1], target_modules=["q_proj", "v_proj"],
                                   training_args={"max_steps": 3}),
                         quant={"type": "FakeQuantize", "block_size": {"search": {"low": 32, "high": 128, "step": 32}}})
    wf = load(write_config(tmp_path, config), registry)
    params = {p.key: (p.step, p.field, p.spec, p.alternative) for p in wf.search_params()}
    assert params == {
        "lora.r": ("lora", "r", {"choices": [4, 8, 16]}, None),
        "lora.alpha": ("lora", "alpha", {"low": 0.5, "high": 64, "step": None, "log": True, "type": "float"}, None),
        "lora.lora_dropout": ("lora", "lora_dropout", {"choices": [0.0, 0.1]}, None),
        "quant.block_size": ("quant", "block_size", {"low": 32, "high": 128, "step": 32, "log": False,
                                                     "type": "int"}, None),
    }
    config_of = wf.passes[0].alternatives[0]
    assert config_of["target_modules"] == ["q_proj", "v_proj"]  # the field takes a list: not a search
    assert config_of["r"] == {"$search": {"choices": [4, 8, 16]}}
    chain = wf.resolve({"lora.r": 16, "lora.alpha": 2.5, "lora.lora_dropout": 0.1, "quant.block_size": 64})
    assert chain[0] == ("lora", {**config_of, "r": 16, "alpha": 2.5, "lora_dropout": 0.1})
    assert chain[1] == ("quant", {"type": "FakeQuantize", "block_size": 64, "precision": "int4", "scale": 0.5})
    # the stored form reloads to the same workflow
    assert validate(wf.canonical, registry, tmp_path).canonical == wf.canonical


def test_alternatives_and_conditional_values(registry, tmp_path):
    depends = {"search": {"depends_on": "precision", "cases": {"int4": [32, 128], "fp32": [None]}}}
    config = with_passes(
        train=[lora(r=4), {"type": "FakeQLoRA", "train_data_config": "train", "r": [8, 16]}],
        quant={"type": "FakeQuantize", "precision": ["int4", "fp32"], "block_size": depends})
    wf = load(write_config(tmp_path, config), registry)
    params = [(p.key, p.field, p.spec, p.alternative) for p in wf.search_params()]
    assert params == [
        ("train", None, {"choices": [0, 1]}, None),
        ("train.r", "r", {"choices": [8, 16]}, 1),
        ("quant.precision", "precision", {"choices": ["int4", "fp32"]}, None),
        ("quant.block_size", "block_size", {"depends_on": "precision",
                                            "cases": {"int4": [32, 128], "fp32": [None]}}, None),
    ]
    chain = dict(wf.resolve({"train": 1, "train.r": 16, "quant.precision": "int4", "quant.block_size": 128}))
    assert chain["train"]["type"] == "FakeQLoRA" and chain["train"]["r"] == 16
    assert chain["quant"]["block_size"] == 128
    chain = dict(wf.resolve({"train": 0, "quant.precision": "fp32", "quant.block_size": None}))
    assert chain["train"]["type"] == "FakeLoRA" and chain["train"]["r"] == 4
    assert chain["quant"] == {"type": "FakeQuantize", "precision": "fp32", "block_size": 32, "scale": 0.5}
    with pytest.raises(ConfigError, match="passes.quant.precision: the search point has no value"):
        wf.resolve({"train": 0})


def test_the_search_space_enumerates_points_that_resolve(registry, tmp_path):
    from modelpress.search.space import space_from_workflow

    depends = {"search": {"depends_on": "precision", "cases": {"int4": [32, 128], "fp32": [None]}}}
    config = with_passes(train=[lora(r=4), {"type": "FakeQLoRA", "train_data_config": "train", "r": [8, 16]}],
                         quant={"type": "FakeQuantize", "precision": ["int4", "fp32"], "block_size": depends})
    wf = load(write_config(tmp_path, config), registry)
    points = space_from_workflow(wf).grid()
    assert len(points) == 3 * 3  # (lora | qlora r8 | qlora r16) x (int4/32, int4/128, fp32)
    chains = [wf.resolve(p) for p in points]
    assert len({repr(c) for c in chains}) == 9


def test_without_a_search_the_plain_config_passes_through(registry, tmp_path):
    wf = load(write_config(tmp_path, GOOD), registry)
    assert wf.search_params() == []
    assert wf.resolve({}) == [("lora", wf.passes[0].alternatives[0])]


@pytest.mark.parametrize("passes,expected", [
    ({"lora": lora(r=[4, "big"])}, 'passes.lora.r: candidate "big": expected an integer, got "big"'),
    ({"lora": lora(r={"search": {"low": 1.5, "high": 8}})},
     "passes.lora.r: a float range for a field that takes integers; use integer bounds"),
    ({"lora": lora(r={"search": {"low": 9, "high": 8}})}, "passes.lora.r: low 9 is above high 8; swap them"),
    ({"lora": lora(r={"search": {"lo": 1, "high": 8}})}, "passes.lora.r: a range needs 'low' and 'high'"),
    ({"lora": lora(r={"search": []})}, "passes.lora.r: an empty list of candidates; give at least one value"),
    ({"lora": lora(alpha="SEARCHABLE_VALUES")},
     "passes.lora.alpha: 'SEARCHABLE_VALUES' but this field has no default search values; "
     "give a list of candidates"),
    ({"q": {"type": "FakeQuantize", "block_size": {"search": {"depends_on": "precison", "cases": {"int4": [32]}}}}},
     "passes.q.block_size.depends_on: no other field 'precison' in this pass; did you mean 'precision'?"),
    ({"q": {"type": "FakeQuantize", "precision": "int8",
            "block_size": {"search": {"depends_on": "precision", "cases": {"int4": [32]}}}}},
     "passes.q.block_size: no case for precision = \"int8\"; add \"int8\" to its cases"),
    ({"q": {"type": "FakeQuantize", "block_size": {"search": {"depends_on": "precision", "cases": {"int4": [33]}}}}},
     "passes.q.block_size: candidate 33: 33 is not one of 32, 64, 128; use one of them"),
])
def test_bad_search_values(registry, tmp_path, passes, expected):
    with pytest.raises(ConfigError) as info:
        load(write_config(tmp_path, with_passes(**passes)), registry)
    assert info.value.problems[0].startswith(expected) and len(info.value.problems) == 1, info.value.problems


def test_alternatives_need_a_search(registry, tmp_path):
    config = copy.deepcopy(GOOD)
    config["passes"] = {"train": [lora(), {"type": "FakeQLoRA", "train_data_config": "train"}]}
    with pytest.raises(ConfigError) as info:
        load(write_config(tmp_path, config), registry)
    assert info.value.problems == ['passes.train: a list of 2 alternative passes needs a search; set '
                                   '"search_strategy": {"sampler": "tpe"} (or another sampler), or keep one']


def test_training_args_values_are_searched_at_their_dotted_path(registry, tmp_path):
    config = with_passes(lora=lora(training_args={"learning_rate": [1e-4, 2e-4, 5e-4], "max_steps": 3,
                                                  "eval_strategy": {"search": ["no", "steps"]}}))
    wf = load(write_config(tmp_path, config), registry)
    params = {p.key: (p.step, p.field, p.spec) for p in wf.search_params()}
    assert params == {
        "lora.training_args.learning_rate": ("lora", "training_args.learning_rate", {"choices": [1e-4, 2e-4, 5e-4]}),
        "lora.training_args.eval_strategy": ("lora", "training_args.eval_strategy", {"choices": ["no", "steps"]}),
    }
    [(_, resolved)] = wf.resolve({"lora.training_args.learning_rate": 2e-4, "lora.training_args.eval_strategy": "steps"})
    assert resolved["training_args"] == {"learning_rate": 2e-4, "max_steps": 3, "eval_strategy": "steps"}
    assert validate(wf.canonical, registry, tmp_path).canonical == wf.canonical  # the stored form reloads
    from modelpress.search.space import space_from_workflow

    assert len(space_from_workflow(wf).grid()) == 6


def test_a_bad_nested_candidate_names_its_dotted_path(registry, tmp_path):
    config = with_passes(lora=lora(training_args={"learning_rate": [1e-4, -1]}))
    with pytest.raises(ConfigError) as err:
        load(write_config(tmp_path, config), registry)
    assert any(line.startswith("passes.lora.training_args.learning_rate: candidate -1:") for line in err.value.problems)
