"""The plugin manager and the registry: entry points, names, aliases, errors."""
from __future__ import annotations

import types

import pytest

from modelpress import hookimpl
from modelpress.components import Pass, System
from modelpress.errors import ConfigError, MissingDependencyError
from modelpress.registry import Registry, new_plugin_manager


def plugin(**hooks) -> types.SimpleNamespace:
    return types.SimpleNamespace(**{name: hookimpl(fn) for name, fn in hooks.items()})


class Shout(Pass):
    """A pass used only to exercise registration."""

    name = "Shout"
    aliases = ("Yell",)


class NeedsLib(Pass):
    name = "NeedsLib"
    requires = {"surely_not_installed_lib": "pip install 'modelpress[imaginary]'"}


def test_builtins_come_from_entry_points(plugin_registry):
    local = plugin_registry.get("system", "LocalSystem")
    assert local.plugin == "local"
    assert issubclass(local.cls, System)


def test_register_alias_and_lookup(register_plugin):
    reg = register_plugin(plugin(register_passes=lambda register: register(Shout)), name="shouty")
    assert reg.get("pass", "Yell").cls is Shout
    assert reg.get("pass", "Shout").plugin == "shouty"
    assert reg.canonical_name("pass", "Yell") == "Shout"


def test_unknown_name_suggests_nearest(plugin_registry):
    with pytest.raises(ConfigError) as err:
        plugin_registry.get("system", "LocalSytem", where="systems.local.type")
    line = err.value.problems[0]
    assert line.startswith("systems.local.type: no plugin provides system type 'LocalSytem'")
    assert "did you mean 'LocalSystem'?" in line


def test_duplicate_names_are_rejected(plugin_registry):
    pm = plugin_registry.pm
    pm.register(plugin(register_passes=lambda register: register(Shout)), name="first")
    pm.register(plugin(register_passes=lambda register: register(Shout)), name="second")
    reg = Registry(pm)  # the later plugin is the broken one; the first keeps its name
    assert reg.get("pass", "Shout").plugin == "first"
    assert reg.broken["second"].startswith("plugin 'second': pass 'Shout' is already registered by plugin 'first'")


def test_register_rejects_wrong_class(plugin_registry):
    pm = plugin_registry.pm
    pm.register(plugin(register_passes=lambda register: register(dict)), name="bad")
    assert "expected a subclass of modelpress.components.Pass" in Registry(pm).broken["bad"]


def test_missing_dependency_keeps_component_listed(register_plugin):
    reg = register_plugin(plugin(register_passes=lambda register: register(NeedsLib)), name="needy")
    assert "NeedsLib" in reg.names("pass")
    assert reg.get("pass", "NeedsLib").missing == [
        "NeedsLib needs surely_not_installed_lib: pip install 'modelpress[imaginary]'"]
    with pytest.raises(MissingDependencyError, match=r"pip install 'modelpress\[imaginary\]'"):
        reg.require("pass", "NeedsLib", where="passes.x.type")


def test_autoload_off_loads_only_builtins(monkeypatch):
    from importlib import metadata

    fake_dist = types.SimpleNamespace(name="someone-elses-plugin")
    fake = types.SimpleNamespace(name="thirdparty", value="thirdparty_mod", dist=fake_dist,
                                 load=lambda: plugin(register_passes=lambda register: register(Shout)))
    real = metadata.entry_points

    def entry_points(group=None):
        found = list(real(group=group))
        return [*found, fake] if group == "modelpress" else found

    monkeypatch.setattr(metadata, "entry_points", entry_points)
    assert "Shout" in Registry(new_plugin_manager(autoload=True)).names("pass")
    monkeypatch.setenv("MODELPRESS_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert "Shout" not in Registry(new_plugin_manager()).names("pass")


def test_broken_third_party_plugin_names_itself(monkeypatch):
    from importlib import metadata

    def boom():
        raise ImportError("No module named 'thirdparty_mod'")

    fake = types.SimpleNamespace(name="thirdparty", value="thirdparty_mod",
                                 dist=types.SimpleNamespace(name="tp"), load=boom)
    real = metadata.entry_points
    monkeypatch.setattr(metadata, "entry_points",
                        lambda group=None: list(real(group=group)) + ([fake] if group == "modelpress" else []))
    pm = new_plugin_manager(autoload=True)  # does not stop the others
    assert pm.broken["thirdparty"].startswith("plugin 'thirdparty' (tp) failed to import thirdparty_mod: "
                                              "ImportError: No module named")


def test_hooks_before_and_after_pass_are_called(register_plugin, tmp_path):
    import modelpress
    from tests.core import engine_plugin

    seen = []
    tracker = plugin(
        before_pass=lambda step, model, context: seen.append(("before", step)),
        after_pass=lambda step, model, result, context: seen.append(("after", step, result.name)),
    )
    register_plugin(engine_plugin, name="engine_plugin")
    register_plugin(tracker, name="tracker")
    (tmp_path / "m.txt").write_text("x")
    modelpress.run({"input_model": {"type": "TextModel", "model_path": str(tmp_path / "m.txt")},
                    "passes": {"a": {"type": "AppendText"}},
                    "cache_dir": str(tmp_path / "c"), "output_dir": str(tmp_path / "o")})
    assert seen == [("before", "a"), ("after", "a", "TextModel")]


class NeedsSubmodule(Pass):
    name = "NeedsSubmodule"
    requires = {"surely_missing_parent.ml": "pip install 'modelpress[azureml]'"}


def test_missing_parent_package_is_reported_not_raised(register_plugin):
    reg = register_plugin(plugin(register_passes=lambda register: register(NeedsSubmodule)), name="sub")
    assert reg.get("pass", "NeedsSubmodule").missing == [
        "NeedsSubmodule needs surely_missing_parent.ml: pip install 'modelpress[azureml]'"]
