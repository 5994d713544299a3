"""schemas/modelpress.schema.json: the workflow schema the package ships, for editors.

It is generated (``python -m modelpress.cli.docgen``) from the built-in
plugins, carries ``$id`` urn:modelpress:schema:workflow, and checks pass
options: a config that runs shows no error, a misspelt LoRA option does.
"""
from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator

from modelpress.cli.docgen import builtin_registry
from modelpress.config.editor import SHIPPED, WORKFLOW_ID, workflow_schema

ROOT = Path(__file__).resolve().parent.parent


def shipped() -> dict:
    return json.loads(resources.files("modelpress.schemas").joinpath(SHIPPED).read_text(encoding="utf-8"))


def test_the_shipped_schema_is_fresh_and_has_its_id():
    schema = shipped()
    assert WORKFLOW_ID == "urn:modelpress:schema:workflow"
    assert schema["$id"] == WORKFLOW_ID
    assert schema == workflow_schema(builtin_registry()), \
        "regenerate it: python -m modelpress.cli.docgen"
    Draft202012Validator.check_schema(schema)


def test_modelpress_schema_prints_the_same_id():
    proc = subprocess.run([sys.executable, "-m", "modelpress", "schema"], capture_output=True, text=True,
                          env={"MODELPRESS_DISABLE_PLUGIN_AUTOLOAD": "1", "PATH": ""}, check=True)
    assert json.loads(proc.stdout)["$id"] == WORKFLOW_ID


def lora_config(**lora) -> dict:
    return {"$schema": "./modelpress.schema.json",
            "input_model": {"type": "HfModel", "model_path": "model"},
            "data_configs": [{"name": "train", "type": "HuggingfaceContainer",
                              "load_dataset_config": {"data_name": "json", "data_files": "train.jsonl"}}],
            "passes": {"lora": {"type": "LoRA", "train_data_config": "train", **lora}}}


def errors(config: dict) -> list[str]:
    validator = Draft202012Validator(shipped())
    return [e.message for e in validator.iter_errors(config)]


def test_the_shipped_schema_checks_pass_options():
    assert errors(lora_config(r=16, training_args={"max_steps": 2})) == []
    assert errors(lora_config(r=[8, 16])) == []  # a search value
    # a misspelt option and a wrong type are errors in the editor, as in modelpress validate
    assert errors(lora_config(rr=16))
    assert errors(lora_config(r="big"))
    assert errors(lora_config(quant_type="nf4"))  # QLoRA's option, not LoRA's


def test_the_example_config_shows_no_schema_error():
    config = yaml.safe_load((ROOT / "examples" / "tone-classifier" / "config.yaml").read_text(encoding="utf-8"))
    assert errors(config) == []
