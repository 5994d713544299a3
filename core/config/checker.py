"""Checking one component entry against its registered schema.

A :class:`Checker` validates an entry (``{"type": ..., **config}``), fills
its defaults, resolves its ``x-path`` fields against the config folder,
checks its ``x-data-config`` references and the resource objects given where
a path is expected. Problems accumulate in ``problems`` (one line each).
"""
from __future__ import annotations

import glob
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..components import KINDS
from ..errors import ConfigError, did_you_mean
from .component_schemas import component_schema_of
from .dotted import put_specs
from .messages import error_lines, join_path, shown
from .partial import valid_part
from .schema import closed, deref, fill_defaults, prop_schema, property_names, validator_for
from .search_values import extract, is_search_value

GLOB_CHARS = "*?["
#: endings of files a config names; a path with one is a local file, never a hub name
LOCAL_SUFFIXES = {".json", ".jsonl", ".csv", ".tsv", ".parquet", ".txt", ".arrow", ".gguf", ".safetensors",
                  ".bin", ".pt", ".onnx", ".yaml", ".yml", ".zip", ".gz"}


@dataclass
class Checker:
    """Checks component entries of one workflow."""

    registry: Any
    base_dir: Path
    problems: list[str] = field(default_factory=list)
    #: names of the workflow's data configs (None: not known, references unchecked)
    data_names: list[str] | None = None

    def entry(self, kind: str, entry: Mapping[str, Any], path: str, head: tuple[str, ...] = ("type",),
              search: bool = False) -> tuple[dict | None, dict]:
        """``(checked entry or None, {field: search spec})`` of one component."""
        try:
            reg = self.registry.get(kind, entry.get("type"), f"{path}.type")
        except ConfigError as exc:
            self.problems.extend(exc.problems)
            return None, {}
        schema = component_schema_of(reg.cls)
        validator = validator_for(schema, f"{KINDS[kind].word} {reg.name} (plugin '{reg.plugin}')")
        body = {k: v for k, v in entry.items() if k not in head}
        specs: dict = {}
        if search:
            body, specs, problems = extract(body, schema, validator, path)
            self.problems.extend(problems)
        lines = error_lines(validator, body, path, self._unknown_key_hook(kind, reg.name, schema, reg.plugin))
        if lines:
            self.problems.extend(lines)
            # references and files are still checked on what is valid
            self.walk(schema, valid_part(validator, body), path, schema)
            return None, specs
        fill_defaults(schema, body, schema, validator)
        self.walk(schema, body, path, schema)
        # a component's own checks of what its config names (files, templates): passes have check_config
        own_checks = getattr(reg.cls, "check_inputs", None) if kind != "pass" else None
        if own_checks is not None:
            self.problems.extend(f"{path}.{line}" for line in own_checks(body))
        put_specs(body, specs)  # at dotted paths too: training_args.learning_rate
        out = {k: entry[k] for k in head if k in entry}
        out["type"] = reg.name
        out.update(body)
        return out, specs

    def config(self, schema: Mapping[str, Any], body: dict, path: str, owner: str) -> bool:
        """Validate a bare config (no entry keys) against ``schema``; fill defaults."""
        schema = closed(schema)
        validator = validator_for(schema, owner)
        lines = error_lines(validator, body, path, self._unknown_key_hook(None, owner, schema))
        if lines:
            self.problems.extend(lines)
            return False
        fill_defaults(schema, body, schema, validator)
        self.walk(schema, body, path, schema)
        return True

    # -- messages ------------------------------------------------------------

    def _unknown_key_hook(self, kind: str | None, name: str, top: Mapping[str, Any], plugin: str | None = None):
        def message(where: str, key: str, schema: Mapping[str, Any]) -> str:
            if kind is not None and schema is top:
                found = [r for r in self.registry.all(kind)
                         if r.name != name and key in property_names(r.cls.get_schema(), r.cls.get_schema())]
                # a sibling from the same plugin is the likely meaning (LoRA -> QLoRA)
                siblings = [r for r in found if r.plugin == plugin]
                owners = [r.name for r in (siblings or found)]
                if owners:
                    target = (f'set "type": "{owners[0]}"' if len(owners) == 1
                              else f'set "type" to one of {", ".join(owners)}')
                    return f"{name} has no option '{key}'; it belongs to {' and '.join(owners)}: {target}"
            known = list(schema.get("properties") or {})
            hint = did_you_mean(key, known + [k for k, v in (schema.get("x-renamed") or {}).items() if v])
            if not hint:
                hint = f"; valid keys: {', '.join(known)}" if known else "; this object takes no keys"
            return f"unknown key '{key}'{hint}"

        return message

    # -- paths, data references, resources -----------------------------------

    def walk(self, schema: Any, value: Any, path: str, root: Mapping[str, Any]) -> None:
        """Resolve ``x-path`` fields and check ``x-data-config`` names, recursively."""
        schema = deref(schema, root)
        if not isinstance(schema, Mapping):
            return
        if isinstance(value, dict) and not is_search_value(value):
            for key, item in list(value.items()):
                sub = prop_schema(schema, key, root)
                if not isinstance(sub, Mapping):
                    continue
                where = join_path(path, [key])
                if sub.get("x-path"):
                    # the data files of a hub dataset ("org/name") are files of that dataset
                    mode = sub["x-path"] if not _hub_dataset(value) else "hub"
                    # a file may also be named inside the object's model folder (a GGUF file)
                    folder = value.get("model_path") if key != "model_path" else None
                    value[key] = self.path_value(item, where, mode, folder if isinstance(folder, str) else None)
                elif sub.get("x-data-config"):
                    self.data_ref(item, where)
                else:
                    self.walk(sub, item, where, root)
        elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
            for i, item in enumerate(value):
                self.walk(schema["items"], item, join_path(path, [i]), root)

    def data_ref(self, value: Any, where: str) -> None:
        """A string (or list of strings) naming data configs."""
        if self.data_names is None or value is None or is_search_value(value):
            return
        for i, name in enumerate(value if isinstance(value, list) else [value]):
            if isinstance(name, str) and name not in self.data_names:
                at = join_path(where, [i]) if isinstance(value, list) else where
                have = (f"data_configs has {', '.join(self.data_names)}" if self.data_names
                        else "data_configs is empty")
                self.problems.append(f"{at}: no data config named '{name}'"
                                     f"{did_you_mean(name, self.data_names)} ({have})")

    def path_value(self, value: Any, where: str, mode: Any, also_in: str | None = None) -> Any:
        """Resolve the strings of a path field; check resource objects."""
        if isinstance(value, str):
            return self.resolve(value, where, mode, also_in)
        if isinstance(value, list):
            return [self.path_value(v, join_path(where, [i]), mode) for i, v in enumerate(value)]
        if isinstance(value, dict) and "type" in value and not is_search_value(value):
            self.resource(value, where)
            return value
        if isinstance(value, dict) and not is_search_value(value):  # e.g. {split: files}
            return {k: self.path_value(v, join_path(where, [k]), mode) for k, v in value.items()}
        return value

    def resolve(self, value: str, where: str, mode: Any, also_in: str | None = None) -> str:
        """Resolve against the config folder when the path exists there (or is
        explicitly relative). ``"x-path": "input"`` requires it to exist; so
        does ``true`` when the value can only be a local path (see
        :func:`looks_local`), not a hub name. ``also_in``: a folder where a
        relative path may be found instead (a file inside the model folder)."""
        if "://" in value or not value:
            return value
        candidate = os.path.normpath(self.base_dir / os.path.expanduser(value))
        explicit = value.startswith(("./", "../", ".\\", "..\\")) or value in (".", "..")
        exists = bool(glob.glob(candidate)) if any(c in value for c in GLOB_CHARS) else os.path.exists(candidate)
        if not exists and also_in and os.path.exists(os.path.join(self.base_dir, also_in, value)):
            return value
        if not exists and (mode == "input" or (mode is True and looks_local(value))):
            self.problems.append(f"{where}: no such file or folder {shown(value)} "
                                 f"(looked in {self.base_dir}); fix the path")
        return candidate if exists or explicit or os.path.isabs(value) or mode == "output" else value

    def resource(self, value: dict, where: str) -> None:
        """A remote path ``{"type": <resource type>, "config": {...}}``: checked, kept as is."""
        try:
            reg = self.registry.get("resource", value.get("type"), f"{where}.type")
        except ConfigError as exc:
            self.problems.extend(exc.problems)
            return
        extra = [k for k in value if k not in ("type", "config")]
        if extra:
            self.problems.append(f"{where}.{extra[0]}: unknown key '{extra[0]}'; a resource has only "
                                 f"'type' and 'config'")
        config = value.get("config", {})
        if not isinstance(config, dict):
            self.problems.append(f"{where}.config: expected an object, got {shown(config)}")
            return
        self.config(component_schema_of(reg.cls), config, f"{where}.config",
                    f"resource {reg.name} (plugin '{reg.plugin}')")


def looks_local(value: str) -> bool:
    """Whether a path can only mean a local file or folder (not a hub name like
    ``org/model``): explicitly relative or absolute, two or more folders deep,
    a glob, or ending like a file (``.json``, ``.gguf``, ...)."""
    if value.startswith(("./", "../", ".\\", "..\\", "~")) or os.path.isabs(value):
        return True
    if any(c in value for c in GLOB_CHARS) or value.replace("\\", "/").count("/") >= 2:
        return True
    return Path(value).suffix.lower() in LOCAL_SUFFIXES


def _hub_dataset(owner: Mapping[str, Any]) -> bool:
    """Whether an object loads a hub dataset (``data_name: "org/name"`` that is no local path)."""
    name = owner.get("data_name") if isinstance(owner, Mapping) else None
    return isinstance(name, str) and name.count("/") == 1 and not looks_local(name)
