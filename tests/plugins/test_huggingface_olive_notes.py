"""Deliberate differences from Olive: one ``note:`` line each at validate and run time, each with its opt-out.

The LoRA/QLoRA passes say (``Pass.config_notes``): no ``output_dir`` -> no
checkpoints are kept; the torch thread count is tuned unless fixed; bfloat16
on a CPU without AVX512-BF16/AMX is emulated. Each note disappears when the
config (or environment) takes the way the note offers, so the tests check
both sides. Notes name the key as the user's file writes it.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from modelpress.components import Accelerator, Pass

TEMPLATE = "### Text: {phrase}\n### The tone is:\n{tone}"
NO_CKPT = "training_args.output_dir: not set, so no checkpoints are written"
THREADS = "the torch thread count is chosen by timing training steps"
EMULATED = "is emulated on this CPU"


def config(folder: Path, kind: str = "LoRA", **pass_options) -> dict:
    """A current-form config on the tiny Phi-3; training_args merged from ``pass_options``."""
    args = {"seed": 0, "per_device_train_batch_size": 2, "max_steps": 1, "disable_tqdm": True,
            **pass_options.pop("training_args", {})}
    return {"input_model": {"type": "HfModel", "model_path": str(folder / "model")},
            "data_configs": [{"name": "train", "type": "HuggingfaceContainer",
                              "load_dataset_config": {"data_name": "json", "data_files": str(folder / "tone.json"),
                                                      "split": "train"},
                              "pre_process_data_config": {"text_template": TEMPLATE, "max_seq_len": 32}}],
            "passes": {"lora": {"type": kind, "r": 4, "train_data_config": "train", "training_args": args,
                                **pass_options}},
            "output_dir": str(folder / "out"), "cache_dir": str(folder / "cache"), "log_severity_level": 3}


@pytest.fixture
def folder(tmp_path, tiny_phi3):
    from modelpress.testing import corpus

    shutil.copytree(tiny_phi3, tmp_path / "model")
    rows = [{"phrase": t, "tone": ["joy", "fear"][i % 2]} for i, t in enumerate(corpus(40, seed=2))]
    (tmp_path / "tone.json").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return tmp_path


@pytest.fixture
def no_thread_env(monkeypatch):
    monkeypatch.delenv("MODELPRESS_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)


def validate_notes(plugin_registry, folder: Path, cfg: dict, capsys) -> list[str]:
    """The ``note:`` lines ``modelpress validate`` prints for ``cfg`` (exit code 0 checked)."""
    from modelpress.cli import main

    path = folder / "config.json"
    path.write_text(json.dumps(cfg), encoding="utf-8")
    capsys.readouterr()
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    return [line[len("note: "):] for line in out if line.startswith("note: ")]


def test_base_pass_has_no_notes(plugin_registry):
    assert Pass.config_notes({}, Accelerator()) == []
    merge = plugin_registry.get("pass", "MergeAdapterWeights").cls
    assert merge.config_notes({}, Accelerator()) == []


@pytest.mark.parametrize("kind", ["LoRA", "QLoRA"])
def test_no_output_dir_means_no_checkpoints_and_output_dir_opts_in(plugin_registry, folder, capsys, kind,
                                                                     no_thread_env):
    notes = validate_notes(plugin_registry, folder, config(folder, kind), capsys)
    assert [n for n in notes if NO_CKPT in n] == [f"passes.lora.{NO_CKPT} (Olive writes them to a temporary "
                                                  f"folder and deletes it); set output_dir to keep checkpoints "
                                                  f"and resume from them"]
    kept = config(folder, kind, training_args={"output_dir": str(folder / "ckpt")})
    assert not [n for n in validate_notes(plugin_registry, folder, kept, capsys) if "output_dir" in n]
    chosen = config(folder, kind, training_args={"save_strategy": "steps"})  # the user decided; nothing to say
    assert not [n for n in validate_notes(plugin_registry, folder, chosen, capsys) if "output_dir" in n]


def test_thread_tuning_is_a_note_until_the_count_is_fixed(plugin_registry, folder, capsys, monkeypatch,
                                                          no_thread_env):
    notes = validate_notes(plugin_registry, folder, config(folder), capsys)
    assert [n for n in notes if THREADS in n] == [
        f"passes.lora.training_args: {THREADS} (Olive keeps torch's default); set MODELPRESS_NUM_THREADS=N to "
        f"fix it"]
    for var in ("MODELPRESS_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.setenv(var, "2")
        assert not [n for n in validate_notes(plugin_registry, folder, config(folder), capsys) if THREADS in n]
        monkeypatch.delenv(var)
    lora_pass = plugin_registry.get("pass", "LoRA").cls  # on a GPU the tuner does nothing
    assert not [n for n in lora_pass.config_notes(config(folder)["passes"]["lora"], Accelerator("gpu"))
                if THREADS in n]


@pytest.mark.parametrize("has_bf16", [False, True])
def test_bf16_on_a_cpu_without_bf16_is_a_note_and_float32_opts_out(plugin_registry, folder, capsys, monkeypatch,
                                                                    has_bf16):
    from modelpress.plugins.huggingface import lora

    monkeypatch.setattr(lora, "cpu_has_bf16", lambda: has_bf16)
    notes = [n for n in validate_notes(plugin_registry, folder, config(folder), capsys) if EMULATED in n]
    if has_bf16:  # native bf16: Olive's default costs nothing here
        assert notes == []
        return
    assert len(notes) == 1 and notes[0].startswith("passes.lora.torch_dtype: bfloat16 (Olive's default)")
    assert "set torch_dtype: float32" in notes[0]
    fp32 = config(folder, torch_dtype="float32")
    assert not [n for n in validate_notes(plugin_registry, folder, fp32, capsys) if EMULATED in n]
    mixed = config(folder, torch_dtype="float32", training_args={"bf16": True})
    notes = [n for n in validate_notes(plugin_registry, folder, mixed, capsys) if EMULATED in n]
    assert len(notes) == 1 and notes[0].startswith("passes.lora.training_args.bf16: ")


def test_eval_dataset_size_is_a_note_since_olive_013_ignores_it(plugin_registry, folder, capsys, no_thread_env):
    held = [n for n in validate_notes(plugin_registry, folder, config(folder, eval_dataset_size=0.25), capsys)
            if "eval_dataset_size" in n]
    assert held == ["passes.lora.eval_dataset_size: 0.25 of the training blocks are held out for evaluation, as "
                    "Olive 0.5-0.6 did (Olive 0.13 ignores this key and trains on every block); remove it to train "
                    "on every block, or give eval_data_config"]
    assert not [n for n in validate_notes(plugin_registry, folder, config(folder), capsys) if "eval_dataset_size" in n]


def test_notes_name_the_key_as_an_olive_config_writes_it(plugin_registry, folder, capsys, no_thread_env):
    cfg = config(folder)
    body = {k: v for k, v in cfg["passes"]["lora"].items() if k != "type"}
    cfg["passes"]["lora"] = {"type": "LoRA", "config": body}  # Olive's wrapper
    notes = validate_notes(plugin_registry, folder, cfg, capsys)
    assert any(n.startswith(f"passes.lora.config.{NO_CKPT}") for n in notes), notes
    assert any(n.startswith("passes.lora.config.training_args: ") for n in notes), notes


def test_run_prints_each_note_once_and_records_them(plugin_registry, folder, capsys, monkeypatch, no_thread_env):
    from modelpress.cli import main
    from modelpress.plugins.huggingface import lora

    monkeypatch.setattr(lora, "cpu_has_bf16", lambda: True)  # the same notes on CPUs with and without bf16
    monkeypatch.setenv("MODELPRESS_NUM_THREADS", "1")  # one note less; the run stays light
    path = folder / "config.json"
    path.write_text(json.dumps(config(folder)), encoding="utf-8")
    capsys.readouterr()
    assert main(["run", "--config", str(path)]) == 0
    err = capsys.readouterr().err.splitlines()
    notes = [line for line in err if "note: " in line]
    assert notes == [f"note: passes.lora.{NO_CKPT} (Olive writes them to a temporary folder and deletes it); "
                     f"set output_dir to keep checkpoints and resume from them"], err
    run = json.loads((folder / "out" / "run.json").read_text())
    assert run["config_notes"] == [notes[0][len("note: "):]]
    assert not list((folder / "out").rglob("checkpoint-*")) and not list((folder / "cache").rglob("checkpoint-*"))
