"""``modelpress run``: log lines on the terminal, -v/-q, --set, plugin commands.

In-process (``main``) with the engine tests' text passes: fast, and the
subprocess tests in test_cli.py cover the real entry point.
"""
from __future__ import annotations

import json
import logging
import types

import pytest

from modelpress import hookimpl
from modelpress.cli import main
from tests.core.test_engine import config


@pytest.fixture
def workspace(tmp_path, register_plugin):
    from tests.core import engine_plugin

    register_plugin(engine_plugin, name="engine_plugin")
    (tmp_path / "base.txt").write_text("base")
    (tmp_path / "data.txt").write_text("abc\n")
    yield tmp_path
    logging.getLogger("modelpress").setLevel(logging.NOTSET)


def write(ws, **top) -> str:
    path = ws / "wf.json"
    path.write_text(json.dumps({**config(ws), **top}))
    return str(path)


def test_run_says_which_pass_runs_what_was_cached_and_where_the_output_is(workspace, capsys):
    path = write(workspace)
    assert main(["run", path]) == 0
    first = capsys.readouterr()
    for step in ("one", "two", "three"):
        assert f"running pass {step} (AppendText)" in first.err
    assert f"output written to {workspace / 'out'}" in first.err
    assert f"output model: {workspace / 'out' / 'model'}" in first.out
    assert main(["run", path]) == 0
    second = capsys.readouterr()
    assert "running pass" not in second.err
    assert all(f"pass {s} (AppendText): cache hit" in second.err for s in ("one", "two", "three"))


def test_log_severity_level_and_the_flags_that_override_it(workspace, capsys):
    path = write(workspace, log_severity_level=2)  # warnings only
    assert main(["run", path]) == 0
    assert "running pass" not in capsys.readouterr().err
    assert main(["run", path, "-v"]) == 0  # -v wins over the config: info (cache hits) and debug
    assert "cache hit" in capsys.readouterr().err
    quiet = write(workspace, log_severity_level=0)
    assert main(["run", quiet, "-q"]) == 0  # -q wins over a verbose config
    captured = capsys.readouterr()
    assert captured.err == "" and "output model:" in captured.out


def test_set_overrides_a_nested_value_before_validation(workspace, capsys):
    path = write(workspace)
    assert main(["run", path, "--set", "passes.three.repeat=3", "--set", "passes.two.suffix=\"?\"",
                 "--set", "output_dir=" + str(workspace / "other")]) == 0
    text = (workspace / "other" / "model" / "model.txt").read_text()
    assert text == "base!?abc!!!"  # repeat 3 on the last step
    assert "override: passes.three.repeat = 3" in capsys.readouterr().err


@pytest.mark.parametrize("item, expected", [
    ("passes.three.repeat=0", "passes.three.repeat"),  # validation names the key
    ("passes.three.repeat=many", "passes.three.repeat"),
    ("passes.one.type.x=1", "--set passes.one.type.x: 'passes.one.type' is \"AppendText\", not a mapping"),
    ("data_configs.5.name=x", "--set data_configs.5.name: 'data_configs.5' indexes a list of 1 item(s)"),
    ("novalue", "--set novalue: expected KEY=VALUE"),
])
def test_bad_set_is_one_line_naming_the_key(workspace, capsys, item, expected):
    path = write(workspace)
    assert main(["run", path, "--set", item]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err and "Traceback" not in err
    assert not (workspace / "out").exists()


def test_set_values_are_read_as_json_then_yaml_scalars():
    from modelpress.config.overrides import parse_value

    assert parse_value("1e-4") == 1e-4 and parse_value("32") == 32 and parse_value("true") is True
    assert parse_value("[16, 32]") == [16, 32] and parse_value('{"search": [1, 2]}') == {"search": [1, 2]}
    assert parse_value("yes") is True and parse_value("~") is None  # YAML scalars
    assert parse_value("output") == "output" and parse_value("a: b") == "a: b"  # strings stay strings


class Greeter:
    """A plugin adding a command through register_commands."""

    @hookimpl
    def register_commands(self, subparsers):
        cmd = subparsers.add_parser("greet", help="say hello")
        cmd.add_argument("--name", required=True)
        cmd.set_defaults(handler=lambda args: print(f"hello {args.name} (verbose={args.verbose})") or 3)


def test_a_plugin_command_runs_and_takes_the_common_flags(register_plugin, capsys):
    register_plugin(Greeter(), name="greeter")
    assert main(["greet", "--name", "ada", "-v"]) == 3
    assert capsys.readouterr().out == "hello ada (verbose=1)\n"


def test_a_plugin_command_that_clashes_is_named(register_plugin, capsys):
    clash = types.SimpleNamespace(register_commands=hookimpl(
        lambda subparsers: subparsers.add_parser("run")))
    register_plugin(clash, name="clashing")
    assert main(["plugins"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: plugin 'clashing': register_commands failed") and "Traceback" not in err


def test_finetune_comes_from_the_huggingface_plugin(plugin_registry):
    impls = plugin_registry.pm.hook.register_commands.get_hookimpls()
    assert [i.plugin_name for i in impls] == ["huggingface_finetune"]
