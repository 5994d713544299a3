"""Rewrite both Olive config forms into the one canonical form.

Each rewrite is reported as a note (``"passes.lora.lora_r: renamed to 'r'"``)
so that ``modelpress migrate`` can show what changed. What is rewritten:

- ``{"type": ..., "config": {...}}`` wrappers of the input model, systems
  and passes are flattened;
- ``engine: {...}`` keys move to the top level;
- type aliases become the registered name (``PyTorchModel`` -> ``HfModel``);
- ``input_model.hf_config`` is lifted (``model_name`` -> ``model_path``,
  ``model_loading_args`` / ``from_pretrained_args`` -> ``load_kwargs``);
- ``*_config.params`` of data configs are flattened, a ``data_configs``
  mapping becomes a list; Olive 0.5-0.6.1's ``params_config`` (with
  ``component_kwargs``), ``components`` and ``data_root`` become the flat
  ``*_config`` objects (see :mod:`.olive_forms`);
- Olive's ``extra_args`` objects (``training_args``, load kwargs) are flattened;
- Olive's ``search_algorithm`` / ``search_algorithm_config`` become
  ``sampler``, ``max_samples`` and ``seed``;
- every ``"x-renamed": {"old": "new"}`` of a component's schema, at every
  object level (``null`` drops the key).

A key set under both its old and its new name is an error, never a guess.
Every moved key remembers where the user wrote it (:class:`.origins.Origins`),
so that a later error names the key as written.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError
from . import olive_forms, olive_workflow
from .messages import join_path
from .olive_workflow import SEARCH_CONFIG_KEYS  # noqa: F401 (the docs test reads it here)
from .origins import Origins
from .schema import deref, prop_schema, property_names
from .search_values import is_search_value

HF_CONFIG_KEYS = {"model_loading_args": "load_kwargs", "from_pretrained_args": "load_kwargs"}


def migrate(raw: Mapping[str, Any], registry: Any) -> tuple[dict, list[str]]:
    """``(canonical config, notes)``; conflicting old and new keys raise ConfigError."""
    migration = _Migration(registry)
    canonical = migration.rewrite(raw)
    if migration.problems:
        raise ConfigError(migration.problems)
    return canonical, migration.notes


def migrate_all(raw: Mapping[str, Any], registry: Any) -> tuple[dict, list[str], list[str], Origins]:
    """``(canonical config, notes, problems, origins)``: nothing raised, so that
    validation can report the migration's problems together with its own."""
    migration = _Migration(registry)
    canonical = migration.rewrite(raw)
    return canonical, migration.notes, migration.problems, migration.origins


