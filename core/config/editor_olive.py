"""The Olive forms in the editor schema, derived from the migration's own tables.

:func:`olive_forms` widens the canonical workflow schema (:mod:`.editor`) so
that every form the migration (:mod:`.migrate`) rewrites is accepted where the
migration accepts it, and nothing else: each rule below reads the table or the
schema annotation the migration itself reads.

- ``x-renamed`` (every object level): the old key, with the new key's schema
  (``null``: any value, the migration drops it);
- ``{"type", "config": {...}}`` wrappers of models, systems, passes and data
  configs; a model's ``hf_config`` (``HF_CONFIG_KEYS``); a pass's
  ``disable_search``;
- data configs: ``*_config.params``, a default ``*_config.type``
  (``DEFAULT_COMPONENT_TYPES``), ``components`` and ``params_config``
  (``COMPONENT_KEYS``, ``FROM_THE_MODEL``), ``data_root``, a mapping of
  ``data_configs``, an inline data config where a name is expected;
- the workflow: ``engine`` (the top-level keys and ``DROPPED_KEYS``), inline
  ``host``/``target`` systems and ``evaluator``, ``search_algorithm`` and
  ``search_algorithm_config`` (``SEARCH_CONFIG_KEYS``).

Keys the migration refuses (``UNSUPPORTED_KEYS``, unknown keys) stay errors;
a required key may be written under an old name or inside a wrapper.
"""
from __future__ import annotations

import copy
from typing import Any

from .migrate import HF_CONFIG_KEYS
from .olive_forms import COMPONENT_KEYS, DEFAULT_COMPONENT_TYPES, FROM_THE_MODEL
from .olive_workflow import DROPPED_KEYS, SEARCH_CONFIG_KEYS

INLINE_DATA = {"$ref": "#/$defs/olive.inline_data_config"}
SYSTEM = {"$ref": "#/$defs/olive.system"}


def olive_forms(canonical: dict) -> dict:
    """The canonical workflow schema, widened to every Olive form the migration rewrites."""
    schema = copy.deepcopy(canonical)
    defs = schema["$defs"]
    _renames(schema)
    for key, entry in list(defs.items()):
        kind = key.split(".", 1)[0] if "." in key else ""
        if kind == "pass":
            _pass(entry)
        if kind == "model_type":
            _hf_config(entry, f"#/$defs/{_pointer(key)}")
        if kind == "data_container" and "name" in entry.get("required", []):
            entry["required"] = [k for k in entry["required"] if k != "name"]  # a mapping key names it
        if kind and "type" in entry.get("required", []):  # an entry named by "type": Olive's config wrapper
            # a data config's older forms are rewritten before its config is unwrapped: not inside it
            inner = _object_of(entry, f"#/$defs/{_pointer(key)}", drop=("type", "name"),
                               now=kind == "data_container")
            entry["properties"]["config"] = {"description": "Olive's wrapper of the entry's keys.", **inner}
            escapes = ["config", "hf_config"] if kind == "model_type" else ["config"]
            if kind == "data_container":
                escapes += _data_container(entry, f"#/$defs/{_pointer(key)}")
            _relax_required(entry, escapes, keep=("type",))
        if kind == "search_strategy" or key == "search_strategy":
            _search_keys(entry, f"#/$defs/{_pointer(key)}")
    for item in list(defs["search_strategy"].get("allOf") or []):
        cond = item.get("if", {}).get("properties", {})
        if "sampler" in cond:
            defs["search_strategy"]["allOf"].append(
                {**item, "if": {"properties": {"search_algorithm": cond["sampler"]}, "required": ["search_algorithm"]}})
    defs["olive.inline_data_config"] = {**copy.deepcopy(defs["data_config"]), "required": ["type"],
                                        "description": "A data config written where its name is expected."}
    defs["olive.system"] = copy.deepcopy(schema["properties"]["systems"]["additionalProperties"])
    _metric_data(defs["metric"])
    _workflow(schema)
    return schema


