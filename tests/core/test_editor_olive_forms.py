"""The editor schema accepts every Olive form the migration rewrites, and still marks typos.

The shipped schema (schemas/modelpress.schema.json, ``modelpress schema``)
is the canonical workflow schema widened by the migration's own tables
(:mod:`modelpress.config.editor_olive`). Each Olive-form config here migrates
with no problem and shows no schema error; each canonical config still shows
none; a misspelt key, a wrong type or a key modelpress refuses shows one, in
whichever form it is written, and modelpress refuses it too.
"""
from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from modelpress.cli.docgen import builtin_registry
from modelpress.config import check, migrate, workflow_schema
from modelpress.config.editor import SHIPPED
from modelpress.errors import ConfigError
from tests.core.bad_configs import GOOD, PLUGIN, PLUGIN_NAME
from tests.core.test_config_migrate import CURRENT, OLIVE_06
from tests.core.test_config_olive_forms import _data_form as _shared_data_form

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
OLIVE_FILES = [TESTS / "data" / "olive-0.6.1-tone.json", TESTS / "data" / "seed-azureml.json",
               TESTS / "core" / "configs" / "seed-azureml.json",
               TESTS / "core" / "configs" / "olive" / "cookbook-phrase-classification.json"]
SEEDS = [TESTS / "data" / "seed-qlora-local.json", TESTS / "core" / "configs" / "seed-qlora-local.json"]
CANONICAL_FILES = sorted((ROOT / "examples" / "tone-classifier").glob("*.yaml"))


def shipped() -> dict:
    return json.loads(resources.files("modelpress.schemas").joinpath(SHIPPED).read_text(encoding="utf-8"))


def errors(schema: dict, config: dict) -> list[str]:
    """Every leaf error (``path: message``), the alternatives of an ``anyOf`` included."""
    def leaves(error) -> list:
        return [leaf for sub in error.context for leaf in leaves(sub)] if error.context else [error]
    found = [leaf for e in Draft202012Validator(schema).iter_errors(config) for leaf in leaves(e)]
    return sorted({f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in found})


def _data_form(form: str) -> dict:
    """A copy of the cookbook's data config in an Olive release's form (its parts are shared dicts)."""
    return copy.deepcopy(_shared_data_form(form))


