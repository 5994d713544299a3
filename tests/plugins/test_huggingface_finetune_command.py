"""``modelpress finetune`` (the Hugging Face plugin's command): the config it writes.

Nothing trains here: each test stops at ``--no-run`` and checks the written
config, and that it validates.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelpress.cli import main
from modelpress.config import load

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture
def inputs(tmp_path, plugin_registry):
    data = tmp_path / "tone.jsonl"
    data.write_text((DATA / "tone-sample.jsonl").read_text())
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    return tmp_path, model, data


def finetune(inputs, *extra) -> tuple[int, dict | None]:
    tmp, model, data = inputs
    target = tmp / "ft.json"
    code = main(["finetune", "--model", str(model), "--data", str(data), "--text-template", "{phrase} -> {tone}",
                 "--save-config", str(target), "--no-run", *extra])
    return code, json.loads(target.read_text()) if target.exists() else None


def test_text_template_escapes_are_decoded(inputs):
    tmp, model, data = inputs
    target = tmp / "ft.json"
    assert main(["finetune", "--model", str(model), "--data", str(data), "--text-template",
                 r"### Text: {phrase}\n### Tone:\t{tone} \u2014 ü", "--save-config", str(target), "--no-run"]) == 0
    template = json.loads(target.read_text())["data_configs"][0]["pre_process_data_config"]["text_template"]
    assert template == "### Text: {phrase}\n### Tone:\t{tone} \u2014 ü"  # non-ASCII kept as written


def test_training_arguments_flags_in_both_spellings(inputs):
    code, cfg = finetune(inputs, "--learning_rate", "2e-4", "--per-device-train-batch-size", "4", "--bf16",
                         "--max_steps", "7", "--training-arg", "warmup_ratio=0.1", "--training-arg", "report_to=none")
    assert code == 0
    assert cfg["passes"]["finetune"]["training_args"] == {
        "max_steps": 7, "learning_rate": 2e-4, "per_device_train_batch_size": 4, "bf16": True,
        "warmup_ratio": 0.1, "report_to": "none"}


def test_eval_split_as_a_fraction_or_as_a_split(inputs):
    _, cfg = finetune(inputs, "--eval-split", "0.1")
    assert cfg["passes"]["finetune"]["eval_dataset_size"] == 0.1
    _, cfg = finetune(inputs, "--train-split", "train[:80%]", "--eval-split", "train[80%:]")
    assert [(d["name"], d["load_dataset_config"]["split"]) for d in cfg["data_configs"]] == [
        ("train", "train[:80%]"), ("eval", "train[80%:]")]
    assert cfg["passes"]["finetune"]["eval_data_config"] == "eval"
    assert load(inputs[0] / "ft.json").passes[0].alternatives[0]["eval_data_config"] == "eval"


def test_bad_eval_split_is_one_line(inputs, capsys):
    code, _ = finetune(inputs, "--eval-split", "0")
    assert code == 2
    assert capsys.readouterr().err.startswith("error: --eval-split 0: give a fraction above 0")


def test_trust_remote_code_reaches_the_model_load_kwargs(inputs):
    _, cfg = finetune(inputs, "--trust-remote-code")
    assert cfg["input_model"]["load_kwargs"] == {"trust_remote_code": True}
    _, cfg = finetune(inputs)
    assert "load_kwargs" not in cfg["input_model"]


def test_no_run_without_save_config_writes_into_the_output_dir_and_says_where(inputs, capsys):
    tmp, model, data = inputs
    out = tmp / "out"
    assert main(["finetune", "--model", str(model), "--data", str(data), "--text-template", "{phrase}",
                 "--output-dir", str(out), "--no-run"]) == 0
    written = out / "finetune-config.json"
    assert f"config written to {written}; run it with: modelpress run {written}" in capsys.readouterr().out
    workflow = load(written)  # validates where it was written: paths are absolute
    assert workflow.passes[0].alternatives[0]["type"] == "LoRA"
