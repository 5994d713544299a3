"""A cache that cannot lie: keys from content, verified entries, copied outputs.

The corruption and concurrency tests run real ``modelpress`` processes on the
text "models" of tests/core/engine_plugin.py.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import modelpress
from modelpress.engine import cache as cache_mod

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "hf_" + "Q" * 30


@pytest.fixture
def engine_registry(register_plugin):
    from tests.core import engine_plugin

    return register_plugin(engine_plugin, name="engine_plugin")


@pytest.fixture
def ws(tmp_path):
    (tmp_path / "base.txt").write_text("base")
    (tmp_path / "data.txt").write_text("abc\n")
    return tmp_path


def chain(ws: Path, base: Path | None = None, data: Path | None = None, token: str = TOKEN, tag: str = "") -> dict:
    return {
        "input_model": {"type": "TextModel", "model_path": str(base or ws / "base.txt"),
                        "load_kwargs": {"token": token}},
        "data_configs": [{"name": "extra", "type": "TextFile", "path": str(data or ws / "data.txt")}],
        "passes": {"adapter": {"type": "TextAdapter"}, "merge": {"type": "TextMerge", "tag": tag},
                   "append": {"type": "AppendText", "data_config": "extra"}},
        "cache_dir": str(ws / "cache"),
        "output_dir": str(ws / "out"),
    }


def hits(result) -> list[bool]:
    return [n["cache_hit"] for n in result.footprints]


def text(result) -> str:
    return Path(result.output_model.config["model_path"]).read_text()


def test_moved_input_model_is_found_by_content_not_by_its_old_path(engine_registry, ws):
    assert text(modelpress.run(chain(ws))) == "base+A!abc"
    (ws / "moved").mkdir()
    shutil.move(ws / "base.txt", ws / "moved" / "base.txt")
    (ws / "base.txt").write_text("EVIL")  # another model at the old path
    # The adapter entry is reused; the merge (changed) must merge the moved base, not EVIL.
    result = modelpress.run(chain(ws, base=ws / "moved" / "base.txt", tag="#"))
    assert hits(result) == [True, False, False]
    assert text(result) == "base+A#!abc"
    # And the old path, now holding other content, shares nothing with it.
    assert hits(modelpress.run(chain(ws))) == [False, False, False]


def test_data_path_and_token_are_not_in_the_key(engine_registry, ws):
    modelpress.run(chain(ws))
    shutil.move(ws / "data.txt", ws / "moved-data.txt")
    result = modelpress.run(chain(ws, data=ws / "moved-data.txt", token="hf_" + "R" * 30))
    assert hits(result) == [True, True, True]
    assert result.output_model.config["load_kwargs"]["token"] == "hf_" + "R" * 30  # restored, not '***'


def test_the_component_distribution_version_is_in_the_key(engine_registry, ws):
    import dataclasses

    modelpress.run(chain(ws))
    passes = engine_registry._by_kind["pass"]
    passes["AppendText"] = dataclasses.replace(passes["AppendText"], distribution=("text-plugin", "2.0"))
    assert hits(modelpress.run(chain(ws))) == [True, True, False]


def test_outputs_are_copies_so_editing_one_never_changes_the_cache(engine_registry, ws):
    modelpress.run(chain(ws))
    out_file = ws / "out" / "model" / "model.txt"
    assert out_file.stat().st_nlink == 1
    out_file.write_text("edited in place")
    result = modelpress.run(chain(ws))
    assert hits(result) == [True, True, True] and text(result) == "base+A!abc"


def test_nothing_a_run_writes_holds_the_token(engine_registry, ws):
    cfg = chain(ws)
    cfg["passes"]["adapter"] = {"type": "TextAdapter"}
    modelpress.run(cfg)
    written = [p for p in ws.rglob("*") if p.is_file() and p.name not in ("base.txt", "data.txt")]
    assert any(p.name == "run.json" for p in written) and any(p.name == "result.json" for p in written)
    assert not [p for p in written if TOKEN.encode() in p.read_bytes()]


def test_read_only_cache_serves_hits(engine_registry, ws, monkeypatch):
    modelpress.run(chain(ws))
    for p in [ws / "cache", *(ws / "cache").rglob("*")]:
        p.chmod(p.stat().st_mode & ~0o222)
    if os.geteuid() == 0:  # root writes anyway; make the cache module see what a user would
        real, cache = os.access, str(ws / "cache")
        monkeypatch.setattr(cache_mod.os, "access", lambda path, mode: (
            real(path, mode) and not (mode & os.W_OK and str(path).startswith(cache))))
    try:
        result = modelpress.run(chain(ws))
        assert hits(result) == [True, True, True] and text(result) == "base+A!abc"
        from modelpress.errors import UserError
        with pytest.raises(UserError, match="cache_dir: .* is read-only and this pass is not cached"):
            modelpress.run(chain(ws, tag="#"))
    finally:
        for p in [ws / "cache", *(ws / "cache").rglob("*")]:
            p.chmod(p.stat().st_mode | 0o200)


@pytest.mark.parametrize("kind", ["file", "unwritable"])
def test_bad_output_dir_is_reported_before_any_pass_runs(engine_registry, ws, kind, monkeypatch):
    from modelpress.engine import outputs
    from modelpress.errors import UserError

    cfg = chain(ws)
    if kind == "file":
        (ws / "out").write_text("a file")
    else:
        (ws / "out").mkdir()
        real = os.access
        monkeypatch.setattr(outputs.os, "access", lambda path, mode: real(path, mode) and path != ws / "out")
    with pytest.raises(UserError, match=r"^output_dir: .*(is a file|is not writable)"):
        modelpress.run(cfg)
    assert not list((ws / "cache" / "passes").iterdir())


def test_unchanged_entries_are_trusted_by_size_and_mtime_and_a_touched_file_is_hashed_again(
        engine_registry, ws, monkeypatch):
    """The manifest check is cheap: a warm run reads no file to hash it (the digests are memoised by
    path, size, mtime and inode); a file whose mtime changed is hashed again, and kept if its content is
    the same."""
    modelpress.run(chain(ws))
    hashed: list[str] = []
    real_open = open
    monkeypatch.setattr(cache_mod, "open", lambda path, *a, **k: hashed.append(Path(path).name) or
                        real_open(path, *a, **k), raising=False)
    assert hits(modelpress.run(chain(ws))) == [True, True, True]
    assert hashed == []
    model = merge_entry(ws) / "model" / "model.txt"
    os.utime(model, ns=(model.stat().st_atime_ns, model.stat().st_mtime_ns + 10**9))
    assert hits(modelpress.run(chain(ws))) == [True, True, True]
    assert hashed == ["model.txt"]


# -- real processes ----------------------------------------------------------

SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {root!r})
    from tests.core import engine_plugin
    engine_plugin.install()
    import modelpress
    result = modelpress.run(json.loads(open(sys.argv[1]).read()))
    print("HITS", [n["cache_hit"] for n in result.footprints])
    print("RESULT", open(result.output_model.config["model_path"]).read())
""")


