"""A table of bad configs, each with a substring its one-line error must contain.

``BAD_CONFIGS = [(id, config, expected), ...]`` where ``config`` is a dict
(written as config.json), a string (written as config.yaml), a
``("name.ext", text)`` pair (written as is), or None (no file: a missing
config). ``write_config(folder, config)`` writes one next to ``data.jsonl``
(the data file the good config reads) and returns the path to load.
The components they use come from ``PLUGIN`` (register it first).
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from tests.core.fake_components import PLUGIN, PLUGIN_NAME  # noqa: F401 (re-exported)

GOOD: dict = {
    "input_model": {"type": "FakeModel", "model_path": "org/some-hub-model"},
    "data_configs": [{"name": "train", "type": "FakeData", "load_dataset_config": {"data_files": "data.jsonl"}}],
    "evaluators": {"common": {"metrics": [{"name": "acc", "type": "fake_accuracy", "data_config": "train",
                                           "sub_types": [{"name": "accuracy", "priority": 1}]}]}},
    "passes": {"lora": {"type": "FakeLoRA", "r": 8, "train_data_config": "train",
                        "training_args": {"learning_rate": 0.001}}},
    "evaluator": "common",
}


def changed(path: str, value: Any = None, *, delete: bool = False) -> dict:
    """GOOD with one value set (or deleted) at a dotted path (``[0]`` for lists)."""
    config = copy.deepcopy(GOOD)
    parts = [int(p) if p.isdigit() else p for p in path.replace("[", ".").replace("]", "").split(".")]
    target: Any = config
    for part in parts[:-1]:
        target = target[part]
    if delete:
        del target[parts[-1]]
    else:
        target[parts[-1]] = value
    return config


def write_config(folder: Path, config: Any) -> Path:
    """Write ``config`` (see the module docstring) into ``folder``; return its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.jsonl").write_text('{"text": "hello", "label": "joy"}\n', encoding="utf-8")
    if config is None:
        return folder / "missing-config.yaml"
    if isinstance(config, dict):
        path, text = folder / "config.json", json.dumps(config, indent=2)
    elif isinstance(config, tuple):
        path, text = folder / config[0], config[1]
    else:
        path, text = folder / "config.yaml", config
    path.write_text(text, encoding="utf-8")
    return path


OLIVE_TYPO = {
    "input_model": {"type": "OldFakeModel", "config": {"hf_config": {"model_name": "org/m"}}},
    "data_configs": {"train": {"type": "FakeData", "load_dataset_config": {"params": {"data_files": "data.jsonl"}}}},
    "passes": {"lora": {"type": "FakeLoRA", "config": {"lora_rr": 8, "train_data_config": "train"}}},
}