def read(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def migrates_cleanly(raw: dict, registry) -> bool:
    migrate(raw, registry)  # raises ConfigError on a problem
    return True


@pytest.fixture(scope="module")
def builtins():
    return builtin_registry()


@pytest.fixture
def fake(register_plugin):
    return register_plugin(PLUGIN, PLUGIN_NAME)


@pytest.mark.parametrize("path", OLIVE_FILES, ids=lambda p: str(p.relative_to(TESTS)))
def test_olive_config_files_show_no_schema_error(path, builtins):
    raw = read(path)
    assert migrates_cleanly(raw, builtins)
    assert errors(shipped(), raw) == []


def test_the_seed_shows_the_one_error_modelpress_reports(builtins, tmp_path):
    """The brief's seed sets QLoRA's double_quant on a LoRA pass: modelpress refuses it, so does the editor."""
    for path in SEEDS:
        raw = read(path)
        problems = check(raw, builtins, tmp_path)[3]
        assert [p for p in problems if "double_quant" in p] == [
            "passes.lora.config.double_quant: LoRA has no option 'double_quant'; it belongs to QLoRA: "
            "set \"type\": \"QLoRA\""]
        assert [e for e in errors(shipped(), raw) if "was unexpected" in e] == [
            "passes/lora/config: Additional properties are not allowed ('double_quant' was unexpected)"]
        raw["passes"]["lora"]["type"] = "QLoRA"
        assert migrates_cleanly(raw, builtins)
        assert errors(shipped(), raw) == []


@pytest.mark.parametrize("form", ["0.5", "0.6.2", "0.7-0.12", "0.13"])
def test_every_olive_data_config_form_shows_no_schema_error(form, builtins):
    raw = read(OLIVE_FILES[-1])
    raw["data_configs"] = [_data_form(form)]
    assert migrates_cleanly(raw, builtins)
    assert errors(shipped(), raw) == []
    raw["data_configs"] = {"dataset_default_train": {k: v for k, v in _data_form(form).items() if k != "name"}}
    assert migrates_cleanly(raw, builtins)
    assert errors(shipped(), raw) == []


def _fake_olive_forms() -> dict[str, dict]:
    inline = {"type": "FakeData", "load_dataset_config": {"params": {"data_files": "data.jsonl"}}}
    no_evaluator = {k: v for k, v in GOOD.items() if k != "evaluator"}
    return {
        "olive-0.6": OLIVE_06,
        "search keys": {**GOOD, "search_strategy": {"execution_order": "joint", "search_algorithm": "fake_grid",
                                                    "search_algorithm_config": {"num_samples": 3, "seed": 7}}},
        "alternatives": {**GOOD, "passes": {"q": [
            {"type": "FakeLoRA", "config": {"lora_r": 4, "train_data_config": "train"}},
            {"type": "FakeQLoRA", "lora_r": 8, "train_data_config": "train"}]}},
        "inline data configs": {
            "input_model": {"type": "FakeModel", "model_path": "m"},
            "passes": {"lora": {"type": "FakeLoRA", "config": {"train_data_config": inline}}},
            "evaluators": {"e": {"metrics": [{"name": "acc", "type": "fake_accuracy", "data_config": inline}]}}},
        "dropped engine keys": {**GOOD, "engine": {"log_to_file": True, "ort_log_severity_level": 3,
                                                   "cache_dir": "c"}},
        "inline host and evaluator": {**no_evaluator, "engine": {
            "host": {"type": "LocalSystem", "config": {"accelerators": ["cpu"]}},
            "evaluator": {"metrics": [{"name": "acc", "type": "fake_accuracy", "data_config": "train"}]}}},
        "hf_config beside model_path": {**GOOD, "input_model": {
            "type": "FakeModel", "model_path": "m", "hf_config": {"model_name": "org/m",
                                                                  "from_pretrained_args": {"revision": "x"}}}},
    }


@pytest.mark.parametrize("name", list(_fake_olive_forms()))
def test_olive_forms_of_plugin_components_show_no_schema_error(name, fake):
    raw = _fake_olive_forms()[name]
    assert migrates_cleanly(raw, fake)
    assert errors(workflow_schema(fake), raw) == []


def test_canonical_configs_still_show_no_schema_error(fake, builtins):
    assert errors(workflow_schema(fake), CURRENT) == []
    assert errors(workflow_schema(fake, olive=False), CURRENT) == []
    assert errors(workflow_schema(fake), GOOD) == []
    for path in CANONICAL_FILES:
        assert errors(shipped(), read(path)) == [], path
    for path in OLIVE_FILES:  # what modelpress migrate prints is canonical
        canonical, _ = migrate(read(path), builtins)
        assert errors(workflow_schema(builtins, olive=False), canonical) == [], path


def _set(config: dict, dotted: str, value) -> dict:
    out = copy.deepcopy(config)
    *head, last = dotted.split(".")
    target = out
    for part in head:
        target = target[int(part)] if isinstance(target, list) else target[part]
    target[last] = value
    return out


# (where, key path written in the Olive form, value, the schema error's path and word)
TYPOS = [
    ("lora option in config", "passes.lora.config.lora_rr", 64, "'lora_rr' was unexpected"),
    ("old name, wrong type", "passes.lora.config.lora_r", "big", "'big' is not of type 'integer'"),
    ("engine key", "engine.cache_dirr", "cache", "'cache_dirr' was unexpected"),
    ("Olive key modelpress refuses", "engine.pass_flows", [["lora"]], "'pass_flows' was unexpected"),
    ("hf_config key", "input_model.config.hf_config.model_nam", "m", "'model_nam' was unexpected"),
    ("params_config key", "data_configs.0.params_config.data_nam", "json", "'data_nam' was unexpected"),
    ("component_kwargs key", "data_configs.0.params_config.component_kwargs.pre_process_data.text_col",
     ["phrase"], "'text_col' was unexpected"),
    ("system option in config", "systems.local_system.config.acelerators", [], "'acelerators' was unexpected"),
]


@pytest.mark.parametrize("where,dotted,value,expected", TYPOS, ids=[t[0] for t in TYPOS])
def test_a_typo_in_an_olive_form_is_still_an_error(where, dotted, value, expected, builtins, tmp_path):
    raw = _set(read(OLIVE_FILES[0]), dotted, value)
    assert any(expected in e for e in errors(shipped(), raw)), errors(shipped(), raw)
    assert check(raw, builtins, tmp_path)[3], "modelpress refuses it too"


def test_a_typo_in_the_other_data_forms_is_still_an_error(builtins):
    raw = read(OLIVE_FILES[-1])
    entry = _data_form("0.7-0.12")
    entry["load_dataset_config"]["params"]["splitt"] = "train"
    entry["pre_process_data_config"]["type"] = "my_pre_process"  # not Olive's default: modelpress keeps it
    raw["data_configs"] = [entry]
    found = errors(shipped(), raw)
    assert any("'splitt' was unexpected" in e for e in found), found
    assert any("'my_pre_process' does not match" in e for e in found), found
    entry = _data_form("0.5")
    entry["components"]["load_dataset"]["params"]["splitt"] = "train"
    raw["data_configs"] = [entry]
    assert any("'splitt' was unexpected" in e for e in errors(shipped(), raw))


def test_an_old_and_a_new_name_together_is_an_error_as_in_modelpress(fake):
    raw = {**GOOD, "passes": {"lora": {"type": "FakeLoRA", "r": 8, "lora_r": 16, "train_data_config": "train"}}}
    with pytest.raises(ConfigError, match="renamed to 'r', which is also set"):
        migrate(raw, fake)
    assert any("should not be valid" in e for e in errors(workflow_schema(fake), raw))


def test_olive_search_keys_check_the_samplers_options(builtins, tmp_path):
    good = {**read(CANONICAL_FILES[-1]), "search_strategy": {
        "search_algorithm": "exhaustive", "search_algorithm_config": {"num_samples": 14, "seed": 0}}}
    assert migrates_cleanly(good, builtins)
    assert errors(shipped(), good) == []
    bad = _set(good, "search_strategy.search_algorithm_config.num_sample", 14)
    assert any("'num_sample' was unexpected" in e for e in errors(shipped(), bad))
    assert check(bad, builtins, tmp_path)[3], "modelpress refuses it too"


def test_olive_keys_modelpress_refuses_are_errors_where_ever_written(builtins, tmp_path):
    from modelpress.config.olive_workflow import UNSUPPORTED_KEYS
    raw = read(OLIVE_FILES[0])
    for key in UNSUPPORTED_KEYS:
        for config in (_set(raw, key, {}), _set(raw, f"engine.{key}", {})):
            assert any(f"'{key}' was unexpected" in e for e in errors(shipped(), config)), key
            assert check(config, builtins, tmp_path)[3], "modelpress refuses it too"


def test_olive_05_data_root_shows_no_schema_error(builtins):
    raw = {**read(OLIVE_FILES[-1]), "data_root": "dataset", "data_configs": [_data_form("0.5")]}
    assert migrates_cleanly(raw, builtins)
    assert errors(shipped(), raw) == []
    assert any("1 is not of type 'string'" in e for e in errors(shipped(), {**raw, "data_root": 1}))
