"""Whole-workflow and per-component JSON Schemas for editors (``modelpress schema``).

The workflow schema embeds every registered component's schema under
``$defs`` (``"pass.LoRA"``, ...) and picks one by the entry's ``type`` with
``if``/``then``, so an editor completes and checks every key of a canonical
config. Pass fields also accept search values.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from ..components import KINDS
from ..errors import ConfigError, did_you_mean
from .component_schemas import component_schema_of
from .editor_olive import olive_forms
from .schema import workflow_skeleton

DRAFT = "https://json-schema.org/draft/2020-12/schema"
#: the ``$id`` of the workflow schema (``modelpress schema``, and the file the package ships)
WORKFLOW_ID = "urn:modelpress:schema:workflow"
#: the workflow schema of the built-in plugins, shipped in ``modelpress.schemas`` (docgen writes it)
SHIPPED = "modelpress.schema.json"
SEARCH_VALUE = {
    "description": "A search value: candidates, {\"search\": ...} or \"SEARCHABLE_VALUES\".",
    "anyOf": [
        {"const": "SEARCHABLE_VALUES"},
        {"type": "array", "minItems": 1},
        {"type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
         "properties": {"search": {}, "$search": {}}},
    ],
}


def component_schema(registry: Any, kind: str | None, name: str) -> dict:
    """The JSON Schema of one component's entry (``type`` included).

    ``kind`` may be None: the name is then looked up in every kind.
    """
    if kind is None:
        found = [k for k in KINDS if registry.canonical_name(k, name)]
        if not found:
            known = [n for k in KINDS for n in registry.names(k)]
            raise ConfigError(f"{name}: no registered component of that name{did_you_mean(name, known)}; "
                              f"'modelpress plugins' lists them")
        if len(found) > 1:
            raise ConfigError(f"{name}: names a {' and a '.join(KINDS[k].word for k in found)}; "
                              f"say which kind")
        kind = found[0]
    reg = registry.get(kind, name, "schema")
    out = _entry_schema(kind, reg, registry, "#")
    return {"$schema": DRAFT, **out}


def workflow_schema(registry: Any, olive: bool = True) -> dict:
    """One JSON Schema of the whole workflow, components included.

    With ``olive`` (the default: ``modelpress schema`` and the shipped file) it
    also accepts every Olive form that ``modelpress migrate`` rewrites
    (:func:`.editor_olive.olive_forms`); without, only the canonical form.
    """
    schema = copy.deepcopy(workflow_skeleton())
    defs = schema["$defs"]
    for kind in (k for k in KINDS if k != "resource"):  # resources stand in paths, not entries
        for reg in registry.all(kind):
            key = f"{kind}.{reg.name}"
            defs[key] = _entry_schema(kind, reg, registry, f"#/$defs/{_escape(key)}")
    props = schema["properties"]
    props["input_model"] = {**_pick(registry, "model_type"), "description": props["input_model"]["description"]}
    props["systems"]["additionalProperties"] = _pick(registry, "system")
    defs["data_config"] = {**defs["data_config"], **_pick(registry, "data_container", defs["data_config"])}
    defs["pass_entry"] = _pick(registry, "pass")
    props["passes"]["additionalProperties"] = {"anyOf": [
        {"$ref": "#/$defs/pass_entry"},
        {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/pass_entry"}}]}
    metric = defs["metric"]
    metric["properties"]["type"] = {**metric["properties"]["type"], "enum": _names(registry, "metric")}
    metric["allOf"] = [{"if": {"properties": {"type": {"const": n}}, "required": ["type"]},
                        "then": {"properties": {"user_config": {"$ref": f"#/$defs/metric.{_escape(c)}"}}}}
                       for n, c in _all_names(registry, "metric")]
    strategy = defs["search_strategy"]
    strategy["properties"]["sampler"] = {**strategy["properties"]["sampler"],
                                         "enum": _names(registry, "search_strategy")}
    strategy["allOf"] = [{"if": {"properties": {"sampler": {"const": n}}},
                          "then": {"$ref": f"#/$defs/search_strategy.{_escape(c)}"}}
                         for n, c in _all_names(registry, "search_strategy")]
    defs["search_value"] = SEARCH_VALUE
    schema = {"$schema": schema.pop("$schema", DRAFT), "$id": WORKFLOW_ID, **schema}
    return olive_forms(schema) if olive else schema


def write_shipped_schema(folder: Path, registry: Any) -> Path:
    """Write ``folder/modelpress.schema.json``: the workflow schema of ``registry``'s components."""
    path = Path(folder) / SHIPPED
    path.write_text(json.dumps(workflow_schema(registry), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _entry_schema(kind: str, reg: Any, registry: Any, base: str) -> dict:
    """A component schema as it appears in a config entry."""
    own = _rebase(copy.deepcopy(component_schema_of(reg.cls)), base)
    own.pop("$schema", None)
    if base == "#":  # in the workflow schema it tells the Olive forms the old names (.editor_olive)
        own.pop("x-renamed", None)
    props = dict(own.get("properties") or {})
    if kind == "pass":  # every field may hold a search value
        props = {k: {"anyOf": [v, {"$ref": "#/$defs/search_value"}]} if base != "#" else v
                 for k, v in props.items()}
    if kind in ("metric", "search_strategy"):  # user_config / sampler keys: no entry keys
        if kind == "search_strategy":
            common = workflow_skeleton()["$defs"]["search_strategy"]["properties"]
            props = {**copy.deepcopy(common), **props}
        return {**own, "title": reg.name, "properties": props}
    head: dict[str, dict] = {"type": {"description": f"The {KINDS[kind].word} type.",
                                      "enum": [reg.name, *reg.cls.aliases]}}
    if kind == "data_container":
        head = {"name": {"type": "string", "minLength": 1}, **head}
    required = [*head, *(own.get("required") or [])]
    return {**own, "title": reg.name, "properties": {**head, **props}, "required": required}


def _pick(registry: Any, kind: str, base: dict | None = None) -> dict:
    """An entry schema that applies the schema of the entry's ``type``."""
    base = base or {"type": "object", "required": ["type"]}
    return {
        **base,
        "properties": {**base.get("properties", {}),
                       "type": {"description": f"The {KINDS[kind].word} type.", "enum": _names(registry, kind)}},
        "allOf": [{"if": {"properties": {"type": {"const": n}}, "required": ["type"]},
                   "then": {"$ref": f"#/$defs/{kind}.{_escape(c)}"}} for n, c in _all_names(registry, kind)],
    }


def _all_names(registry: Any, kind: str) -> list[tuple[str, str]]:
    """``(name or alias, canonical name)`` of every component of ``kind``."""
    return [(n, r.name) for r in registry.all(kind) for n in (r.name, *r.cls.aliases)]


def _names(registry: Any, kind: str) -> list[str]:
    return [n for n, _ in _all_names(registry, kind)]


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def _rebase(schema: Any, base: str) -> Any:
    """Point a component's local ``$ref`` s at its place inside the workflow schema."""
    if base == "#":
        return schema
    if isinstance(schema, dict):
        return {k: (base + v[1:] if k == "$ref" and isinstance(v, str) and v.startswith("#") else _rebase(v, base))
                for k, v in schema.items()}
    if isinstance(schema, list):
        return [_rebase(v, base) for v in schema]
    return schema