BAD_CONFIGS: list[tuple[str, Any, str]] = [
    ("top-level typo", {**GOOD, "pases": {}}, "pases: unknown key 'pases'; did you mean 'passes'?"),
    ("engine key typo", {**GOOD, "engine": {"log_severity_levl": 0}},
     "log_severity_levl: unknown key 'log_severity_levl'; did you mean 'log_severity_level'?"),
    ("missing input_model", changed("input_model", delete=True), "missing required key 'input_model'"),
    ("input model typo", changed("input_model.model_pth", "x"),
     "input_model.model_pth: unknown key 'model_pth'; did you mean 'model_path'?"),
    ("input model without type", changed("input_model.type", delete=True),
     "input_model: missing required key 'type'"),
    ("unknown model type", changed("input_model.type", "FakeModl"),
     "input_model.type: no plugin provides model type"),
    ("pass option typo", changed("passes.lora.rr", 8), "passes.lora.rr: unknown key 'rr'"),
    ("olive pass option typo", OLIVE_TYPO, "passes.lora.config.lora_rr: unknown key 'lora_rr'; did you mean 'lora_r'?"),
    ("nested pass option typo", changed("passes.lora.training_args.learnin_rate", 0.1),
     "passes.lora.training_args.learnin_rate: unknown key 'learnin_rate'; did you mean 'learning_rate'?"),
    ("pass option wrong type", changed("passes.lora.r", "big"), "passes.lora.r: expected an integer, got \"big\""),
    ("pass option out of range", changed("passes.lora.lora_dropout", 2),
     "passes.lora.lora_dropout: 2 is out of range; it must be at most 1"),
    ("pass enum typo", changed("passes.lora.training_args.eval_strategy", "step"),
     "passes.lora.training_args.eval_strategy: \"step\" is not one of"),
    ("option of another pass type", changed("passes.lora.double_quant", True),
     "passes.lora.double_quant: FakeLoRA has no option 'double_quant'; it belongs to FakeQLoRA: "
     "set \"type\": \"FakeQLoRA\""),
    ("unknown pass type", changed("passes.lora.type", "FakeLora"),
     "passes.lora.type: no plugin provides pass type 'FakeLora'; did you mean 'FakeLoRA'?"),
    ("pass without type", changed("passes.lora.type", delete=True), "passes.lora: missing required key 'type'"),
    ("pass missing required option", changed("passes.lora.train_data_config", delete=True),
     "passes.lora: missing required key 'train_data_config'"),
    ("pass names a missing data config", changed("passes.lora.train_data_config", "trian"),
     "passes.lora.train_data_config: no data config named 'trian'; did you mean 'train'?"),
    ("pass check_config problem", changed("passes.lora.target_modules", []),
     "passes.lora.target_modules: an empty list trains nothing"),
    ("passes not an object", changed("passes", [{"type": "FakeLoRA"}]), "passes: expected an object, got"),
    ("unknown system type", changed("systems", {"local": {"type": "LocalSystm"}}),
     "systems.local.type: no plugin provides system type 'LocalSystm'; did you mean 'LocalSystem'?"),
    ("system option typo", changed("systems", {"local": {"type": "LocalSystem", "acelerators": ["cpu"]}}),
     "systems.local.acelerators: unknown key 'acelerators'; did you mean 'accelerators'?"),
    ("host names a missing system", {**GOOD, "host": "gpu_box"}, "host: no system named 'gpu_box'"),
    ("target names a missing system", {**GOOD, "systems": {"box": {"type": "LocalSystem"}}, "target": "bx"},
     "target: no system named 'bx'; did you mean 'box'?"),
    ("evaluator names a missing evaluator", {**GOOD, "evaluator": "comon"},
     "evaluator: no evaluator named 'comon'; did you mean 'common'?"),
    ("unknown data container type", changed("data_configs[0].type", "FakeDta"),
     "data_configs[0].type: no plugin provides data container type 'FakeDta'; did you mean 'FakeData'?"),
    ("nested data config typo", changed("data_configs[0].load_dataset_config.splt", "test"),
     "data_configs[0].load_dataset_config.splt: unknown key 'splt'; did you mean 'split'?"),
    ("data config without name", changed("data_configs[0].name", delete=True),
     "data_configs[0]: missing required key 'name'"),
    ("missing data file", changed("data_configs[0].load_dataset_config.data_files", "nowhere.jsonl"),
     "data_configs[0].load_dataset_config.data_files: no such file or folder \"nowhere.jsonl\""),
    ("unknown metric type", changed("evaluators.common.metrics[0].type", "fake_acuracy"),
     "evaluators.common.metrics[0].type: no plugin provides metric type 'fake_acuracy'; "
     "did you mean 'fake_accuracy'?"),
    ("unknown metric sub type", changed("evaluators.common.metrics[0].sub_types[0].name", "acuracy"),
     "evaluators.common.metrics[0].sub_types[0].name: metric type 'fake_accuracy' has no sub type 'acuracy'; "
     "did you mean 'accuracy'?"),
    ("metric names a missing data config", changed("evaluators.common.metrics[0].data_config", "eval"),
     "evaluators.common.metrics[0].data_config: no data config named 'eval'"),
    ("metric user_config typo", changed("evaluators.common.metrics[0].user_config", {"label_cl": "y"}),
     "evaluators.common.metrics[0].user_config.label_cl: unknown key 'label_cl'; did you mean 'label_col'?"),
    ("goal type typo", changed("evaluators.common.metrics[0].sub_types[0].goal", {"type": "treshold", "value": 1}),
     "evaluators.common.metrics[0].sub_types[0].goal.type: \"treshold\" is not one of"),
    ("search value without a search", changed("passes.lora.r", [4, 8]),
     "passes.lora.r: a search value needs a search"),
    ("unknown sampler", {**GOOD, "search_strategy": {"sampler": "fake_gird"}},
     "search_strategy.sampler: no plugin provides search strategy type 'fake_gird'; did you mean 'fake_grid'?"),
    ("log level out of range", {**GOOD, "log_severity_level": 7},
     "log_severity_level: 7 is out of range; it must be at most 4"),
    ("bad YAML", "input_model:\n  type: FakeModel\n  model_path: [unclosed\npasses: {}\n", "invalid YAML"),
    ("bad JSON", ("config.json", '{"input_model": {"type": "FakeModel",}}'), "config.json:1:38: invalid JSON"),
    ("duplicate YAML key", "input_model:\n  type: FakeModel\n  type: OldFakeModel\n",
     "config.yaml:3:3: duplicate key 'type'"),
    ("config is a list", "- input_model\n", "config.yaml: the config is a list"),
    ("missing config file", None, "missing-config.yaml: no such config file"),
]
