"""Validation: defaults, references, systems, metrics, the editor schema."""
from __future__ import annotations

import copy

import jsonschema
import pytest

from modelpress.config import component_schema, load, validate, workflow_schema
from modelpress.errors import ConfigError
from tests.core.bad_configs import GOOD, PLUGIN, PLUGIN_NAME, write_config


@pytest.fixture
def registry(register_plugin):
    return register_plugin(PLUGIN, PLUGIN_NAME)


def good(**changes):
    config = copy.deepcopy(GOOD)
    config.update(changes)
    return config


def problems(registry, tmp_path, config) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(write_config(tmp_path, config), registry)
    return info.value.problems


def test_defaults_are_filled_at_every_level(registry, tmp_path):
    wf = load(write_config(tmp_path, GOOD), registry)
    (lora,) = wf.passes[0].alternatives
    assert lora == {"type": "FakeLoRA", "r": 8, "train_data_config": "train",
                    "training_args": {"learning_rate": 0.001, "max_steps": 10, "eval_strategy": "no"},
                    "alpha": 16, "lora_dropout": 0.05, "target_modules": None, "eval_data_config": None}
    data = wf.data_configs["train"]
    assert data["load_dataset_config"]["split"] == "train"
    assert data["pre_process_data_config"] == {"max_seq_len": 1024}
    assert wf.input_model == {"type": "FakeModel", "model_path": "org/some-hub-model",
                              "task": "text-generation", "load_kwargs": {}}
    assert (wf.host, wf.target, wf.evaluator, wf.log_severity_level) == ("local", "local", "common", 1)
    assert wf.evaluate_input_model is True and wf.clean_cache is False and wf.search_strategy is None
    assert wf.systems == {"local": {"type": "LocalSystem", "accelerators": [{"device": "cpu"}]}}


def test_an_absent_pass_option_takes_no_default_from_an_unmatched_branch(registry, tmp_path):
    config = good()
    config["data_configs"][0]["load_dataset_config"]["data_files"] = ["data.jsonl"]
    wf = load(write_config(tmp_path, config), registry)
    assert wf.data_configs["train"]["load_dataset_config"]["data_files"] == [str(tmp_path / "data.jsonl")]


def test_metric_sub_types_take_the_metric_direction(registry, tmp_path):
    config = good()
    config["evaluators"]["common"]["metrics"].append({"name": "lat", "type": "fake_latency"})
    wf = load(write_config(tmp_path, config), registry)
    acc, lat = wf.evaluators["common"]["metrics"]
    assert acc["sub_types"] == [{"name": "accuracy", "priority": 1, "higher_is_better": True}]
    assert acc["user_config"] == {"label_col": "label"}
    assert lat["sub_types"] == [{"name": "avg", "priority": -1, "higher_is_better": False}]
    assert lat["user_config"] == {"runs": 3}


def test_metric_that_reads_data_needs_a_data_config(registry, tmp_path):
    config = good()
    del config["evaluators"]["common"]["metrics"][0]["data_config"]
    assert problems(registry, tmp_path, config) == [
        "evaluators.common.metrics[0].data_config: metric type 'fake_accuracy' reads data; "
        "name one of data_configs"]


def test_every_problem_is_reported_at_once(registry, tmp_path):
    config = good(pases={}, host="nowhere")
    config["passes"]["lora"]["rr"] = 1
    config["input_model"]["model_pth"] = "x"
    lines = problems(registry, tmp_path, config)
    assert [line.split(":")[0] for line in lines] == [
        "pases", "input_model.model_pth", "host", "passes.lora.rr"]


@pytest.fixture
def cuda_host(monkeypatch):
    """Validation as on a host with CUDA (these tests are about GPU systems, not this host)."""
    monkeypatch.setattr("modelpress.config.host.cuda_missing", lambda: "")


def test_named_systems_and_implicit_local(registry, tmp_path, cuda_host):
    config = good(systems={"box": {"type": "LocalSystem", "accelerators": ["gpu"]}}, host="box")
    wf = load(write_config(tmp_path, config), registry)
    assert wf.host == "box" and wf.target == "local"
    assert set(wf.systems) == {"box", "local"}
    config = good(systems={"box": {"type": "LocalSystem"}}, host="box", target="box")
    assert set(load(write_config(tmp_path, config), registry).systems) == {"box"}


def test_check_config_sees_the_target_accelerator(register_plugin, tmp_path, cuda_host):
    from modelpress.components import Pass
    from modelpress.hookspecs import hookimpl

    seen = []

    class Probe(Pass):
        name = "FakeProbe"
        schema = {"type": "object", "properties": {}}

        @classmethod
        def check_config(cls, config, accelerator):
            seen.append(accelerator)
            return ["mode: not on this device; pick another"] if accelerator.device == "gpu" else []

    class ProbePlugin:
        @hookimpl
        def register_passes(self, register):
            register(Probe)

    register_plugin(PLUGIN, PLUGIN_NAME)
    registry = register_plugin(ProbePlugin(), "probe")
    config = good(systems={"box": {"type": "LocalSystem", "accelerators": [
        {"device": "gpu", "execution_providers": ["CUDAExecutionProvider"]}]}}, target="box",
        passes={"p": {"type": "FakeProbe"}})
    assert problems(registry, tmp_path, config) == ["passes.p.mode: not on this device; pick another"]
    assert (seen[-1].device, seen[-1].execution_provider) == ("gpu", "CUDAExecutionProvider")
    config["systems"]["box"]["accelerators"] = ["cpu"]
    config["execution_providers"] = ["DmlExecutionProvider"]
    load(write_config(tmp_path, config), registry)
    assert (seen[-1].device, seen[-1].execution_provider) == ("cpu", "DmlExecutionProvider")


