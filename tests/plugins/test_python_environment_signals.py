"""PythonEnvironment under ``modelpress run``: signals stop the runner, secrets stay off disk.

Real processes: the ``modelpress`` command runs a workflow whose host is a
second venv (the ``second_env`` fixture of test_python_environment.py); the
pass there writes its process id and waits, and the test signals the parent.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.plugins.test_python_environment import second_env  # noqa: F401 (fixture)

TOKEN = "hf_" + "S" * 30
ENV_SECRET = "env-secret-" + "x" * 12
PLUGIN = textwrap.dedent('''
    """Test-only plugin: a folder model and a pass that can wait to be killed."""
    import os, time
    from pathlib import Path
    from modelpress import hookimpl
    from modelpress.components import ModelHandle, Pass

    class SigFolder(ModelHandle):
        name = "SigTestFolder"
        path_fields = ("model_path",)
        schema = {"type": "object", "additionalProperties": False, "properties": {
            "model_path": {"type": "string"}, "load_kwargs": {"type": "object"}}}

    class Wait(Pass):
        name = "SigTestWait"
        schema = {"type": "object", "additionalProperties": False, "properties": {
            "pid_file": {"type": "string"}, "wait": {"type": "boolean", "default": False}}}

        def run(self, model, output_dir):
            # The token reaches the runner (through its stdin), though no file holds it.
            assert model.config["load_kwargs"]["token"].startswith("hf_S")
            Path(self.config.pid_file).write_text(str(os.getpid()))
            while self.config.wait:
                time.sleep(0.1)
            output_dir.mkdir(parents=True, exist_ok=True)
            (output_dir / "weights.txt").write_text("done")
            return model.replace(model_path=str(output_dir))

    @hookimpl
    def register_model_types(register):
        register(SigFolder)

    @hookimpl
    def register_passes(register):
        register(Wait)
''')


@pytest.fixture(scope="module")
def sig_plugin(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sigtest-plugin")
    (folder / "mp_sigtest.py").write_text(PLUGIN)
    dist = folder / "mp_sigtest-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mp-sigtest\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[modelpress]\nsigtest = mp_sigtest\n")
    return folder


def start(tmp_path: Path, venv: Path, plugin: Path, wait: bool) -> subprocess.Popen:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.txt").write_text("w")
    cfg = {
        "input_model": {"type": "SigTestFolder", "model_path": str(tmp_path / "model"),
                        "load_kwargs": {"token": TOKEN}},
        "systems": {"env": {"type": "PythonEnvironment", "python_environment_path": str(venv),
                            "environment_variables": {"PYTHONPATH": str(plugin), "SECRET_VALUE": ENV_SECRET,
                                                      "MODELPRESS_DISABLE_PLUGIN_AUTOLOAD": "0"}}},
        "host": "env",
        "passes": {"wait": {"type": "SigTestWait", "pid_file": str(tmp_path / "pid"), "wait": wait}},
        "cache_dir": str(tmp_path / "cache"), "output_dir": str(tmp_path / "out"),
    }
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    env = {**os.environ, "PYTHONPATH": str(plugin), "MODELPRESS_DISABLE_PLUGIN_AUTOLOAD": "0"}
    return subprocess.Popen([sys.executable, "-m", "modelpress", "run", str(tmp_path / "cfg.json")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("sig, code, word", [(signal.SIGTERM, 143, "terminated"),
                                             (signal.SIGINT, 130, "interrupted")])
def test_signal_stops_the_runner_and_says_how_to_resume(second_env, sig_plugin, tmp_path,  # noqa: F811
                                                        sig, code, word):
    proc = start(tmp_path, second_env, sig_plugin, wait=True)
    deadline = time.time() + 120
    pid_file = tmp_path / "pid"
    while not (pid_file.exists() and pid_file.read_text().strip()):  # created, then written: wait for both
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline
        time.sleep(0.1)
    child = int(pid_file.read_text())
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert err.strip().splitlines()[-1] == f"{word}: finished passes stay in the cache; " \
                                           "rerun the same command to resume"
    assert "Traceback" not in err
    assert not alive(child)
    assert not list((tmp_path / "cache" / "passes").iterdir())


def test_no_token_or_environment_value_lands_in_any_file(second_env, sig_plugin, tmp_path):  # noqa: F811
    proc = start(tmp_path, second_env, sig_plugin, wait=False)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert TOKEN not in out + err and ENV_SECRET not in out + err
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "cfg.json"]
    assert any(p.name == "job.json" for p in written) and any(p.name == "run.json" for p in written)
    leaks = [p for p in written if TOKEN.encode() in p.read_bytes() or ENV_SECRET.encode() in p.read_bytes()]
    assert not leaks
