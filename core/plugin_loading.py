"""Loading the "modelpress" entry points so that one plugin cannot break the others.

The built-ins (the modelpress distribution's own entry points) load first, so
a clash always names the newcomer. A plugin that fails to import, uses an
entry-point name already taken, or implements a hook that does not exist is
not registered: it is recorded in ``pm.broken`` (name -> one line naming it
and its distribution), listed by ``modelpress plugins``, and named in the
error of any workflow that asks for a component it would have provided.
Everything else keeps working.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from importlib import metadata
from typing import Any

import pluggy

from . import hookspecs
from .errors import did_you_mean

PROJECT = "modelpress"
AUTOLOAD_OFF = "MODELPRESS_DISABLE_PLUGIN_AUTOLOAD"
HOOK_NAMES = sorted(n for n in vars(hookspecs) if getattr(getattr(hookspecs, n), "modelpress_spec", None))


def describe(pm: pluggy.PluginManager, plugin: str) -> str:
    """``plugin 'name' (distribution version)``, or ``plugin 'name'`` when no distribution is known."""
    dist, version = getattr(pm, "distributions", {}).get(plugin, ("", ""))
    return f"plugin '{plugin}' ({dist} {version})".replace(" )", ")") if dist else f"plugin '{plugin}'"


def _dist(ep: Any) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "", ""
    version = getattr(dist, "version", "") or ""
    return dist.name, version


def unknown_hooks(module: Any) -> list[str]:
    """Hook implementations of ``module`` whose names no hook spec has."""
    marker = f"{PROJECT}_impl"
    return [name for name in dir(module)
            if getattr(getattr(module, name, None), marker, None) is not None and name not in HOOK_NAMES]


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, with what loading found: ``broken`` (plugin name -> why it did not
    load) and ``distributions`` (plugin name -> (distribution, version))."""

    def __init__(self, project_name: str):
        super().__init__(project_name)
        self.broken: dict[str, str] = {}
        self.distributions: dict[str, tuple[str, str]] = {}


def new_plugin_manager(autoload: bool | None = None) -> PluginManager:
    """A plugin manager with every "modelpress" entry point that loads cleanly registered.

    With ``MODELPRESS_DISABLE_PLUGIN_AUTOLOAD=1`` (or ``autoload=False``) only
    the entry points of the modelpress distribution itself are loaded.
    """
    if autoload is None:
        autoload = os.environ.get(AUTOLOAD_OFF, "") in ("", "0", "false")
    pm = PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    eps = list(metadata.entry_points(group=PROJECT))
    eps.sort(key=lambda ep: _dist(ep)[0].lower() != PROJECT)  # built-ins first (stable sort)
    for ep in eps:
        dist, version = _dist(ep)
        if not autoload and dist.lower() != PROJECT:
            continue
        if ep.name in pm.distributions:
            if pm.distributions[ep.name][0] == dist:
                continue  # the same distribution seen twice (e.g. two paths): nothing to do
            other = describe(pm, ep.name).replace(f"plugin '{ep.name}' ", "")
            pm.broken[f"{ep.name} ({dist})"] = (
                f"plugin '{ep.name}' ({dist} {version}): its entry-point name is already used by "
                f"{other.strip('()')}; the plugin's author must rename the entry point")
            continue
        pm.distributions[ep.name] = (dist, version)
        where = describe(pm, ep.name)
        try:
            module = ep.load()
        except Exception as exc:  # a broken plugin must name itself, not stop the others
            pm.broken[ep.name] = (f"{where} failed to import {ep.value}: {type(exc).__name__}: {exc}; "
                                  f"reinstall or uninstall {dist or 'it'}")
            continue
        bad = unknown_hooks(module)
        if bad:
            pm.broken[ep.name] = (f"{where}: '{bad[0]}' is not a modelpress hook"
                                  f"{did_you_mean(bad[0], HOOK_NAMES)} (see 'Hooks' in the plugin guide)")
            continue
        try:
            pm.register(module, name=ep.name)
        except Exception as exc:  # pluggy's PluginValidationError: wrong hook arguments
            pm.broken[ep.name] = f"{where}: {exc}"
    pm.check_pending()
    return pm


@cache
def _packages() -> Mapping[str, list[str]]:
    return metadata.packages_distributions()


def distribution_of(cls: type) -> tuple[str, str]:
    """(distribution name, version) that ships ``cls``'s module, or ("", "") if none does."""
    top = cls.__module__.split(".")[0]
    for dist in _packages().get(top, []):
        try:
            return dist, metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "", ""
