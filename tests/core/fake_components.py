"""Test components for the config tests (and the CLI tests that reuse them).

``PLUGIN`` registers them: ``register_plugin(PLUGIN, "fake_components")``.
Names start with "Fake" so they never collide with the built-ins.
"""
from __future__ import annotations

import copy

from modelpress import hookimpl
from modelpress.components import DataContainer, Metric, ModelHandle, Pass, Resource, SearchStrategy

LORA_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "x-renamed": {"lora_r": "r", "lora_alpha": "alpha", "old_knob": None},
    "required": ["train_data_config"],
    "properties": {
        "r": {"type": "integer", "minimum": 1, "default": 8, "x-search": [4, 8, 16]},
        "alpha": {"type": "number", "default": 16},
        "lora_dropout": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.05},
        "target_modules": {"type": ["array", "null"], "items": {"type": "string"}, "default": None},
        "train_data_config": {"type": "string", "x-data-config": True},
        "eval_data_config": {"type": ["string", "null"], "x-data-config": True, "default": None},
        "output_folder": {"type": "string", "x-path": "output"},
        "training_args": {
            "type": "object",
            "additionalProperties": False,
            "x-renamed": {"evaluation_strategy": "eval_strategy"},
            "default": {},
            "properties": {
                "learning_rate": {"type": "number", "exclusiveMinimum": 0, "default": 0.0001},
                "max_steps": {"type": "integer", "minimum": 1, "default": 10},
                "eval_strategy": {"type": "string", "enum": ["no", "steps", "epoch"], "default": "no"},
            },
        },
    },
}
QLORA_SCHEMA = copy.deepcopy(LORA_SCHEMA)
QLORA_SCHEMA["properties"].update({
    "double_quant": {"type": "boolean", "default": True},
    "quant_type": {"type": "string", "enum": ["nf4", "fp4"], "default": "nf4"},
})


class FakeLoRA(Pass):
    """A pass with LoRA's option names (it never runs in these tests)."""

    name = "FakeLoRA"
    schema = LORA_SCHEMA

    @classmethod
    def check_config(cls, config, accelerator):
        if config.get("target_modules") == ():
            return ["target_modules: an empty list trains nothing; list module names or use null"]
        return []


class FakeQLoRA(FakeLoRA):
    """FakeLoRA plus quantization options."""

    name = "FakeQLoRA"
    schema = QLORA_SCHEMA


class FakeQuantize(Pass):
    """A pass whose block size depends on its precision (for depends_on)."""

    name = "FakeQuantize"
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "precision": {"type": "string", "enum": ["int4", "int8", "fp32"], "default": "int4"},
            "block_size": {"type": "integer", "enum": [32, 64, 128], "default": 32},
            "scale": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5},
        },
    }


class FakeModel(ModelHandle):
    """A model handle with a model folder and an adapter folder."""

    name = "FakeModel"
    aliases = ("OldFakeModel",)
    path_fields = ("model_path", "adapter_path")
    schema = {
        "type": "object",
        "additionalProperties": False,
        "x-renamed": {"model_loading_args": "load_kwargs"},
        "required": ["model_path"],
        "properties": {
            "model_path": {"anyOf": [{"type": "string"},
                                     {"type": "object", "required": ["type"],
                                      "properties": {"type": {"type": "string"}, "config": {"type": "object"}}}]},
            "model_name": {"type": "string"},
            "adapter_path": {"type": "string", "x-path": True},
            "task": {"type": "string", "default": "text-generation"},
            "load_kwargs": {"type": "object", "default": {}},
        },
    }




class FakeData(DataContainer):
    """A data container with Olive's nested *_config objects."""

    name = "FakeData"
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "load_dataset_config": {
                "type": "object",
                "additionalProperties": False,
                "required": ["data_files"],
                "properties": {
                    "data_files": {"x-path": "input",
                                   "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}},
                                             {"type": "object"}]},
                    "split": {"type": "string", "default": "train"},
                },
            },
            "pre_process_data_config": {
                "type": "object",
                "additionalProperties": False,
                "x-renamed": {"source_max_len": "max_seq_len", "dataset_type": None},
                "default": {},
                "properties": {
                    "max_seq_len": {"type": "integer", "minimum": 1, "default": 1024},
                    "text_template": {"type": "string"},
                },
            },
        },
    }


class FakeAccuracy(Metric):
    """A metric with two sub types that reads data."""

    name = "fake_accuracy"
    sub_types = {"accuracy": True, "f1": True}
    schema = {"type": "object", "additionalProperties": False,
              "properties": {"label_col": {"type": "string", "default": "label"}}}


class FakeLatency(Metric):
    """A metric that needs no data; lower is better."""

    name = "fake_latency"
    sub_types = {"avg": False, "p90": False}
    needs_data = False
    schema = {"type": "object", "properties": {"runs": {"type": "integer", "minimum": 1, "default": 3}}}


class FakeGrid(SearchStrategy):
    """A search strategy with one option of its own."""

    name = "fake_grid"
    schema = {"type": "object", "properties": {"shuffle": {"type": "boolean", "default": False}}}


class FakeBlob(Resource):
    """A remote file named by a container and a path."""

    name = "fake_blob"
    schema = {"type": "object", "required": ["path"],
              "properties": {"path": {"type": "string"}, "account": {"type": "string", "default": "dev"}}}


class _Plugin:
    """Registers the fake components."""

    @hookimpl
    def register_passes(self, register):
        register(FakeLoRA)
        register(FakeQLoRA)
        register(FakeQuantize)

    @hookimpl
    def register_model_types(self, register):
        register(FakeModel)

    @hookimpl
    def register_data_containers(self, register):
        register(FakeData)

    @hookimpl
    def register_metrics(self, register):
        register(FakeAccuracy)
        register(FakeLatency)

    @hookimpl
    def register_search_strategies(self, register):
        register(FakeGrid)

    @hookimpl
    def register_resources(self, register):
        register(FakeBlob)


PLUGIN = _Plugin()
PLUGIN_NAME = "fake_components"
