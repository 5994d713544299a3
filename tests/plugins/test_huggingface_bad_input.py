"""Bad input to the Hugging Face plugin: one line naming the file or key, exit 2, nothing written.

Each case damages one thing of a good LoRA workflow (a tiny Phi-3 folder and
tone rows as JSON Lines) and expects exactly one ``error:`` line from both
``modelpress validate`` and ``modelpress run``, with no traceback, and no
cache or output folder afterwards: every check runs at validate time, before
anything is written. The damaged files are damaged for real: where a library
reads the file (safetensors, json, datasets), the test shows it refuses it too.
"""
from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelpress.cli import main

TEMPLATE = "### Text: {phrase}\n### The tone is:\n{tone}"
ROWS = [{"phrase": f"phrase {i}", "tone": ["joy", "fear"][i % 2]} for i in range(8)]


def jsonl(rows) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


@pytest.fixture
def ws(tmp_path, tiny_phi3) -> Path:
    shutil.copytree(tiny_phi3, tmp_path / "model")
    (tmp_path / "tone.jsonl").write_text(jsonl(ROWS), encoding="utf-8")
    return tmp_path


def workflow(ws: Path) -> dict:
    return {
        "input_model": {"type": "HfModel", "model_path": str(ws / "model")},
        "data_configs": [{"name": "train", "type": "HuggingfaceContainer",
                          "load_dataset_config": {"data_name": "json", "data_files": str(ws / "tone.jsonl")},
                          "pre_process_data_config": {"text_template": TEMPLATE, "max_seq_len": 32}}],
        "passes": {"lora": {"type": "LoRA", "train_data_config": "train", "r": 4,
                            "training_args": {"max_steps": 1}}},
        "cache_dir": str(ws / "cache"), "output_dir": str(ws / "out"),
    }


@dataclass
class Case:
    id: str
    damage: Callable[[Path, dict], None]  # changes files under ws and/or the config
    expected: str  # a regex the one error line must match (after "error: ")


def data(text: str):
    def damage(ws, cfg):
        (ws / "tone.jsonl").write_text(text, encoding="utf-8")
    return damage


def template(text: str):
    def damage(ws, cfg):
        cfg["data_configs"][0]["pre_process_data_config"]["text_template"] = text
    return damage


def truncate(name: str, keep: float):
    def damage(ws, cfg):
        path = ws / "model" / name
        path.write_bytes(path.read_bytes()[:int(path.stat().st_size * keep)])
    return damage


def overwrite_start(ws, cfg):
    path = ws / "model" / "model.safetensors"
    blob = bytearray(path.read_bytes())
    blob[:8] = b"\xff" * 8  # a header length far beyond the file
    path.write_bytes(bytes(blob))


def cut_bin(ws, cfg):
    import torch

    torch.save({"w": torch.zeros(64, 64)}, ws / "model" / "pytorch_model.bin")
    truncate("pytorch_model.bin", 0.5)(ws, cfg)


def missing_shard(ws, cfg):
    index = {"metadata": {}, "weight_map": {"lm_head.weight": "model-00002-of-00002.safetensors"}}
    (ws / "model" / "model.safetensors.index.json").write_text(json.dumps(index))


def damaged_adapter(ws, cfg):
    (ws / "adapter").mkdir()
    (ws / "adapter" / "adapter_config.json").write_text('{"r": 4, "base_model_name_or_path": ')
    cfg["input_model"]["adapter_path"] = str(ws / "adapter")


def not_gguf(ws, cfg):
    (ws / "smol.gguf").write_text("hello, I am a text file", encoding="utf-8")
    cfg["input_model"] = {"type": "HfModel", "gguf_file": str(ws / "smol.gguf")}


def other_columns(ws, cfg):
    cfg["data_configs"][0]["pre_process_data_config"]["text_cols"] = ["phrase", "mood"]
    cfg["data_configs"][0]["pre_process_data_config"]["text_template"] = None


def scheduler(ws, cfg):
    cfg["passes"]["lora"]["training_args"]["lr_scheduler_type"] = "cosin"


def cycle(ws, cfg):
    cfg["passes"]["lora"]["r"] = {"search": {"depends_on": "alpha", "cases": {"8": [4], "16": [8]}}}
    cfg["passes"]["lora"]["alpha"] = {"search": {"depends_on": "r", "cases": {"4": [8], "8": [16]}}}
    cfg["search_strategy"] = {"sampler": "exhaustive"}
    cfg["evaluators"] = {"e": {"metrics": [{"name": "size", "type": "size_on_disk"}]}}
    cfg["evaluator"] = "e"


