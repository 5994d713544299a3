"""One redaction function for everything modelpress writes or prints."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from modelpress.redact import redact, redact_line

TOKEN = "hf_" + "T" * 30


def test_secret_keys_urls_tokens_and_environment_values_are_masked():
    data = {"load_kwargs": {"token": TOKEN, "revision": "main", "pad_token": "<pad>", "use_auth_token": True},
            "model_loading_args": {"api_key": "k-123"},
            "environment_variables": {"WANDB_API_KEY": "abc", "OMP_NUM_THREADS": "2"},
            "storage": "postgresql://me:pa55word@db.example/optuna",
            "note": f"loaded with {TOKEN}", "r": 16}
    out = redact(data)
    assert out == {"load_kwargs": {"token": "***", "revision": "main", "pad_token": "<pad>", "use_auth_token": True},
                   "model_loading_args": {"api_key": "***"},
                   "environment_variables": {"WANDB_API_KEY": "***", "OMP_NUM_THREADS": "***"},
                   "storage": "postgresql://me:***@db.example/optuna",
                   "note": "loaded with ***", "r": 16}
    assert data["load_kwargs"]["token"] == TOKEN  # a copy: the input is untouched


def test_error_lines_never_echo_a_secret_value():
    line = 'systems.aml.hf_token: expected true or false, got "hf_short"'
    assert redact_line(line) == 'systems.aml.hf_token: expected true or false, got "***"'
    assert redact_line('passes.lora.r: expected an integer, got "x"') == 'passes.lora.r: expected an integer, got "x"'


def test_validate_does_not_print_a_string_hf_token(tmp_path, capsys):
    from modelpress.cli import main

    cfg = {"input_model": {"type": "HfModel", "model_path": "m"},
           "systems": {"aml": {"type": "AzureML", "aml_compute": "c", "hf_token": TOKEN}}, "passes": {}}
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    assert main(["validate", str(tmp_path / "c.json")]) == 2
    err = capsys.readouterr().err
    assert "systems.aml.hf_token" in err and TOKEN not in err


def test_output_cut_short_by_the_reader_ends_quietly():
    env = {**os.environ, "MODELPRESS_DISABLE_PLUGIN_AUTOLOAD": "1"}
    for command in (["plugins"], ["schema"]):
        proc = subprocess.Popen([sys.executable, "-m", "modelpress", *command], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env)
        proc.stdout.close()  # like `| head` that has already left
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 0, err
        assert "BrokenPipeError" not in err and "Traceback" not in err, err
