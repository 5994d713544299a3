"""Reading a config file (JSON or YAML) and the one-call ``load``.

Syntax errors become one line ``<file>:<line>:<col>: <what>``; duplicate keys
are errors too (both parsers would silently keep the last one).
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError

YAML_SUFFIXES = (".yaml", ".yml")


def load_raw(path: str | Path) -> dict:
    """The config file as a dict: JSON for ``.json``, YAML otherwise."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such config file")
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, not a config file; give the .json or .yaml file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a text file ({exc.reason} at byte {exc.start}); "
                          f"give a JSON or YAML config") from None
    data = _parse_json(text, path) if path.suffix.lower() == ".json" else _parse_yaml(text, path)
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise ConfigError(f"{path}: the config is {kind}; it must be a mapping of keys "
                          f"(input_model, passes, ...)")
    return data


def _parse_json(text: str, path: Path) -> Any:
    def no_duplicates(pairs):
        out = {}
        for key, value in pairs:
            if key in out:
                raise ConfigError(f"{path}: duplicate key '{key}'; keep only one")
            out[key] = value
        return out

    try:
        return json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None


def _parse_yaml(text: str, path: Path) -> Any:
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[misc, valid-type]
        """A safe loader that refuses duplicate keys."""

    def mapping(loader, node, deep=False):
        loader.flatten_mapping(node)
        out = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in out:
                mark = key_node.start_mark
                raise ConfigError(f"{path}:{mark.line + 1}:{mark.column + 1}: duplicate key '{key}'; "
                                  f"keep only one")
            out[key] = loader.construct_object(value_node, deep=deep)
        return out

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    try:
        return yaml.load(text, Loader=Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        what = " ".join(filter(None, [exc.context, exc.problem]))
        raise ConfigError(f"{where}: invalid YAML: {' '.join(what.split())}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {' '.join(str(exc).split())}") from None


def load(path_or_dict: str | Path | Mapping[str, Any], registry: Any = None,
         base_dir: str | Path | None = None):
    """Read (if a path), migrate and validate a config; returns a :class:`Workflow`.

    Relative paths resolve against the config file's folder (``base_dir``
    overrides it; for a dict the default is the current folder).
    """
    from ..registry import get_registry

    registry = registry or get_registry()
    if isinstance(path_or_dict, Mapping):
        raw, source = dict(path_or_dict), None
        folder = Path(base_dir) if base_dir is not None else Path.cwd()
    else:
        source = Path(path_or_dict)
        raw = load_raw(source)
        folder = Path(base_dir) if base_dir is not None else source.parent
    _, workflow, notes, problems = check(raw, registry, folder.resolve(), source)
    if problems:
        raise ConfigError(problems)
    workflow.notes = notes
    return workflow


def check(raw: Mapping[str, Any], registry: Any, base_dir: Path, source: Path | None = None):
    """``(canonical config, workflow or None, notes, problems)`` in one pass.

    The migration's problems and validation's are reported together, each
    naming the key as the user wrote it; the workflow is None when there are
    problems. ``modelpress migrate`` prints the canonical config either way.
    """
    from .migrate import migrate_all
    from .validate import validate

    canonical, notes, migration_problems, origins = migrate_all(raw, registry)
    problems = [origins.as_written(line, say_canonical=False) for line in migration_problems]
    try:
        workflow = validate(canonical, registry, base_dir, source)
        workflow.config_notes = [origins.as_written(line) for line in workflow.config_notes]
    except ConfigError as exc:
        problems += [origins.as_written(line) for line in exc.problems]
        workflow = None
    return canonical, (None if problems else workflow), notes, list(dict.fromkeys(problems))
