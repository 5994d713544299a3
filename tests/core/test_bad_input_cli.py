"""Bad input through the real ``modelpress`` command: exit code 2, one ``error:`` line, no traceback.

Each case runs ``python -m modelpress validate`` and ``run`` in a fresh
interpreter on a workflow of the built-in components with one thing wrong,
and checks that nothing was written (no cache, no output folder). The cases
of every kind are in tests/plugins/test_huggingface_bad_input.py; here the
point is the process: its exit code and everything it prints.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ENV = {**os.environ, "MODELPRESS_DISABLE_PLUGIN_AUTOLOAD": "1"}


def modelpress(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "modelpress", *args], capture_output=True, text=True,
                          env=ENV, cwd=cwd, timeout=300)


def lora_workflow(ws: Path) -> dict:
    (ws / "model").mkdir()
    (ws / "tone.jsonl").write_text('{"phrase": "hi", "tone": "joy"}\n' * 4, encoding="utf-8")
    return {
        "input_model": {"type": "HfModel", "model_path": "model"},
        "data_configs": [{"name": "train", "type": "HuggingfaceContainer",
                          "load_dataset_config": {"data_name": "json", "data_files": "tone.jsonl"},
                          "pre_process_data_config": {"text_template": "{phrase} -> {tone}"}}],
        "passes": {"lora": {"type": "LoRA", "train_data_config": "train", "training_args": {"max_steps": 1}}},
        "cache_dir": "cache", "output_dir": "out",
    }


def empty_data(ws, cfg):
    (ws / "tone.jsonl").write_text("", encoding="utf-8")


def nan_value(ws, cfg):
    (ws / "tone.jsonl").write_text('{"phrase": "hi", "tone": "joy"}\n{"phrase": NaN, "tone": "joy"}\n')


def broken_template(ws, cfg):
    cfg["data_configs"][0]["pre_process_data_config"]["text_template"] = "{phrase -> {tone}"


def text_gguf(ws, cfg):
    (ws / "model" / "smol.gguf").write_bytes(b"<html>not found</html>")
    cfg["input_model"]["gguf_file"] = "smol.gguf"


def scheduler_typo(ws, cfg):
    cfg["passes"]["lora"]["training_args"]["lr_scheduler_type"] = "linaer"


def cycle(ws, cfg):
    cfg["passes"]["lora"]["r"] = {"search": {"depends_on": "lora_dropout", "cases": {"0.0": [4], "0.1": [8]}}}
    cfg["passes"]["lora"]["lora_dropout"] = {"search": {"depends_on": "alpha", "cases": {"8": [0.0]}}}
    cfg["passes"]["lora"]["alpha"] = {"search": {"depends_on": "r", "cases": {"4": [8], "8": [8]}}}
    cfg["search_strategy"] = {"sampler": "exhaustive"}
    cfg["evaluators"] = {"e": {"metrics": [{"name": "size", "type": "size_on_disk"}]}}
    cfg["evaluator"] = "e"


@pytest.mark.parametrize("damage, expected", [
    (empty_data, "error: data_configs[0].load_dataset_config.data_files: "),
    (nan_value, "error: data_configs[0].pre_process_data_config.text_template: "),
    (broken_template, "error: data_configs[0].pre_process_data_config.text_template: "),
    (text_gguf, "error: input_model.gguf_file: "),
    (scheduler_typo, "error: passes.lora.training_args.lr_scheduler_type: unknown scheduler 'linaer'"),
    (cycle, "error: passes.lora.alpha.depends_on: the search values depend on each other in a cycle "
            "(alpha -> r -> lora_dropout -> alpha)"),
], ids=["empty-data", "nan", "template", "gguf", "scheduler", "cycle"])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, damage, expected):
    cfg = lora_workflow(tmp_path)
    damage(tmp_path, cfg)
    (tmp_path / "cfg.json").write_text(json.dumps(cfg), encoding="utf-8")
    for command in ("validate", "run"):
        proc = modelpress(command, "cfg.json", cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith(expected), proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["plugins", "schema"])
def test_piped_into_head_ends_without_a_broken_pipe(command, tmp_path):
    """``modelpress schema | head -1`` (96 KB, more than a pipe holds: the reader leaves while
    modelpress still writes) and ``plugins | head -1`` exit 0 and print nothing to stderr."""
    script = f'"{sys.executable}" -m modelpress {command} 2>"{tmp_path}/err" | head -1; ' \
             'echo "status ${PIPESTATUS[0]}"'
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=ENV, timeout=120)
    first, status = proc.stdout.splitlines()
    assert first.strip() and status == "status 0"
    assert (tmp_path / "err").read_text() == ""
