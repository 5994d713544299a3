"""Plugins as a third-party author writes them: one cannot break the others.

Each test adds fake "modelpress" entry points (a distribution name, a
version and a module) next to the real ones, as ``pip install`` would.
"""
from __future__ import annotations

import json
import types

import pytest

from modelpress import hookimpl
from modelpress.components import Pass
from modelpress.plugin_loading import AUTOLOAD_OFF

DIST = types.SimpleNamespace(name="evil-dist", version="2.0")


def module(**hooks) -> types.SimpleNamespace:
    return types.SimpleNamespace(**{name: hookimpl(fn) for name, fn in hooks.items()})


def entry_point(name: str, load) -> types.SimpleNamespace:
    return types.SimpleNamespace(name=name, value=f"evil.{name}", dist=DIST, load=load)


@pytest.fixture
def add_entry_points(monkeypatch):
    """``add_entry_points(ep, ...)`` -> a fresh process registry that also loads them."""
    from importlib import metadata

    from modelpress import registry as reg

    monkeypatch.setenv(AUTOLOAD_OFF, "0")
    real = metadata.entry_points
    extra: list = []
    monkeypatch.setattr(metadata, "entry_points",
                        lambda group=None: [*extra, *real(group=group)] if group == "modelpress" else real(group=group))
    old = reg._default

    def add(*eps):
        extra.extend(eps)  # listed BEFORE the built-ins: load order must not decide who is blamed
        reg.set_registry(None)
        return reg.get_registry()

    yield add
    reg.set_registry(old)


class FakeLoRA(Pass):
    name = "EvilPass"
    aliases = ("LoRA",)


class Quiet(Pass):
    name = "QuietPass"


def test_entry_point_named_like_a_builtin_is_an_error_naming_both(add_entry_points):
    registry = add_entry_points(entry_point("metrics", lambda: module()))
    assert "accuracy" in registry.names("metric")  # the built-in metrics are all there
    [line] = [v for v in registry.broken.values() if "'metrics'" in v]
    assert "evil-dist 2.0" in line and "already used by modelpress" in line


def test_third_party_alias_of_a_builtin_blames_the_third_party(add_entry_points):
    registry = add_entry_points(entry_point("evil", lambda: module(register_passes=lambda register: register(FakeLoRA))))
    assert registry.get("pass", "LoRA").plugin == "huggingface"
    assert registry.broken["evil"].startswith("plugin 'evil' (evil-dist 2.0): pass 'LoRA' is already registered "
                                              "by plugin 'huggingface' (modelpress ")


def boom():
    raise ImportError("No module named 'evil_dep'")


def raises(register):
    register(Quiet)
    raise RuntimeError("bug in the plugin")


class NoSchemaFile(Pass):
    name = "NoSchemaFile"
    schema = "modelpress.schemas:passes/NotShipped.json"


@pytest.mark.parametrize("load, expected", [
    (boom, "plugin 'evil' (evil-dist 2.0) failed to import evil.evil: ImportError: No module named 'evil_dep'; "
           "reinstall or uninstall evil-dist"),
    (lambda: module(register_pases=lambda register: None),
     "plugin 'evil' (evil-dist 2.0): 'register_pases' is not a modelpress hook; did you mean 'register_passes'?"),
    (lambda: module(register_passes=raises),
     "plugin 'evil' (evil-dist 2.0): register_passes raised RuntimeError: bug in the plugin; "
     "report it to the plugin's author"),
    (lambda: module(register_passes=lambda register: register(NoSchemaFile)),
     "plugin 'evil' (evil-dist 2.0): the schema of pass NoSchemaFile"),
], ids=["import", "hook-name", "hook-raises", "schema-missing"])
def test_a_broken_plugin_is_one_line_and_blocks_only_its_own_components(
        add_entry_points, tmp_path, capsys, load, expected):
    from modelpress.cli import main

    registry = add_entry_points(entry_point("evil", load))
    assert registry.broken["evil"].startswith(expected)
    assert "QuietPass" not in registry.names("pass")  # nothing half-registered
    # Every command still works ...
    assert main(["plugins"]) == 0
    listing = capsys.readouterr().out
    assert "broken: " + expected in listing
    assert any(line.split()[1] == "LoRA" and " modelpress " in line for line in listing.splitlines())
    cfg = {"input_model": {"type": "HfModel", "model_path": str(tmp_path)}, "passes": {}}
    (tmp_path / "ok.json").write_text(json.dumps(cfg))
    assert main(["validate", str(tmp_path / "ok.json")]) == 0
    capsys.readouterr()
    # ... and a workflow asking for what the plugin would provide fails in one line naming it.
    cfg["passes"] = {"q": {"type": "QuietPass"}}
    (tmp_path / "uses.json").write_text(json.dumps(cfg))
    assert main(["validate", str(tmp_path / "uses.json")]) == 2
    err = capsys.readouterr().err
    assert "QuietPass" in err and expected in err and "Traceback" not in err


def test_plugins_json_lists_distribution_and_version(add_entry_points, capsys):
    from modelpress.cli import main

    add_entry_points(entry_point("quiet", lambda: module(register_passes=lambda register: register(Quiet))))
    assert main(["plugins", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["QuietPass"]["distribution"] == "evil-dist 2.0"
    assert rows["LoRA"]["distribution"].startswith("modelpress ")