def spawn(ws: Path, cfg: dict) -> subprocess.Popen:
    (ws / "cfg.json").write_text(json.dumps(cfg))
    (ws / "script.py").write_text(SCRIPT.format(root=str(ROOT)))
    env = {**os.environ, "MODELPRESS_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.Popen([sys.executable, str(ws / "script.py"), str(ws / "cfg.json")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def run_process(ws: Path, cfg: dict) -> tuple[str, str]:
    proc = spawn(ws, cfg)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return out, err


def merge_entry(ws: Path) -> Path:
    return next(p for p in (ws / "cache" / "passes").iterdir()
                if json.loads((p / "result.json").read_text())["model"].get("adapter_path") is None
                and (p / "model" / "model.txt").read_text() == "base+A")


@pytest.mark.parametrize("damage", ["truncate", "flip_bit", "no_result", "no_manifest"])
def test_a_damaged_entry_is_rebuilt_with_one_warning(engine_registry, ws, damage):
    cfg = chain(ws)
    modelpress.run(cfg)
    entry = merge_entry(ws)
    model = entry / "model" / "model.txt"
    if damage == "truncate":
        model.write_bytes(model.read_bytes()[:2])
    elif damage == "flip_bit":
        data = bytearray(model.read_bytes())
        data[0] ^= 0x01
        model.write_bytes(bytes(data))
    else:
        (entry / ("result.json" if damage == "no_result" else "manifest.json")).unlink()
    out, err = run_process(ws, cfg)
    assert "HITS [True, False, True]" in out and "RESULT base+A!abc" in out
    warnings = [line for line in err.splitlines() if "rebuilding it" in line]
    assert len(warnings) == 1 and str(entry) in warnings[0]
    assert hits(modelpress.run(cfg)) == [True, True, True]  # the rebuild was kept


def test_four_concurrent_runs_on_one_cache_and_output_folder(engine_registry, ws):
    cfg = chain(ws)
    for phase in ("cold", "warm"):
        procs = [spawn(ws, cfg) for _ in range(4)]
        outs = [p.communicate(timeout=180) for p in procs]
        for proc, (_, err) in zip(procs, outs, strict=True):
            assert proc.returncode == 0, f"{phase}: {err}"
        results = {line for out, _ in outs for line in out.splitlines() if line.startswith("RESULT")}
        assert results == {"RESULT base+A!abc"}, phase
        assert (ws / "out" / "model" / "model.txt").read_text() == "base+A!abc"
    assert len(list((ws / "cache" / "passes").iterdir())) == 3
    assert not [p for p in (ws / "out").iterdir() if p.name.startswith(".")]


CLI_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from tests.core import engine_plugin
    engine_plugin.install()
    from modelpress.cli import main
    sys.exit(main(["run", sys.argv[1]]))
""")


@pytest.mark.parametrize("sig, code, word", [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")])
def test_a_local_run_stopped_by_a_signal_says_how_to_resume_and_resumes(engine_registry, ws, sig, code, word):
    """``modelpress run`` in a real process, stopped in its second pass by SIGTERM or Ctrl-C: the
    exit code says which, the last line says how to resume, the finished pass stays cached, the
    stopped one leaves no entry, and the same command then finishes from there."""
    go = ws / "go"
    cfg = chain(ws)
    cfg["passes"]["merge"] = {"type": "SlowAppend", "suffix": "#", "go_file": str(go)}
    (ws / "cfg.json").write_text(json.dumps(cfg))
    (ws / "cli.py").write_text(CLI_SCRIPT.format(root=str(ROOT)))
    env = {**os.environ, "MODELPRESS_DISABLE_PLUGIN_AUTOLOAD": "1"}
    proc = subprocess.Popen([sys.executable, str(ws / "cli.py"), str(ws / "cfg.json")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 60
    while not Path(str(go) + ".started").exists():
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert err.strip().splitlines()[-1] == f"{word}: finished passes stay in the cache; " \
                                           "rerun the same command to resume"
    assert "Traceback" not in err
    [entry] = (ws / "cache" / "passes").iterdir()  # the adapter pass only
    assert json.loads((entry / "result.json").read_text())["model"]["adapter_path"]
    assert not list((ws / "out").iterdir())  # checked writable before the passes, then left empty
    go.write_text("go")
    rerun = subprocess.run([sys.executable, str(ws / "cli.py"), str(ws / "cfg.json")], capture_output=True,
                           text=True, env=env, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    footprints = json.loads((ws / "out" / "footprints.json").read_text())["nodes"]
    assert [n["cache_hit"] for n in footprints] == [True, False, False]
    assert (ws / "out" / "model" / "model.txt").read_text() == "base#!abc"
