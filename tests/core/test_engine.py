"""Engine and cache: hits, misses, atomic commits, kills and concurrent runs."""
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

import modelpress
from modelpress.engine import cache as cache_mod

HERE = Path(__file__).parent


@pytest.fixture
def engine_registry(register_plugin):
    from tests.core import engine_plugin

    return register_plugin(engine_plugin, name="engine_plugin")


@pytest.fixture
def workspace(tmp_path):
    (tmp_path / "base.txt").write_text("base")
    (tmp_path / "data.txt").write_text("abc\n")
    return tmp_path


def config(ws: Path, **pass_changes) -> dict:
    second = {"type": "AppendText", "suffix": "?", "data_config": "extra", **pass_changes}
    return {
        "input_model": {"type": "TextModel", "model_path": str(ws / "base.txt")},
        "data_configs": [{"name": "extra", "type": "TextFile", "path": str(ws / "data.txt")}],
        "passes": {"one": {"type": "AppendText"}, "two": second, "three": {"type": "AppendText", "repeat": 2}},
        "cache_dir": str(ws / "cache"),
        "output_dir": str(ws / "out"),
    }


def hits(result) -> list[bool]:
    return [n["cache_hit"] for n in result.footprints]


def output_text(result) -> str:
    return Path(result.output_model.config["model_path"]).read_text()


def test_chain_runs_and_writes_outputs(engine_registry, workspace):
    result = modelpress.run(config(workspace))
    assert output_text(result) == "base!?abc!!"
    assert hits(result) == [False, False, False]
    out = workspace / "out"
    footprints = json.loads((out / "footprints.json").read_text())["nodes"]
    assert [n["step"] for n in footprints] == ["one", "two", "three"]
    assert footprints[1]["input_model_id"] == footprints[0]["output_model_id"]
    assert all(n["status"] == "ok" and n["duration_s"] >= 0 for n in footprints)
    run = json.loads((out / "run.json").read_text())
    assert run["output_model_id"] == footprints[-1]["output_model_id"]
    model = json.loads((out / "model.json").read_text())
    assert Path(model["model_path"]).read_text() == "base!?abc!!"
    assert Path(model["model_path"]).is_relative_to(out / "model")


def test_rerun_hits_cache(engine_registry, workspace):
    first = modelpress.run(config(workspace))
    second = modelpress.run(config(workspace))
    assert hits(second) == [True, True, True]
    assert second.footprints[-1]["output_model_id"] == first.footprints[-1]["output_model_id"]


def test_one_byte_of_data_changes_the_key(engine_registry, workspace):
    modelpress.run(config(workspace))
    (workspace / "data.txt").write_text("abd\n")
    result = modelpress.run(config(workspace))
    assert hits(result) == [True, False, False]
    assert output_text(result) == "base!?abd!!"


def test_input_model_content_changes_every_key(engine_registry, workspace):
    modelpress.run(config(workspace))
    (workspace / "base.txt").write_text("BASE")
    assert hits(modelpress.run(config(workspace))) == [False, False, False]


def test_config_change_misses_from_that_pass_on(engine_registry, workspace):
    modelpress.run(config(workspace))
    assert hits(modelpress.run(config(workspace, suffix="#"))) == [True, False, False]


def test_library_version_change_misses(engine_registry, workspace, monkeypatch):
    modelpress.run(config(workspace))
    real = cache_mod.library_version
    monkeypatch.setattr("modelpress.engine.chain.library_version",
                        lambda d: "9.9" if d == "fake-text-lib" else real(d))
    assert hits(modelpress.run(config(workspace))) == [False, False, False]


def test_failing_pass_is_recorded_and_nothing_cached(engine_registry, workspace):
    from modelpress.errors import PassFailed

    cfg = config(workspace)
    cfg["passes"]["three"] = {"type": "FailingPass"}
    with pytest.raises(PassFailed, match="boom in the pass"):
        modelpress.run(cfg)
    entries = list((workspace / "cache" / "passes").iterdir())
    assert len(entries) == 2  # the two passes that finished
    assert not list((workspace / "cache" / "tmp").glob("*/model"))


def test_dry_run_plan_shows_hits_and_misses(engine_registry, workspace):
    from modelpress.config import load
    from modelpress.engine.chain import Engine

    modelpress.run(config(workspace))
    plan = Engine(load(config(workspace, suffix="#"))).plan()
    assert [s.cached for s in plan] == [True, False, False]


SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {root!r})
    from tests.core import engine_plugin
    engine_plugin.install()
    import modelpress
    cfg = json.loads(open(sys.argv[1]).read())
    result = modelpress.run(cfg)
    print("RESULT", result.footprints[-1]["output_model_id"], open(result.output_model.config["model_path"]).read())
""")


def _spawn(ws: Path, cfg: dict, name: str) -> subprocess.Popen:
    (ws / f"{name}.json").write_text(json.dumps(cfg))
    script = ws / "runner_script.py"
    script.write_text(SCRIPT.format(root=str(HERE.parent.parent)))
    env = {**os.environ, "MODELPRESS_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.Popen([sys.executable, str(script), str(ws / f"{name}.json")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_killed_mid_pass_leaves_no_entry_and_rerun_resumes(engine_registry, workspace):
    go = workspace / "go"
    cfg = config(workspace)
    cfg["passes"]["two"] = {"type": "SlowAppend", "suffix": "?", "data_config": "extra", "go_file": str(go)}
    proc = _spawn(workspace, cfg, "slow")
    deadline = time.time() + 60
    while not Path(str(go) + ".started").exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    passes = workspace / "cache" / "passes"
    assert len(list(passes.iterdir())) == 1  # only pass one committed
    assert all((p / "result.json").exists() for p in passes.iterdir())
    go.write_text("go")
    result = modelpress.run(cfg)
    assert hits(result) == [True, False, False]
    assert output_text(result) == "base!?abc!!"
    assert not list((workspace / "cache" / "tmp").iterdir())


def test_two_concurrent_runs_share_one_cache(engine_registry, workspace, tmp_path):
    cfgs = []
    for i in (1, 2):
        cfg = config(workspace)
        cfg["output_dir"] = str(workspace / f"out{i}")
        cfgs.append(cfg)
    procs = [_spawn(workspace, c, f"c{i}") for i, c in enumerate(cfgs)]
    outs = [p.communicate(timeout=120) for p in procs]
    for proc, (_out, err) in zip(procs, outs, strict=False):
        assert proc.returncode == 0, err
    results = {line for out, _ in outs for line in out.splitlines() if line.startswith("RESULT")}
    assert len(results) == 1 and results.pop().endswith("base!?abc!!")
    assert len(list((workspace / "cache" / "passes").iterdir())) == 3
