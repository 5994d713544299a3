"""JSON Schema plumbing: cached validators, references, defaults (messages: :mod:`.messages`).

Validation and default filling are two separate steps: jsonschema first
checks an instance without touching it, then :func:`fill_defaults` walks the
schema and the (valid) instance and inserts every missing ``default``. Doing
it in a second walk keeps the defaults of ``anyOf`` branches that did *not*
match out of the config.
"""
from __future__ import annotations

import copy
import json
from collections import OrderedDict
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from ..errors import UserError
from .messages import one_line

#: keys a component entry carries besides its own config
ENTRY_KEYS = ("type", "name")
MAX_VALIDATORS = 256  # validators kept (least recently used go first)


@cache
def workflow_skeleton() -> dict:
    """schemas/workflow.json: the workflow's keys, components left open.

    One shared object (validators are cached by identity): never mutate it.
    """
    text = resources.files("modelpress.schemas").joinpath("workflow.json").read_text(encoding="utf-8")
    return json.loads(text)


_validators: OrderedDict[int, tuple[Any, Draft202012Validator]] = OrderedDict()  # id(schema) -> ...


def validator_for(schema: Mapping[str, Any], owner: str = "schema", check: bool = False) -> Draft202012Validator:
    """A cached Draft 2020-12 validator.

    The schema itself is checked against the meta-schema only with ``check``
    (tests do it for every registered component): doing it on every load
    would triple the time ``modelpress validate`` takes. A broken schema that
    slips through still fails clearly in :func:`error_lines`.
    """
    hit = _validators.get(id(schema))
    if hit is not None and hit[0] is schema and not check:
        _validators.move_to_end(id(schema))
        return hit[1]
    if check:
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
            raise UserError(f"{owner}: its JSON Schema is invalid at {where}: {one_line(exc.message)}; "
                            f"fix the plugin's schema") from None
    validator = Draft202012Validator(schema)
    _validators[id(schema)] = (schema, validator)  # keep schema alive so its id stays unique
    if len(_validators) > MAX_VALIDATORS:  # one in, one out
        _validators.popitem(last=False)
    return validator


def closed(schema: Mapping[str, Any]) -> dict:
    """The component schema with unknown top-level keys forbidden.

    Unknown keys are errors in modelpress even when a schema forgot to say
    ``additionalProperties: false``; ``type`` and ``name`` are the entry's.
    """
    if any(k in schema for k in ("additionalProperties", "unevaluatedProperties", "patternProperties")):
        return schema if isinstance(schema, dict) else dict(schema)  # the same object: its validator is cached
    return {**schema, "additionalProperties": False}


# --------------------------------------------------------------- references


def deref(schema: Any, root: Mapping[str, Any]) -> Any:
    """Follow a local ``$ref`` (``#/...``), merging sibling keywords."""
    seen = 0
    while isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str) and schema["$ref"].startswith("#"):
        target: Any = root
        for part in schema["$ref"][1:].split("/")[1:] if schema["$ref"] != "#" else []:
            part = part.replace("~1", "/").replace("~0", "~")
            target = target[int(part)] if isinstance(target, list) else target.get(part, {})
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**target, **siblings}
        seen += 1
        if seen > 32:  # a cycle of bare references; nothing more to learn
            break
    return schema


def prop_schema(schema: Any, key: str, root: Mapping[str, Any]) -> Any:
    """The schema of property ``key`` of an object schema (or None)."""
    schema = deref(schema, root)
    if not isinstance(schema, Mapping):
        return None
    props = schema.get("properties") or {}
    if key in props:
        return deref(props[key], root)
    for sub in schema.get("allOf") or []:
        found = prop_schema(sub, key, root)
        if found is not None:
            return found
    extra = schema.get("additionalProperties")
    return deref(extra, root) if isinstance(extra, Mapping) else None


def property_names(schema: Any, root: Mapping[str, Any]) -> list[str]:
    """Every property an object schema names (through ``allOf`` too)."""
    schema = deref(schema, root)
    if not isinstance(schema, Mapping):
        return []
    names = list(schema.get("properties") or {})
    for sub in schema.get("allOf") or []:
        names += property_names(sub, root)
    return names


def accepts_type(schema: Any, json_type: str, root: Mapping[str, Any]) -> bool:
    """Whether ``schema`` can accept some value of ``json_type`` (loosely)."""
    schema = deref(schema, root)
    if not isinstance(schema, Mapping):
        return schema is not False
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else list(types)
        if json_type not in types and not (json_type == "integer" and "number" in types):
            return False
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return any(accepts_type(s, json_type, root) for s in schema[key])
    return all(accepts_type(s, json_type, root) for s in schema.get("allOf") or [])


# ------------------------------------------------------------------ defaults


def fill_defaults(schema: Any, instance: Any, root: Mapping[str, Any], validator: Draft202012Validator) -> None:
    """Insert the schema's ``default`` of every missing property, recursively."""
    schema = deref(schema, root)
    if not isinstance(schema, Mapping):
        return
    if isinstance(instance, dict):
        props = schema.get("properties") or {}
        for key, sub in props.items():
            sub = deref(sub, root)
            if key not in instance and isinstance(sub, Mapping) and "default" in sub:
                instance[key] = copy.deepcopy(sub["default"])
        extra = schema.get("additionalProperties")
        for key, value in instance.items():
            if key in props:
                fill_defaults(props[key], value, root, validator)
            elif isinstance(extra, Mapping):
                fill_defaults(extra, value, root, validator)
    elif isinstance(instance, list) and isinstance(schema.get("items"), Mapping):
        for value in instance:
            fill_defaults(schema["items"], value, root, validator)
    for sub in schema.get("allOf") or []:
        fill_defaults(sub, instance, root, validator)
    for key in ("anyOf", "oneOf"):
        for sub in schema.get(key) or []:
            if validator.evolve(schema=_with_defs(deref(sub, root), root)).is_valid(instance):
                fill_defaults(sub, instance, root, validator)
                break
    if "if" in schema:
        branch = "then" if validator.evolve(schema=_with_defs(schema["if"], root)).is_valid(instance) else "else"
        if branch in schema:
            fill_defaults(schema[branch], instance, root, validator)


def _with_defs(sub: Any, root: Mapping[str, Any]) -> Any:
    if isinstance(sub, Mapping) and "$defs" in root:
        return {"$defs": root["$defs"], **sub}
    return sub