def test_search_strategy_is_validated_with_the_sampler_schema(registry, tmp_path):
    config = good(search_strategy={"sampler": "fake_grid", "max_samples": 4})
    config["passes"]["lora"]["r"] = [4, 8]
    wf = load(write_config(tmp_path, config), registry)
    assert wf.search_strategy == {"sampler": "fake_grid", "max_samples": 4, "execution_order": "joint",
                                  "seed": 0, "stop_when_goals_met": False, "shuffle": False}
    config["search_strategy"]["shufle"] = True
    assert problems(registry, tmp_path, config) == [
        "search_strategy.shufle: unknown key 'shufle'; did you mean 'shuffle'?"]
    del config["search_strategy"]["shufle"]
    del config["evaluator"]
    assert problems(registry, tmp_path, config)[0].startswith("search_strategy: a search needs an evaluator")


def test_duplicate_names_are_errors(registry, tmp_path):
    config = good()
    config["data_configs"].append(copy.deepcopy(config["data_configs"][0]))
    config["evaluators"]["common"]["metrics"].append(copy.deepcopy(config["evaluators"]["common"]["metrics"][0]))
    lines = problems(registry, tmp_path, config)
    assert lines == [
        "data_configs[1].name: 'train' is used by another data config; give each its own name",
        "evaluators.common.metrics[1].name: 'acc' is used by another metric of this evaluator; "
        "give each its own name"]


def test_validate_takes_a_canonical_dict(registry, tmp_path):
    write_config(tmp_path, GOOD)
    wf = validate(GOOD, registry, tmp_path)
    assert wf.notes == [] and wf.source is None
    again = validate(wf.canonical, registry, tmp_path)
    assert again.canonical == wf.canonical


def test_workflow_schema_accepts_the_canonical_config_and_rejects_typos(registry, tmp_path):
    schema = workflow_schema(registry)
    jsonschema.Draft202012Validator.check_schema(schema)
    editor = jsonschema.Draft202012Validator(schema)
    config = good(search_strategy={"sampler": "fake_grid"})
    config["passes"]["lora"]["r"] = {"search": [4, 8]}
    wf = load(write_config(tmp_path, config), registry)
    assert list(editor.iter_errors(wf.canonical)) == []
    bad = copy.deepcopy(wf.canonical)
    bad["passes"]["lora"]["rr"] = 1
    bad["evaluators"]["common"]["metrics"][0]["user_config"]["labl"] = 1
    paths = sorted(tuple(e.absolute_path) for e in editor.iter_errors(bad))
    assert paths == [("evaluators", "common", "metrics", 0, "user_config"), ("passes", "lora")]


def test_component_schema(registry):
    schema = component_schema(registry, "pass", "FakeQLoRA")
    assert schema["properties"]["type"] == {"description": "The pass type.", "enum": ["FakeQLoRA"]}
    assert "double_quant" in schema["properties"] and schema["additionalProperties"] is False
    assert component_schema(registry, None, "OldFakeModel")["title"] == "FakeModel"
    jsonschema.validate({"type": "FakeModel", "model_path": "m"}, component_schema(registry, None, "FakeModel"))
    with pytest.raises(ConfigError, match="did you mean 'FakeQLoRA'"):
        component_schema(registry, None, "FakeQLora")


def test_every_registered_schema_is_a_valid_json_schema(registry):
    from modelpress.config.component_schemas import component_schema_of
    from modelpress.config.schema import validator_for, workflow_skeleton

    validator_for(workflow_skeleton(), "schemas/workflow.json", check=True)
    for reg in registry.all():
        validator_for(component_schema_of(reg.cls), f"{reg.kind} {reg.name}", check=True)


def test_a_broken_plugin_schema_is_reported_not_raised(register_plugin, tmp_path):
    from modelpress.components import Pass
    from modelpress.errors import UserError
    from modelpress.hookspecs import hookimpl

    class Broken(Pass):
        name = "FakeBroken"
        schema = {"type": "object", "properties": {"r": {"type": "integr"}}}

    class BrokenPlugin:
        @hookimpl
        def register_passes(self, register):
            register(Broken)

    register_plugin(PLUGIN, PLUGIN_NAME)
    registry = register_plugin(BrokenPlugin(), "broken")
    with pytest.raises(UserError) as info:
        load(write_config(tmp_path, good(passes={"b": {"type": "FakeBroken", "r": 1}})), registry)
    (line,) = info.value.problems
    assert line.startswith("passes.b: the JSON Schema that checks this is broken") and "integr" in line