class _Migration:
    """One migration: collects notes and problems while rewriting a copy."""

    def __init__(self, registry: Any):
        self.registry = registry
        self.notes: list[str] = []
        self.problems: list[str] = []
        self.origins = Origins()

    def moved(self, new: str, old: str) -> None:
        """Record that the key now at ``new`` was at ``old`` (a path of this migration)."""
        self.origins.add(new, old)

    def rewrite(self, raw: Mapping[str, Any]) -> dict:
        """Migrate a copy of ``raw``; conflicts are collected in ``problems``."""
        cfg = copy.deepcopy(dict(raw))
        olive_workflow.lift_engine(self, cfg)
        olive_workflow.olive_engine_keys(self, cfg)
        model = cfg.get("input_model")
        if isinstance(model, dict):
            self.component("model_type", model, "input_model", lift_hf_config=True)
        for name, system in _items(cfg.get("systems")):
            self.component("system", system, f"systems.{name}")
        self.data_configs(cfg)
        for name, evaluator in _items(cfg.get("evaluators")):
            for i, metric in enumerate(_list(evaluator.get("metrics"))):
                if isinstance(metric, dict):
                    self.metric(metric, f"evaluators.{name}.metrics[{i}]")
                    if "data_config" in metric:
                        self.hoist_data_config(cfg, metric, "data_config", f"evaluators.{name}.metrics[{i}]"
                                               f".data_config", f"{metric.get('name', 'metric')}_data")
        for name, value in (cfg.get("passes") or {}).items() if isinstance(cfg.get("passes"), dict) else []:
            entries = value if isinstance(value, list) else [value]
            for i, entry in enumerate(entries):
                if isinstance(entry, dict):
                    path = f"passes.{name}" + (f"[{i}]" if isinstance(value, list) else "")
                    self.component("pass", entry, path)
                    self.pass_data_configs(cfg, entry, path, name)
        if isinstance(cfg.get("search_strategy"), dict):
            olive_workflow.search_strategy(self, cfg["search_strategy"])
        if isinstance(cfg.get("azureml_client"), dict):
            olive_workflow.share_azureml_client(self, cfg)
        if "data_root" in cfg:
            olive_forms.data_root(self, cfg)
        return cfg

    # -- workflow level ------------------------------------------------------

    def data_configs(self, cfg: dict) -> None:
        """A mapping of data configs becomes the list form; each entry is migrated."""
        data = cfg.get("data_configs")
        if isinstance(data, dict):
            listed: list[dict] = []
            for name, entry in data.items():
                if isinstance(entry, dict):
                    if entry.get("name", name) != name:
                        self.problems.append(f"data_configs.{name}.name: '{entry['name']}' differs from its key "
                                             f"'{name}'; use one name")
                    entry = {"name": name, **{k: v for k, v in entry.items() if k != "name"}}
                self.moved(f"data_configs[{len(listed)}]", f"data_configs.{name}")
                listed.append(entry)
            cfg["data_configs"] = data = listed
            self.notes.append("data_configs: the mapping of names became a list of configs with 'name'")
        for i, entry in enumerate(_list(data)):
            if isinstance(entry, dict):
                self.data_entry(entry, f"data_configs[{i}]")

    def data_entry(self, entry: dict, path: str) -> None:
        """Olive's older data config forms into the flat one, then its renames."""
        name = self.registry.canonical_name("data_container", entry.get("type")) \
            if isinstance(entry.get("type"), str) else None
        schema = self.registry.get("data_container", name).cls.get_schema() if name else {}
        if "components" in entry and "components" not in property_names(schema, schema):
            olive_forms.components(self, entry, path)
        if "params_config" in entry and "params_config" not in property_names(schema, schema):
            olive_forms.params_config(self, entry, path, schema)
        for key, part in list(entry.items()):
            if key.endswith("_config") and isinstance(part, dict) and isinstance(part.get("params"), dict):
                params = part.pop("params")
                self.merge(part, params, f"{path}.{key}.params")
                for inner in params:
                    self.moved(f"{path}.{key}.{inner}", f"{path}.{key}.params.{inner}")
                self.notes.append(f"{path}.{key}.params: flattened into {path}.{key}")
        olive_forms.component_types(self, entry, path, schema)
        olive_forms.dataset_type(self, entry, path)
        olive_forms.old_text_defaults(self, entry, path, schema)
        self.component("data_container", entry, path)

    def hoist_data_config(self, cfg: dict, owner: dict, key: str, path: str, name: str) -> None:
        """Olive allows a data config inline where a name is expected: move it to data_configs."""
        entry = owner[key]
        if not isinstance(entry, dict) or "type" not in entry:
            return
        if not isinstance(cfg.setdefault("data_configs", []), list):
            return
        taken = {d.get("name") for d in cfg["data_configs"] if isinstance(d, dict)}
        name = entry.get("name") or name
        while name in taken:
            name += "_"
        entry = {"name": name, **{k: v for k, v in entry.items() if k != "name"}}
        self.moved(f"data_configs[{len(cfg['data_configs'])}]", path)
        cfg["data_configs"].append(entry)
        owner[key] = name
        self.notes.append(f"{path}: the inline data config moved to data_configs as '{name}'")
        self.data_entry(entry, f"data_configs[{len(cfg['data_configs']) - 1}]")

    def metric(self, metric: dict, path: str) -> None:
        """Canonical metric type; renames inside ``user_config``."""
        reg = self.canonical_type("metric", metric, path)
        if reg is not None and isinstance(metric.get("user_config"), dict):
            schema = reg.cls.get_schema()
            self.rename(schema, metric["user_config"], f"{path}.user_config", schema)

    def component(self, kind: str, entry: dict, path: str, lift_hf_config: bool = False) -> None:
        """Unwrap ``config``, lift Olive's hf_config, canonical type name, renames."""
        reg = self.canonical_type(kind, entry, path)
        schema = reg.cls.get_schema() if reg is not None else {}
        if isinstance(entry.get("config"), dict) and "config" not in property_names(schema, schema):
            inner = entry.pop("config")
            self.merge(entry, inner, f"{path}.config")
            for key in inner:
                self.moved(f"{path}.{key}", f"{path}.config.{key}")
            self.notes.append(f"{path}.config: flattened into {path}")
        if kind == "pass" and "disable_search" in entry:
            del entry["disable_search"]
            self.notes.append(f"{path}.disable_search: dropped; a pass is searched only where a value "
                              f"asks for it")
        if lift_hf_config and isinstance(entry.get("hf_config"), dict):
            self.lift_hf_config(entry, path)
        if reg is not None:
            olive_forms.extra_args(self, schema, entry, path, schema)
            self.rename(schema, entry, path, schema)

    def pass_data_configs(self, cfg: dict, entry: dict, path: str, step: str) -> None:
        """Hoist inline data configs of a pass's ``x-data-config`` fields."""
        name = self.registry.canonical_name("pass", entry.get("type")) if isinstance(entry.get("type"), str) else None
        if name is None:
            return
        schema = self.registry.get("pass", name).cls.get_schema()
        for key in list(entry):
            prop = prop_schema(schema, key, schema)
            if isinstance(prop, Mapping) and prop.get("x-data-config"):
                self.hoist_data_config(cfg, entry, key, f"{path}.{key}", f"{step}_{key.removesuffix('_config')}")

    def lift_hf_config(self, entry: dict, path: str) -> None:
        """Olive's ``hf_config`` keys move onto the model entry."""
        hf = entry.pop("hf_config")
        for key, value in hf.items():
            if key == "model_name":
                target = "model_name" if "model_path" in entry else "model_path"
            else:
                target = HF_CONFIG_KEYS.get(key, key)
            if target in entry and entry[target] != value:
                self.problems.append(f"{path}.hf_config.{key}: {path}.{target} is also set; keep one")
                continue
            entry[target] = value
            self.moved(f"{path}.{target}", f"{path}.hf_config.{key}")
            self.notes.append(f"{path}.hf_config.{key}: moved to {path}.{target}")

    def canonical_type(self, kind: str, entry: dict, path: str):
        """The registration of the entry's type, renaming an alias (None if unknown)."""
        given = entry.get("type")
        name = self.registry.canonical_name(kind, given) if isinstance(given, str) else None
        if name is None:
            return None
        if name != given:
            entry["type"] = name
            self.notes.append(f"{path}.type: '{given}' is now '{name}'")
        return self.registry.get(kind, name)

    def rename(self, schema: Any, value: Any, path: str, root: Mapping[str, Any]) -> None:
        """Apply ``x-renamed`` at every object level of ``schema`` to ``value``."""
        schema = deref(schema, root)
        if not isinstance(schema, Mapping):
            return
        if isinstance(value, dict) and not is_search_value(value):
            renames: dict = {}
            for part in [schema, *(deref(s, root) for s in schema.get("allOf") or [])]:
                if isinstance(part, Mapping):
                    renames.update(part.get("x-renamed") or {})
            if any(old in value for old in renames):
                self.apply_renames(renames, value, path)
            for key, sub_value in value.items():
                sub = prop_schema(schema, key, root)
                if sub is not None:
                    self.rename(sub, sub_value, join_path(path, [key]), root)
        elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
            for i, item in enumerate(value):
                self.rename(schema["items"], item, join_path(path, [i]), root)

    def apply_renames(self, renames: Mapping[str, str | None], value: dict, path: str) -> None:
        """Rename (or drop) keys of one object, keeping their order."""
        rebuilt: dict = {}
        for key, item in value.items():
            if key not in renames:
                rebuilt.setdefault(key, item)
                continue
            new = renames[key]
            where = join_path(path, [key])
            if new is None:
                self.notes.append(f"{where}: dropped (no longer used)")
            elif new in value:
                self.problems.append(f"{where}: renamed to '{new}', which is also set; keep only '{new}'")
            else:
                rebuilt[new] = item
                self.moved(join_path(path, [new]), where)
                self.notes.append(f"{where}: renamed to '{new}'")
        value.clear()
        value.update(rebuilt)

    def merge(self, target: dict, extra: Mapping[str, Any], path: str) -> None:
        """Add ``extra`` to ``target``; a key set to two different values is a problem."""
        for key, value in extra.items():
            if key in target and target[key] != value:
                self.problems.append(f"{path}.{key}: also set outside '{path.rsplit('.', 1)[-1]}'; keep one")
                continue
            target[key] = value


def _items(value: Any) -> list[tuple[str, dict]]:
    """``(name, entry)`` pairs of a mapping of dict entries (others skipped)."""
    if not isinstance(value, dict):
        return []
    return [(k, v) for k, v in value.items() if isinstance(v, dict)]


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []
