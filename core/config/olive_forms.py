"""Olive's older ways of writing a data config, and its ``extra_args`` objects.

Olive 0.5 to 0.6.1 configure a data config with ``params_config`` (keys that
Olive hands to every data component whose function takes them, plus
``component_kwargs: {load_dataset: {...}, pre_process_data: {...}, ...}``)
and ``components: {load_dataset: {"type", "params"}, ...}``; 0.6.2 to 0.12
with ``load_dataset_config: {"type", "params"}``; 0.13 with the flat
``load_dataset_config: {...}`` modelpress uses. Each function here rewrites
one older form into the flat one on the migration it is given (which keeps
the notes, the problems and where every moved key came from).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .schema import deref, prop_schema, property_names

#: Olive's data component names -> the data container key that configures them
COMPONENT_KEYS = {"load_dataset": "load_dataset_config", "pre_process_data": "pre_process_data_config",
                  "post_process_data": "post_process_data_config", "dataloader": "dataloader_config"}

#: Olive's built-in component functions: naming one only repeats the default
DEFAULT_COMPONENT_TYPES = {
    "huggingface_dataset", "huggingface_pre_process", "text_generation_huggingface_pre_process",
    "pre_process", "post_process", "text_generation_post_process", "default_dataloader",
}

#: keys Olive copies into every data config from the input model; modelpress
#: tokenizes with the model being trained, so they say nothing more
FROM_THE_MODEL = ("model_name", "task", "trust_remote_code")

#: the object in which Olive's nested configs gather keys of the library they wrap
EXTRA_ARGS = "extra_args"


def params_config(m: Any, entry: dict, path: str, schema: Mapping[str, Any]) -> None:
    """Olive 0.5-0.6.1 ``params_config`` (with ``component_kwargs``) into the ``*_config`` objects."""
    params = entry.pop("params_config")
    if not isinstance(params, dict):
        m.problems.append(f"{path}.params_config: expected an object, got {type(params).__name__}")
        return
    where = f"{path}.params_config"
    kwargs = params.pop("component_kwargs", None) or {}
    for key, value in params.items():
        if key in FROM_THE_MODEL:
            m.notes.append(f"{where}.{key}: dropped; modelpress takes it from the model being trained")
            continue
        # Olive gives a key to every component whose function takes it
        targets = [k for k in COMPONENT_KEYS.values() if takes(schema, k, key)] or ["load_dataset_config"]
        for target in targets:
            m.merge(entry.setdefault(target, {}), {key: value}, where)
            m.moved(f"{path}.{target}.{key}", f"{where}.{key}")
        m.notes.append(f"{where}.{key}: moved to " + " and ".join(f"{path}.{t}" for t in targets))
    if not isinstance(kwargs, dict):
        m.problems.append(f"{where}.component_kwargs: expected an object of components "
                          f"({', '.join(COMPONENT_KEYS)}), got {type(kwargs).__name__}")
        return
    for component, values in kwargs.items():
        component_values(m, entry, path, f"{where}.component_kwargs.{component}", component, values)


def components(m: Any, entry: dict, path: str) -> None:
    """Olive 0.5-0.6.1 ``components: {load_dataset: {"type", "params"}}`` into ``*_config``."""
    parts = entry.pop("components")
    if not isinstance(parts, dict):
        m.problems.append(f"{path}.components: expected an object of components ({', '.join(COMPONENT_KEYS)}), "
                          f"got {type(parts).__name__}")
        return
    for component, part in parts.items():
        where = f"{path}.components.{component}"
        if not isinstance(part, dict):
            m.problems.append(f"{where}: expected an object with \"type\" and \"params\"")
            continue
        values = dict(part.get("params") or {})
        if "type" in part:
            values = {"type": part["type"], **values}
        component_values(m, entry, path, where, component, values, params_level=".params")


def component_values(m: Any, entry: dict, path: str, where: str, component: str, values: Any,
                     params_level: str = "") -> None:
    """One component's keys join its ``*_config`` object."""
    target = COMPONENT_KEYS.get(component)
    if target is None:
        m.problems.append(f"{where}: Olive has no data component '{component}'; use one of "
                          f"{', '.join(COMPONENT_KEYS)}")
        return
    if not isinstance(values, dict):
        m.problems.append(f"{where}: expected an object of {component} options, got {type(values).__name__}")
        return
    m.merge(entry.setdefault(target, {}), values, where)
    for key in values:
        m.moved(f"{path}.{target}.{key}", f"{where}{'' if key == 'type' else params_level}.{key}")
    m.notes.append(f"{where}: moved into {path}.{target}")


def component_types(m: Any, entry: dict, path: str, schema: Mapping[str, Any]) -> None:
    """A ``*_config.type`` that names Olive's default function is dropped; so is what is then empty."""
    for key in COMPONENT_KEYS.values():
        part = entry.get(key)
        if not isinstance(part, dict) or "type" not in part or "type" in property_names(
                prop_schema(schema, key, schema) or {}, schema):
            continue
        if isinstance(part["type"], str) and part["type"].lower() in DEFAULT_COMPONENT_TYPES:
            del part["type"]
            m.notes.append(f"{path}.{key}.type: dropped; it names Olive's default component")
        if not part and prop_schema(schema, key, schema) is None:
            del entry[key]
            m.notes.append(f"{path}.{key}: dropped (empty once its default type is gone)")


