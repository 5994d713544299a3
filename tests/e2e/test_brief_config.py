"""The brief's local Olive config, run end to end on the tiny Phi-3.

Only the model and data paths are pointed at local files, and the pass type
set to QLoRA (the config sets ``double_quant``, an option of QLoRA only).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent.parent / "data"


@pytest.fixture
def brief_config(tmp_path, tiny_phi3) -> Path:
    cfg = json.loads((DATA / "seed-qlora-local.json").read_text())
    work = tmp_path / "work"
    (work / "dataset").mkdir(parents=True)
    shutil.copy(DATA / "tone-sample.jsonl", work / "dataset" / "dataset-classification.json")
    cfg["input_model"]["config"]["hf_config"]["model_name"] = str(tiny_phi3)
    cfg["passes"]["lora"]["type"] = "QLoRA"
    path = work / "config.json"
    path.write_text(json.dumps(cfg, indent=2))
    return path


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "modelpress", *args], capture_output=True, text=True)


def test_lora_type_with_double_quant_is_one_error(brief_config):
    cfg = json.loads(brief_config.read_text())
    cfg["passes"]["lora"]["type"] = "LoRA"
    brief_config.write_text(json.dumps(cfg))
    proc = cli("validate", str(brief_config))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    # the key as the user wrote it (the brief nests pass options under "config")
    assert "passes.lora.config.double_quant" in lines[0] and "QLoRA" in lines[0]
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_brief_chain_runs_and_generates(brief_config):
    proc = cli("run", "--config", str(brief_config))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = (brief_config.parent / "../model-cache/models/phi3-finetuned").resolve()
    nodes = json.loads((out / "footprints.json").read_text())["nodes"]
    assert [n["pass"] for n in nodes] == ["QLoRA", "MergeAdapterWeights", "ModelBuilder"]
    assert (out / "model" / "genai_config.json").exists()
    assert (out / "model" / "model.onnx").exists()
    log = json.loads((Path(nodes[0]["entry_dir"]) / "model" / "training_log.json").read_text())
    assert log, "the QLoRA pass keeps its training log"
    gen = cli("generate", "--model", str(out), "--prompt", "### Text: I won!\n### The tone is:\n",
              "--raw", "--max-tokens", "8")
    assert gen.returncode == 0, gen.stderr[-3000:]
    assert gen.stdout.strip(), "generate printed nothing"
    rerun = cli("run", "--config", str(brief_config))
    assert rerun.returncode == 0
    nodes = json.loads((out / "footprints.json").read_text())["nodes"]
    assert all(n["cache_hit"] for n in nodes)