FILE = r"data_configs\[0\]\.load_dataset_config\.data_files: \S*tone\.jsonl"
TPL = r"data_configs\[0\]\.pre_process_data_config\.text_template: "
CASES = [
    Case("data-empty", data(""), FILE + r" is empty; give one JSON object per line"),
    Case("data-blank-lines", data("\n\n  \n"), FILE + r" is empty;"),
    Case("data-not-json", data("phrase,tone\nhello,joy\n"), FILE + r" is not JSON Lines \(line 1: Expecting value\)"),
    Case("data-jsonl-bad-line", data(jsonl(ROWS[:3]) + '{"phrase": "cut\n'),
         FILE + r" is not JSON Lines \(line 4: Unterminated string"),
    Case("data-json-list-cut", data(json.dumps(ROWS)[:-20]), FILE + r" is not valid JSON \(line 1: "),
    Case("data-not-rows", data("[1, 2, 3]"), FILE + r" is JSON but not a list of objects"),
    Case("data-no-column", data(jsonl([{"phrase": "p"}] * 4)),
         r"data_configs\[0\]\.pre_process_data_config: column\(s\) \['tone'\] not in the data \(\S*tone\.jsonl\); "
         r"it has columns \['phrase'\]"),
    Case("data-null", data(jsonl([*ROWS[:2], {"phrase": "p", "tone": None}, *ROWS[3:]])),
         TPL + r"\S*tone\.jsonl line 3 has no value for 'tone' \(null\); fill it in or remove the row"),
    Case("data-nan", data(jsonl([*ROWS[:4], '{"phrase": NaN, "tone": "joy"}', *ROWS[5:]])),
         TPL + r"\S*tone\.jsonl line 5 has no value for 'phrase' \(NaN\)"),
    Case("data-missing-in-rows", data(jsonl([*ROWS[:5], {"phrase": "p"}, {"phrase": "q"}, ROWS[7]])),
         TPL + r"\S*tone\.jsonl line 6 has no value for 'tone' \(missing\) \(and 1 more rows\)"),
    Case("text-cols-unknown", other_columns,
         r"data_configs\[0\]\.pre_process_data_config: column\(s\) \['mood'\] not in the data"),
    Case("template-open-brace", template("### Text: {phrase\n{tone}"),
         TPL + r"unexpected '\{' in field name \(unbalanced braces\); write \{column\} placeholders"),
    Case("template-unclosed-at-end", template("### Text: {phrase}\n{tone"),
         TPL + r"expected '\}' before end of string \(unbalanced braces\)"),
    Case("template-single-close", template("### Text: phrase}\n{tone}"),
         TPL + r"Single '\}' encountered in format string \(unbalanced braces\)"),
    Case("template-unknown-field", template("### Text: {phrase}\n{tones}"),
         r"data_configs\[0\]\.pre_process_data_config: column\(s\) \['tones'\] not in the data \(\S*\); "
         r"did you mean 'tone'\?"),
    Case("template-positional", template("### Text: {}\n{tone}"), TPL + r"placeholder \{\} names no column"),
    Case("template-attribute", template("### Text: {phrase.upper}"), TPL + r"placeholder \{phrase\.upper\} reads"),
    Case("config-json-cut", truncate("config.json", 0.5),
         r"input_model\.model_path: \S*model/config\.json is damaged or cut short \(invalid JSON at line \d+: "),
    Case("safetensors-cut", truncate("model.safetensors", 0.9),
         r"input_model\.model_path: \S*model/model\.safetensors is not a complete safetensors file \(its tensors "
         r"need \d+ bytes of data, the file holds \d+\); copy or download the model again"),
    Case("safetensors-no-header", truncate("model.safetensors", 0.0000001),
         r"input_model\.model_path: \S*model\.safetensors is not a complete safetensors file \(\d+ bytes, no header\)"),
    Case("safetensors-garbage", overwrite_start,
         r"input_model\.model_path: \S*model\.safetensors is not a complete safetensors file \(its header claims"),
    Case("bin-cut", cut_bin,
         r"input_model\.model_path: \S*pytorch_model\.bin is not a complete PyTorch checkpoint \(a cut-short zip"),
    Case("index-missing-shard", missing_shard,
         r"input_model\.model_path: \S*model\.safetensors\.index\.json names model-00002-of-00002\.safetensors, "
         r"which is not in the folder"),
    Case("adapter-config-cut", damaged_adapter,
         r"input_model\.adapter_path: \S*adapter/adapter_config\.json is damaged or cut short"),
    Case("gguf-not-gguf", not_gguf,
         r"input_model\.gguf_file: \S*smol\.gguf is not a GGUF file \(it starts with b'hell', not b'GGUF'\)"),
    Case("lr-scheduler-unknown", scheduler,
         r"passes\.lora\.training_args\.lr_scheduler_type: unknown scheduler 'cosin' \(transformers\.SchedulerType "
         r"has linear, cosine, .*\); did you mean 'cosine'\?"),
    Case("depends-on-cycle", cycle,
         r"passes\.lora\.alpha\.depends_on: the search values depend on each other in a cycle \(alpha -> r -> "
         r"alpha\); make one of them a plain search value or a fixed value"),
]


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_at_validate_and_run_and_writes_nothing(case, ws, capsys):
    cfg = workflow(ws)
    case.damage(ws, cfg)
    (ws / "cfg.json").write_text(json.dumps(cfg), encoding="utf-8")
    before = tree(ws)
    for command in ("validate", "run"):
        assert main([command, str(ws / "cfg.json")]) == 2, command
        err = capsys.readouterr().err
        errors = [line for line in err.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, err
        assert re.fullmatch(r"error: " + case.expected + r".*", errors[0]), errors[0]
        assert "Traceback" not in err
    assert tree(ws) == before  # no cache, no output folder, no file touched


def test_the_good_workflow_validates(ws, capsys):
    """The baseline of every case: the intact files and config raise nothing (no false alarm)."""
    (ws / "cfg.json").write_text(json.dumps(workflow(ws)), encoding="utf-8")
    assert main(["validate", str(ws / "cfg.json")]) == 0, capsys.readouterr().err


def test_a_sharded_checkpoint_and_its_index_pass(ws, tiny_phi3, capsys):
    """save_pretrained's shards and their index raise nothing; a shard gone is named."""
    from transformers import AutoModelForCausalLM

    shutil.rmtree(ws / "model")
    AutoModelForCausalLM.from_pretrained(tiny_phi3).save_pretrained(ws / "model", max_shard_size="300KB")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_phi3 / name, ws / "model" / name)
    shards = sorted(p.name for p in (ws / "model").glob("*.safetensors"))
    assert len(shards) > 1 and (ws / "model" / "model.safetensors.index.json").is_file()
    (ws / "cfg.json").write_text(json.dumps(workflow(ws)), encoding="utf-8")
    assert main(["validate", str(ws / "cfg.json")]) == 0, capsys.readouterr().err
    (ws / "model" / shards[-1]).unlink()
    assert main(["validate", str(ws / "cfg.json")]) == 2
    assert f"names {shards[-1]}, which is not in the folder" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["safetensors-cut", "safetensors-garbage", "config-json-cut"])
