"""The plugin manager and the registry of components it fills.

Every plugin, built-in or third-party, is a module named in the "modelpress"
entry-point group; its hooks call ``register(cls)``. The registry checks the
class, the name and its aliases in one place.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pluggy

from .components import KINDS, ModelHandle
from .errors import ConfigError, UserError, did_you_mean
from .frozen import Config
from .plugin_loading import AUTOLOAD_OFF, PROJECT, describe, distribution_of, new_plugin_manager  # noqa: F401 (re-exported)


@dataclass(frozen=True)
class Registration:
    """A registered component class and the plugin that provided it."""

    kind: str
    name: str
    cls: Any  # a subclass of KINDS[kind].base (checked when it registers)
    plugin: str
    #: (distribution, version) that ships the component: part of its cache keys
    distribution: tuple[str, str] = ("", "")

    @property
    def missing(self) -> list[str]:
        return self.cls.missing_requirements()


class Registry:
    """All components the plugins registered, by kind and name (aliases too).

    Plugins register in load order (built-ins first), each as a whole: one
    whose hook raises, registers a wrong class, an unreadable schema or a
    name already taken registers nothing and joins :attr:`broken`.
    """

    def __init__(self, pm: pluggy.PluginManager):
        self.pm = pm
        self._by_kind: dict[str, dict[str, Registration]] = {k: {} for k in KINDS}
        self._aliases: dict[str, dict[str, str]] = {k: {} for k in KINDS}
        #: plugin name -> why it is unavailable (one line naming it and its distribution)
        self.broken: dict[str, str] = dict(getattr(pm, "broken", {}))
        for plugin in [name for name, _ in pm.list_name_plugin()]:
            staged: list[Registration] = []
            try:
                # Each implementation is called by hand, not through pm.hook: pluggy would call
                # every plugin at once and stop at the first that raises, so one broken plugin
                # would hide all components; this way it is named and the others still register.
                for kind, hook_name in ((k.name, k.hook) for k in KINDS.values()):
                    for impl in getattr(pm.hook, hook_name).get_hookimpls():
                        if impl.plugin_name == plugin:
                            impl.function(register=self._registrar(kind, plugin, staged))
            except UserError as exc:
                self.broken[plugin] = exc.problems[0]
                continue
            except Exception as exc:  # the plugin's own code failed: name it, keep the others
                self.broken[plugin] = (f"{describe(pm, plugin)}: {hook_name} raised "
                                       f"{type(exc).__name__}: {exc}; report it to the plugin's author")
                continue
            for reg in staged:
                self._by_kind[reg.kind][reg.name] = reg
                for alias in reg.cls.aliases:
                    self._aliases[reg.kind][alias] = reg.name

    def _registrar(self, kind: str, plugin: str, staged: list[Registration]):
        base = KINDS[kind].base

        def register(cls: type) -> type:
            where = describe(self.pm, plugin)
            if not (isinstance(cls, type) and issubclass(cls, base)):
                raise UserError(f"{where}: {KINDS[kind].hook} got {cls!r}; "
                                f"expected a subclass of modelpress.components.{base.__name__}")
            if not cls.name:
                raise UserError(f"{where}: {cls.__qualname__} has no 'name'")
            for name in (cls.name, *cls.aliases):
                taken = self._by_kind[kind].get(self._aliases[kind].get(name, name))
                taken = taken or next((r for r in staged if r.kind == kind and name in (r.name, *r.cls.aliases)), None)
                if taken is not None:
                    raise UserError(f"{where}: {KINDS[kind].word} '{name}' is already registered "
                                    f"by {describe(self.pm, taken.plugin)}; choose another name")
            try:
                cls.get_schema()
            except Exception as exc:  # e.g. a schema file left out of the wheel
                raise UserError(f"{where}: the schema of {KINDS[kind].word} {cls.name} ({cls.schema!r}) "
                                f"cannot be read ({type(exc).__name__}: {exc}); reinstall the plugin "
                                "or report it to its author") from None
            dist = self.pm.distributions.get(plugin) if hasattr(self.pm, "distributions") else None
            staged.append(Registration(kind, cls.name, cls, plugin, tuple(dist or distribution_of(cls))))
            return cls

        return register

    # -- lookups -------------------------------------------------------------

    def names(self, kind: str) -> list[str]:
        """Canonical names of the registered components of ``kind``."""
        return sorted(self._by_kind[kind])

    def all(self, kind: str | None = None) -> list[Registration]:
        kinds = [kind] if kind else list(KINDS)
        return [r for k in kinds for _, r in sorted(self._by_kind[k].items())]

    def canonical_name(self, kind: str, name: str) -> str | None:
        name = self._aliases[kind].get(name, name)
        return name if name in self._by_kind[kind] else None

    def get(self, kind: str, name: Any, where: str = "type") -> Registration:
        """The registration of ``name`` (or an alias); a clear error otherwise."""
        canonical = self.canonical_name(kind, name) if isinstance(name, str) else None
        if canonical is None:
            known = [*self._by_kind[kind], *self._aliases[kind]]
            word = KINDS[kind].word
            noun = word if word.endswith(" type") else f"{word} type"
            plural = {"pass": "passes", "search strategy": "search strategies"}.get(word, word + "s")
            broken = "".join(f"; {line}" for line in self.broken.values())
            raise ConfigError(f"{where}: no plugin provides {noun} {name!r}"
                              f"{did_you_mean(str(name), known)} (plugin may not be installed; "
                              f"'modelpress plugins' lists the {plural} available){broken}")
        return self._by_kind[kind][canonical]

    def require(self, kind: str, name: str, where: str = "type") -> Any:
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
        return cls(Config(cls.with_defaults(data)), context)

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
