"""The plugin manager and the registry of components it fills.

Every plugin, built-in or third-party, is a module named in the "modelpress"
entry-point group; its hooks call ``register(cls)``. The registry checks the
class, the name and its aliases in one place.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Mapping

import pluggy

from . import hookspecs
from .components import BASES, Component, ModelHandle
from .errors import ConfigError, UserError, did_you_mean
from .frozen import Config

PROJECT = "modelpress"
AUTOLOAD_OFF = "MODELPRESS_DISABLE_PLUGIN_AUTOLOAD"
HOOK_OF_KIND = {
    "pass": "register_passes",
    "data_container": "register_data_containers",
    "system": "register_systems",
    "search_strategy": "register_search_strategies",
    "metric": "register_metrics",
    "model_type": "register_model_types",
    "resource": "register_resources",
}
KIND_WORDS = {
    "pass": "pass", "data_container": "data container", "system": "system",
    "search_strategy": "search strategy", "metric": "metric", "model_type": "model type", "resource": "resource",
}


@dataclass(frozen=True)
class Registration:
    """A registered component class and the plugin that provided it."""

    kind: str
    name: str
    cls: type[Component]
    plugin: str

    @property
    def missing(self) -> list[str]:
        return self.cls.missing_requirements()


def new_plugin_manager(autoload: bool | None = None) -> pluggy.PluginManager:
    """A plugin manager with every "modelpress" entry point registered.

    With ``MODELPRESS_DISABLE_PLUGIN_AUTOLOAD=1`` (or ``autoload=False``) only
    the entry points of the modelpress distribution itself are loaded.
    """
    if autoload is None:
        autoload = os.environ.get(AUTOLOAD_OFF, "") in ("", "0", "false")
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    for ep in metadata.entry_points(group=PROJECT):
        dist = ep.dist.name if ep.dist else ""
        if not autoload and dist.lower() != PROJECT:
            continue
        if pm.get_plugin(ep.name) is not None:
            continue
        try:
            module = ep.load()
        except Exception as exc:  # a broken third-party plugin must name itself
            raise UserError(f"plugin '{ep.name}' ({ep.value}, from {dist or 'unknown'}) "
                            f"failed to load: {exc}; reinstall or uninstall it") from exc
        pm.register(module, name=ep.name)
    pm.check_pending()
    return pm


class Registry:
    """All components the plugins registered, by kind and name (aliases too)."""

    def __init__(self, pm: pluggy.PluginManager):
        self.pm = pm
        self._by_kind: dict[str, dict[str, Registration]] = {k: {} for k in HOOK_OF_KIND}
        self._aliases: dict[str, dict[str, str]] = {k: {} for k in HOOK_OF_KIND}
        for kind, hook_name in HOOK_OF_KIND.items():
            hook = getattr(pm.hook, hook_name)
            for impl in hook.get_hookimpls():
                impl.function(register=self._registrar(kind, impl.plugin_name))

    def _registrar(self, kind: str, plugin: str):
        base = BASES[kind]

        def register(cls: type) -> type:
            where = f"plugin '{plugin}'"
            if not (isinstance(cls, type) and issubclass(cls, base)):
                raise UserError(f"{where}: register_{kind}s got {cls!r}; "
                                f"expected a subclass of {base.__module__}.{base.__name__}")
            if not cls.name:
                raise UserError(f"{where}: {cls.__qualname__} has no 'name'")
            for name in (cls.name, *cls.aliases):
                taken = self._by_kind[kind].get(self._aliases[kind].get(name, name))
                if taken is not None:
                    raise UserError(f"{where}: {KIND_WORDS[kind]} '{name}' is already registered "
                                    f"by plugin '{taken.plugin}'; choose another name")
            self._by_kind[kind][cls.name] = Registration(kind, cls.name, cls, plugin)
            for alias in cls.aliases:
                self._aliases[kind][alias] = cls.name
            return cls

        return register

    # -- lookups -------------------------------------------------------------

    def names(self, kind: str) -> list[str]:
        """Canonical names of the registered components of ``kind``."""
        return sorted(self._by_kind[kind])

    def all(self, kind: str | None = None) -> list[Registration]:
        kinds = [kind] if kind else list(HOOK_OF_KIND)
        return [r for k in kinds for _, r in sorted(self._by_kind[k].items())]

    def canonical_name(self, kind: str, name: str) -> str | None:
        name = self._aliases[kind].get(name, name)
        return name if name in self._by_kind[kind] else None

    def get(self, kind: str, name: Any, where: str = "type") -> Registration:
        """The registration of ``name`` (or an alias); a clear error otherwise."""
        canonical = self.canonical_name(kind, name) if isinstance(name, str) else None
        if canonical is None:
            known = [*self._by_kind[kind], *self._aliases[kind]]
            word = KIND_WORDS[kind]
            noun = word if word.endswith(" type") else f"{word} type"
            plural = {"pass": "passes", "search strategy": "search strategies"}.get(word, word + "s")
            raise ConfigError(f"{where}: no plugin provides {noun} {name!r}"
                              f"{did_you_mean(str(name), known)} (plugin may not be installed; "
                              f"'modelpress plugins' lists the {plural} available)")
        return self._by_kind[kind][canonical]

    def require(self, kind: str, name: str, where: str = "type") -> type[Component]:
        """Like :meth:`get`, but fails if the component's libraries are missing."""
        reg = self.get(kind, name, where)
        if reg.missing:
            from .errors import MissingDependencyError
            raise MissingDependencyError([f"{where}: {m}" for m in reg.missing])
        return reg.cls

    # -- construction (configs are already canonical and validated) ----------

    def model_handle(self, data: Mapping[str, Any]) -> ModelHandle:
        """A model handle from its JSON form ``{"type": ..., **config}``."""
        data = dict(data)
        cls = self.get("model_type", data.pop("type", None), "model.type").cls
        return cls(data)

    def _create(self, kind: str, data: Mapping[str, Any], context: Any):
        data = dict(data)
        cls = self.require(kind, data.pop("type", None))
        data.pop("name", None)
        return cls(Config(data), context)

    def create_pass(self, data: Mapping[str, Any], context: Any):
        return self._create("pass", data, context)

    def create_data_container(self, data: Mapping[str, Any], context: Any):
        return self._create("data_container", data, context)

    def create_system(self, data: Mapping[str, Any], context: Any):
        return self._create("system", data, context)

    def create_metric(self, data: Mapping[str, Any], context: Any):
        return self._create("metric", data, context)


_default: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry (plugins loaded once)."""
    global _default
    if _default is None:
        _default = Registry(new_plugin_manager())
    return _default


def set_registry(registry: Registry | None) -> None:
    """Replace the process-wide registry (tests; ``None`` reloads on next use)."""
    global _default
    _default = registry