def test_the_damaged_model_files_are_refused_by_the_libraries_too(ws, damage):
    """What the checks call damaged, the loaders cannot read either (and the intact files they can)."""
    from safetensors import safe_open

    weights, config = ws / "model" / "model.safetensors", ws / "model" / "config.json"
    with safe_open(str(weights), "pt") as f:
        assert list(f.keys())
    json.loads(config.read_text())
    next(c for c in CASES if c.id == damage).damage(ws, {})
    with pytest.raises(Exception):  # noqa: B017 - SafetensorError or JSONDecodeError, either refuses
        if damage == "config-json-cut":
            json.loads(config.read_text())
        else:
            with safe_open(str(weights), "pt") as f:
                names = f.keys()
                [f.get_tensor(name) for name in names]


def test_a_data_problem_found_at_run_time_stops_the_run_in_one_line(ws, capsys):
    """CSV data is read by ``datasets`` inside the LoRA pass: a row without a value stops the run with
    exit 2 and one line naming the row; no cache entry is kept and the output folder stays empty."""
    (ws / "tone.csv").write_text("phrase,tone\nhello,joy\nbye,\nhi,fear\n", encoding="utf-8")
    cfg = workflow(ws)
    cfg["data_configs"][0]["load_dataset_config"] = {"data_name": "csv", "data_files": str(ws / "tone.csv")}
    (ws / "cfg.json").write_text(json.dumps(cfg), encoding="utf-8")
    assert main(["validate", str(ws / "cfg.json")]) == 0  # validate does not read CSV
    assert main(["run", str(ws / "cfg.json")]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert errors == ["error: passes.lora: data_configs.pre_process_data_config.text_template: split 'train' "
                      "row 2 has no value for 'tone' (null); fill it in or remove the row"], err
    assert "Traceback" not in err
    assert not list((ws / "cache" / "passes").iterdir()) and not list((ws / "out").iterdir())