def _workflow(schema: dict) -> None:
    """Workflow keys: engine, Olive's dropped keys, inline systems/evaluator, data_root, data_configs."""
    props = schema["properties"]
    for key, why in DROPPED_KEYS.items():
        props[key] = {"description": f"Olive's {key}: dropped; {why}."}
    props["data_root"] = {"description": "Olive 0.5's folder of relative data paths (joined to them).",
                          "type": "string"}
    for key in ("host", "target"):
        props[key] = {**_without(props[key], "type"), "anyOf": [{"type": props[key]["type"]}, SYSTEM]}
    props["evaluator"] = {**_without(props["evaluator"], "type"),
                          "anyOf": [{"type": props["evaluator"]["type"]}, {"$ref": "#/$defs/evaluator"}]}
    listed = props["data_configs"]
    props["data_configs"] = {"description": listed.get("description", ""), "anyOf": [
        _without(listed, "description"), {"type": "object", "additionalProperties": INLINE_DATA}]}
    engine = {k: {"$ref": f"#/properties/{_pointer(k)}"} for k in props if k != "$schema"}
    props["engine"] = {"description": "Olive's engine block: its keys are top-level keys.", "type": "object",
                       "additionalProperties": False, "properties": engine}


def _renames(node: Any) -> None:
    """Every object schema with ``x-renamed`` also takes the old keys."""
    if isinstance(node, list):
        for item in node:
            _renames(item)
        return
    if not isinstance(node, dict):
        return
    for value in node.values():
        _renames(value)
    renamed = node.get("x-renamed")
    props = node.get("properties")
    if isinstance(renamed, dict) and isinstance(props, dict):
        for old, new in renamed.items():
            if old not in props:
                props[old] = (copy.deepcopy(props[new]) if new in props else {}) if new is not None else \
                    {"description": f"Olive's {old}: dropped (no longer used)."}
        both = [{"not": {"required": [old, new]}} for old, new in renamed.items() if new is not None]
        if both:  # the old and the new name together: the migration refuses it
            node.setdefault("allOf", []).extend(both)
        required = node.get("required", [])
        if "type" not in required and any(k in renamed.values() for k in required):  # entries: olive_forms
            _relax_required(node, [], keep=())


def _relax_required(node: dict, escapes: list[str], keep: tuple[str, ...]) -> None:
    """``required`` keys may be written under an old name, or inside one of ``escapes``."""
    required = node.get("required")
    if not required:
        return
    olds: dict[str, list[str]] = {}
    for old, new in (node.get("x-renamed") or {}).items():
        if new is not None:
            olds.setdefault(new, []).append(old)
    node["required"] = [k for k in required if k in keep]
    rest = [k for k in required if k not in keep]
    if not rest:
        return
    rule: dict = {"allOf": [{"anyOf": [{"required": [name]} for name in (k, *olds.get(k, []))]}
                            if k in olds else {"required": [k]} for k in rest]}
    if escapes:
        rule = {"anyOf": [*({"required": [e]} for e in escapes), rule]}
    node.setdefault("allOf", []).append(rule)


def _object_of(entry: dict, base: str, drop: tuple[str, ...] = (), now: bool = False) -> dict:
    """An object schema with the properties (less ``drop``) of ``entry`` at the pointer ``base``, nothing
    required; each property is a ``$ref`` to the entry's own (``now``: a copy of it as it is now)."""
    props = {k: copy.deepcopy(v) if now else {"$ref": f"{base}/properties/{_pointer(k)}"}
             for k, v in entry.get("properties", {}).items() if k not in drop}
    return {"type": "object", "additionalProperties": entry.get("additionalProperties", True), "properties": props}


def _pass(entry: dict) -> None:
    """A pass's ``disable_search`` (dropped) and inline data configs of its ``x-data-config`` fields."""
    props = entry["properties"]
    props.setdefault("disable_search", {"description": "Olive's disable_search: dropped; a pass is searched "
                                                       "only where a value asks for it."})
    for key, prop in props.items():
        if _annotated(prop, "x-data-config"):
            props[key] = {"anyOf": [prop, INLINE_DATA]}


def _hf_config(entry: dict, base: str) -> None:
    """Olive's ``hf_config`` of a model: its keys move onto the entry (``model_name`` may be the path)."""
    props = entry["properties"]
    hf = _object_of(entry, base, drop=("type",))
    for old, new in HF_CONFIG_KEYS.items():
        if new in props:
            hf["properties"][old] = {"$ref": f"{base}/properties/{_pointer(new)}"}
    if "model_path" in props:
        hf["properties"]["model_name"] = {"$ref": f"{base}/properties/model_path"}
    props["hf_config"] = {"description": "Olive's hf_config: its keys move onto the model entry.", **hf}


