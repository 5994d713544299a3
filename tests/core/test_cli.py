"""The command line: exit codes, one-line errors, and a light start-up."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.core.bad_configs import BAD_CONFIGS, write_config

ROOT = Path(__file__).resolve().parent.parent.parent
DATA = ROOT / "tests" / "data"
HEAVY = ("torch", "transformers", "peft", "onnxruntime_genai", "optuna", "azure.ai.ml", "datasets")

# Runs the CLI in a fresh interpreter with the test components registered, and
# reports which heavy libraries got imported.
SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    if {fake!r}:
        from modelpress import registry as reg
        from tests.core.fake_components import PLUGIN, PLUGIN_NAME
        pm = reg.new_plugin_manager(autoload=False)
        pm.register(PLUGIN, name=PLUGIN_NAME)
        reg.set_registry(reg.Registry(pm))
    from modelpress.cli import main
    try:
        code = main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
    heavy = [m for m in {heavy!r} if m in sys.modules]
    print("HEAVY=" + ",".join(heavy), file=sys.stderr)
    sys.exit(code)
""")


def cli(*args: str, fake: bool = False, cwd: Path | None = None) -> subprocess.CompletedProcess:
    script = SCRIPT.format(root=str(ROOT), fake=fake, heavy=HEAVY)
    env = {**os.environ, "MODELPRESS_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                          env=env, cwd=cwd)


def heavy_imports(proc) -> str:
    return [line for line in proc.stderr.splitlines() if line.startswith("HEAVY=")][-1][len("HEAVY="):]


@pytest.mark.parametrize("args", [["--help"], ["plugins"], ["schema"], ["schema", "LoRA"]])
def test_light_commands_import_no_heavy_library(args):
    proc = cli(*args)
    assert proc.returncode == 0, proc.stderr
    assert heavy_imports(proc) == ""


def test_validate_imports_no_heavy_library(tmp_path):
    cfg = json.loads((DATA / "seed-qlora-local.json").read_text())
    cfg["passes"]["lora"]["type"] = "QLoRA"
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    cfg["input_model"]["config"]["hf_config"]["model_name"] = str(model)
    (tmp_path / "dataset").mkdir()
    (tmp_path / "dataset" / "dataset-classification.json").write_text('{"phrase": "x", "tone": "joy"}\n')
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    proc = cli("validate", str(path))
    assert proc.returncode == 0, proc.stderr
    assert "valid" in proc.stdout
    assert heavy_imports(proc) == ""
    migrated = cli("migrate", str(path))
    canonical = json.loads(migrated.stdout)
    assert canonical["passes"]["lora"]["r"] == 64 and "lora_r" not in canonical["passes"]["lora"]
    assert canonical["input_model"]["type"] == "HfModel"
    assert "renamed" in migrated.stderr or "->" in migrated.stderr


def test_plugins_lists_every_builtin_with_its_plugin():
    proc = cli("plugins", "--json")
    rows = json.loads(proc.stdout)
    names = {(r["kind"], r["name"]): r for r in rows}
    for kind, name, plugin in [("pass", "LoRA", "huggingface"), ("pass", "QLoRA", "huggingface"),
                               ("pass", "MergeAdapterWeights", "huggingface"),
                               ("pass", "ModelBuilder", "onnx_genai"), ("system", "LocalSystem", "local"),
                               ("data container", "HuggingfaceContainer", "huggingface"),
                               ("model type", "HfModel", "huggingface"), ("model type", "ONNXModel", "onnx_genai"),
                               ("metric", "accuracy", "metrics"), ("search strategy", "tpe", "optuna_search")]:
        assert names[(kind, name)]["plugin"] == plugin
        assert names[(kind, name)]["status"] == "available"
    assert names[("model type", "HfModel")]["aliases"] == ["PyTorchModel"]


@pytest.mark.parametrize("case", BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_exits_2_with_one_line_per_problem(case, tmp_path, register_plugin, capsys):
    # In-process for speed; the subprocess tests above cover the real entry point.
    from modelpress.cli import main
    from tests.core.fake_components import PLUGIN, PLUGIN_NAME

    register_plugin(PLUGIN, name=PLUGIN_NAME)
    _, config, expected = case
    path = write_config(tmp_path, config)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    errors = err.splitlines()
    assert errors and all(line.startswith("error: ") for line in errors), err
    assert "Traceback" not in err
    assert any(expected in line for line in errors), err


def test_bad_config_in_a_real_process_has_no_traceback(tmp_path):
    path = write_config(tmp_path, BAD_CONFIGS[0][1])
    proc = cli("validate", str(path), fake=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr


def test_run_without_config_is_a_usage_error():
    proc = cli("run")
    assert proc.returncode == 2
    assert "error: run: no config given" in proc.stderr


def test_generate_on_a_missing_folder_is_a_clear_error(tmp_path):
    proc = cli("generate", "--model", str(tmp_path / "nope"), "--prompt", "hi")
    assert proc.returncode == 2
    assert "no such folder" in proc.stderr and "Traceback" not in proc.stderr


def test_finetune_save_config_writes_a_valid_config(tmp_path):
    data = tmp_path / "tone.jsonl"
    data.write_text((DATA / "tone-sample.jsonl").read_text())
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    target = tmp_path / "ft.json"
    proc = cli("finetune", "--model", str(model), "--data", str(data), "--text-template",
               "{phrase} -> {tone}", "--method", "qlora", "--merge", "--save-config", str(target), "--no-run")
    assert proc.returncode == 0, proc.stderr
    cfg = json.loads(target.read_text())
    assert cfg["passes"]["finetune"]["type"] == "QLoRA"
    assert list(cfg["passes"]) == ["finetune", "merge"]
    assert cli("validate", str(target)).returncode == 0