def dataset_type(m: Any, entry: dict, path: str) -> None:
    """Olive 0.5-0.6's ``dataset_type``: ``corpus`` is what modelpress does; ``pair`` is refused,
    since dropping it would train on other tokens than Olive does."""
    part = entry.get("pre_process_data_config")
    value = part.get("dataset_type") if isinstance(part, dict) else None
    if isinstance(part, dict) and value is not None and str(value).lower() != "corpus":
        m.problems.append(f"{path}.pre_process_data_config.dataset_type: Olive's {value!r} datasets "
                          f"(source and target columns trained apart) are not supported; join them into one "
                          f"text with text_template (e.g. \"{{source}}\\n{{target}}\") and drop dataset_type")
        del part["dataset_type"]


#: Olive 0.6.1's text pre-processing keys whose default Olive 0.13 (and modelpress) changed -> what to say
OLD_TEXT_DEFAULTS = {
    "corpus_strategy": "Olive 0.6.1 meant line-by-line (one example per text); modelpress, as Olive 0.13, packs "
                       "with join: set corpus_strategy to line-by-line for 0.6.1's examples",
    "joiner": "Olive 0.6.1 put nothing between joined texts; modelpress, as Olive 0.13, puts \"\\n\\n\": set "
              "joiner to \"\" for 0.6.1's blocks",
}
#: keys only Olive's older text pre-processing wrote
OLD_TEXT_KEYS = ("corpus_strategy", "source_max_len", "dataset_type")


def old_text_defaults(m: Any, entry: dict, path: str, schema: Mapping[str, Any]) -> None:
    """An older pre-processing config that leaves out a key whose default changed since: a note each."""
    part = entry.get("pre_process_data_config")
    if not isinstance(part, dict) or not any(k in part for k in OLD_TEXT_KEYS) \
            or not takes(schema, "pre_process_data_config", "corpus_strategy"):
        return
    where = f"{path}.pre_process_data_config"
    if "corpus_strategy" not in part and "strategy" not in part:
        m.notes.append(f"{where}.corpus_strategy: not set; {OLD_TEXT_DEFAULTS['corpus_strategy']}")
    if "join" in str(part.get("corpus_strategy", part.get("strategy", "join"))) and "joiner" not in part:
        m.notes.append(f"{where}.joiner: not set; {OLD_TEXT_DEFAULTS['joiner']}")


def data_root(m: Any, cfg: dict) -> None:
    """Olive 0.5's top-level ``data_root``: relative data paths are joined to it."""
    root = cfg.pop("data_root")
    if not isinstance(root, str):
        m.problems.append("data_root: expected a folder path (a string)")
        return
    for i, entry in enumerate(cfg.get("data_configs") or []):
        load = entry.get("load_dataset_config") if isinstance(entry, dict) else None
        if not isinstance(load, dict):
            continue
        for key in ("data_dir", "data_files"):
            value = load.get(key)
            joined = _joined(root, value)
            if joined != value:
                load[key] = joined
                m.notes.append(f"data_configs[{i}].load_dataset_config.{key}: joined to data_root '{root}'")
    m.notes.append("data_root: dropped; data paths that were relative to it now include it")


def _joined(root: str, value: Any) -> Any:
    if isinstance(value, str) and value and "://" not in value and not value.startswith(("/", "~")):
        return f"{root.rstrip('/')}/{value}"
    if isinstance(value, list):
        return [_joined(root, v) for v in value]
    return value


def takes(schema: Mapping[str, Any], part: str, key: str) -> bool:
    """Whether the container's ``part`` object accepts ``key`` (under its name or an old one)."""
    sub = deref(prop_schema(schema, part, schema), schema)
    if not isinstance(sub, Mapping):
        return False
    return key in property_names(sub, schema) or key in (sub.get("x-renamed") or {})


def extra_args(m: Any, schema: Any, value: Any, path: str, root: Mapping[str, Any]) -> None:
    """Olive's ``extra_args`` object (training_args, load kwargs) is flattened into its parent."""
    schema = deref(schema, root)
    if not isinstance(value, dict) or not isinstance(schema, Mapping):
        return
    inner = value.get(EXTRA_ARGS)
    if isinstance(inner, dict) and EXTRA_ARGS not in property_names(schema, root) and schema.get(
            "additionalProperties", True) is not False:
        del value[EXTRA_ARGS]
        m.merge(value, inner, f"{path}.{EXTRA_ARGS}")
        for key in inner:
            m.moved(f"{path}.{key}", f"{path}.{EXTRA_ARGS}.{key}")
        m.notes.append(f"{path}.{EXTRA_ARGS}: flattened into {path}")
    for key, sub_value in value.items():
        sub = prop_schema(schema, key, root)
        if sub is not None and isinstance(sub_value, dict):
            extra_args(m, sub, sub_value, f"{path}.{key}", root)