def _data_container(entry: dict, base: str) -> list[str]:
    """Olive's older data config forms; returns the keys that may stand in the required ones."""
    props = entry["properties"]
    parts = {c: k for c, k in COMPONENT_KEYS.items() if isinstance(props.get(k), dict)}
    part_rules = {}
    for key in parts.values():
        part = props[key]
        if part.get("required"):  # checked by the entry: the keys may come from params_config
            rule = {"required": part.pop("required"), "x-renamed": part.get("x-renamed")}
            _relax_required(rule, ["params"], keep=())
            part_rules[key] = {"allOf": rule["allOf"]}
        inner = _object_of(part, f"{base}/properties/{_pointer(key)}")
        part["properties"]["params"] = {"description": "Olive 0.6.2-0.12's wrapper of these keys.", **inner}
        if "type" not in part["properties"]:
            part["properties"]["type"] = DEFAULT_TYPE
    for key in (k for k in COMPONENT_KEYS.values() if k not in props):  # Olive's default, nothing more
        props[key] = {"description": "Olive's default component (dropped).", "type": "object",
                      "additionalProperties": False, "properties": {"type": DEFAULT_TYPE}}
    plain = {k: _object_of(props[k], f"{base}/properties/{_pointer(k)}", drop=("params", "type"))
             for k in parts.values()}
    merged: dict = {}
    for part in plain.values():
        for k, v in part["properties"].items():
            merged.setdefault(k, v)
    merged.update({k: {"description": f"Olive's {k}: dropped; modelpress takes it from the model."}
                   for k in FROM_THE_MODEL})
    merged["component_kwargs"] = {"type": "object", "additionalProperties": False,
                                  "properties": {c: plain[k] for c, k in parts.items()}}
    props["params_config"] = {"description": "Olive 0.5-0.6.1's keys of every data component.", "type": "object",
                              "additionalProperties": False, "properties": merged}
    props["components"] = {
        "description": "Olive 0.5-0.6.1's data components.", "type": "object", "additionalProperties": False,
        "properties": {c: {"type": "object", "additionalProperties": False,
                           "properties": {"type": {"type": "string"}, "params": plain[k]}}
                       for c, k in parts.items()}}
    if part_rules:  # a part's required keys may come from params_config or components
        entry.setdefault("allOf", []).append({"anyOf": [
            {"required": ["params_config"]}, {"required": ["components"]}, {"required": ["config"]},
            {"properties": part_rules}]})
    return ["params_config", "components"]


def _any_case(words: list[str]) -> str:
    """A pattern that matches any of ``words`` in any letter case (ECMA regexes have no flags)."""
    def one(word: str) -> str:
        return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else ("\\" + c if not c.isalnum() and c != "_"
                                                                            else c) for c in word)
    return "^(" + "|".join(one(w) for w in words) + ")$"


#: a ``*_config.type`` naming Olive's default function, in any letter case (the migration drops it)
DEFAULT_TYPE = {"description": "Olive's default component (dropped).", "type": "string",
                "pattern": _any_case(sorted(DEFAULT_COMPONENT_TYPES))}


def _search_keys(strategy: dict, base: str) -> None:
    """Olive's ``search_algorithm`` and ``search_algorithm_config`` of a search strategy."""
    props = strategy.get("properties", {})
    if "sampler" in props:
        props["search_algorithm"] = {**copy.deepcopy(props["sampler"]), "description": "Olive's name of sampler."}
    config = _object_of(strategy, base, drop=("sampler", "search_algorithm"))
    for old, new in SEARCH_CONFIG_KEYS.items():
        if new in config["properties"]:
            config["properties"][old] = config["properties"].pop(new)
    props["search_algorithm_config"] = {"description": "Olive's sampler options (flattened).", **config}


def _metric_data(metric: dict) -> None:
    """A metric's data config may be written inline."""
    props = metric.get("properties", {})
    for key, prop in list(props.items()):
        if _annotated(prop, "x-data-config"):
            props[key] = {"anyOf": [prop, INLINE_DATA]}


def _annotated(prop: Any, mark: str) -> bool:
    """Whether a property schema (or one of its ``anyOf``) carries ``mark``."""
    if not isinstance(prop, dict):
        return False
    return bool(prop.get(mark)) or any(_annotated(p, mark) for p in prop.get("anyOf") or [])


def _pointer(key: str) -> str:
    """``key`` as one JSON Pointer token."""
    return key.replace("~", "~0").replace("/", "~1")


def _without(schema: dict, key: str) -> dict:
    return {k: v for k, v in schema.items() if k != key}
