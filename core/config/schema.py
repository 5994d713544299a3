"""JSON Schema plumbing: cached validators, one-line error messages, defaults.

Validation and default filling are two separate steps: jsonschema first
checks an instance without touching it, then :func:`fill_defaults` walks the
schema and the (valid) instance and inserts every missing ``default``. Doing
it in a second walk keeps the defaults of ``anyOf`` branches that did *not*
match out of the config.
"""
from __future__ import annotations

import copy
import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any, Callable, Iterable, Mapping

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, UnknownType, ValidationError
from referencing.exceptions import Unresolvable

from ..errors import UserError

#: keys a component entry carries besides its own config
ENTRY_KEYS = ("type", "name")
MAX_SHOWN = 60  # characters of a value quoted in a message


@lru_cache(maxsize=None)
def workflow_skeleton() -> dict:
    """schemas/workflow.json: the workflow's keys, components left open.

    One shared object (validators are cached by identity): never mutate it.
    """
    text = resources.files("modelpress.schemas").joinpath("workflow.json").read_text(encoding="utf-8")
    return json.loads(text)


_validators: dict[int, tuple[Any, Draft202012Validator]] = {}


def validator_for(schema: Mapping[str, Any], owner: str = "schema", check: bool = False) -> Draft202012Validator:
    """A cached Draft 2020-12 validator.

    The schema itself is checked against the meta-schema only with ``check``
    (tests do it for every registered component): doing it on every load
    would triple the time ``modelpress validate`` takes. A broken schema that
    slips through still fails clearly in :func:`error_lines`.
    """
    hit = _validators.get(id(schema))
    if hit is not None and hit[0] is schema and not check:
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
    return validator


def closed(schema: Mapping[str, Any]) -> dict:
    """The component schema with unknown top-level keys forbidden.

    Unknown keys are errors in modelpress even when a schema forgot to say
    ``additionalProperties: false``; ``type`` and ``name`` are the entry's.
    """
    out = dict(schema)
    if not any(k in out for k in ("additionalProperties", "unevaluatedProperties", "patternProperties")):
        out["additionalProperties"] = False
    return out


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


# -------------------------------------------------------------------- errors


def one_line(text: str, limit: int = 300) -> str:
    """Squash a message onto one line of at most ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shown(value: Any) -> str:
    """A short JSON rendering of a value for messages."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def join_path(prefix: str, parts: Iterable[Any]) -> str:
    """``passes.lora`` + ``["training_args", 0]`` -> ``passes.lora.training_args[0]``."""
    out = prefix
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out


TYPE_WORDS = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
              "object": "an object", "array": "a list", "null": "null"}

UnknownKeyHook = Callable[[str, str, Mapping[str, Any]], str]


def error_lines(validator: Draft202012Validator, instance: Any, prefix: str,
                unknown_key: UnknownKeyHook | None = None) -> list[str]:
    """Every schema problem of ``instance``, one line each, prefixed by its path."""
    lines: list[str] = []
    try:
        errors = sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
    except (SchemaError, UnknownType, Unresolvable) as exc:  # the plugin's schema, not the user's config
        raise UserError(f"{prefix or '(top level)'}: the JSON Schema that checks this is broken "
                        f"({one_line(str(exc), 160)}); fix the plugin's schema") from None
    typed = {join_path(prefix, e.absolute_path) for e in errors if e.validator == "type"}
    for err in errors:  # a value of the wrong type gets one line, not also one for its enum
        if err.validator not in ("enum", "const") or join_path(prefix, err.absolute_path) not in typed:
            lines.extend(_format(err, prefix, unknown_key))
    return list(dict.fromkeys(lines))


def _format(err: ValidationError, prefix: str, unknown_key: UnknownKeyHook | None) -> list[str]:
    path = join_path(prefix, err.absolute_path)
    kind, value = err.validator, err.validator_value
    if kind in ("additionalProperties", "unevaluatedProperties") and isinstance(err.instance, dict):
        known = set(err.schema.get("properties") or {})
        patterns = err.schema.get("patternProperties") or {}
        extra = [k for k in err.instance if k not in known and not any(re.search(p, k) for p in patterns)]
        lines = []
        for key in extra:
            key = str(key)  # YAML allows number keys; messages need text
            where = join_path(path, [key])
            lines.append(f"{where}: " + (unknown_key(where, key, err.schema) if unknown_key
                                         else f"unknown key '{key}'; remove it"))
        return lines
    if kind == "required" and isinstance(err.instance, dict):
        missing = [k for k in value if k not in err.instance]
        return [f"{path or '(top level)'}: missing required key '{k}'; add it" for k in missing]
    if kind == "type":
        types = [value] if isinstance(value, str) else list(value)
        expected = " or ".join(TYPE_WORDS.get(t, t) for t in types)
        return [f"{path}: expected {expected}, got {shown(err.instance)}"]
    if kind == "enum":
        from ..errors import did_you_mean
        hint = did_you_mean(err.instance, [v for v in value if isinstance(v, str)]) if isinstance(err.instance, str) else ""
        choices = ", ".join(shown(v) for v in value)
        return [f"{path}: {shown(err.instance)} is not one of {choices}{hint or '; use one of them'}"]
    if kind == "const":
        return [f"{path}: expected {shown(value)}, got {shown(err.instance)}"]
    if kind in ("anyOf", "oneOf") and err.context:
        return _format_branches(err, path, prefix, unknown_key)
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        word = {"minimum": "at least", "maximum": "at most",
                "exclusiveMinimum": "above", "exclusiveMaximum": "below"}[kind]
        return [f"{path}: {shown(err.instance)} is out of range; it must be {word} {value}"]
    if kind in ("minItems", "minLength"):
        return [f"{path}: {shown(err.instance)} is too short; give at least {value} "
                f"{'item' if kind == 'minItems' else 'character'}{'s' if value != 1 else ''}"]
    return [f"{path}: {one_line(err.message)}"]


def _format_branches(err: ValidationError, path: str, prefix: str, unknown_key: UnknownKeyHook | None) -> list[str]:
    """An ``anyOf``: report the branch the value was meant for, else what is accepted."""
    by_branch: dict[int, list[ValidationError]] = {}
    for sub in err.context:
        by_branch.setdefault(sub.relative_schema_path[0], []).append(sub)
    here = list(err.absolute_path)
    meant = [subs for subs in by_branch.values()
             if not any(list(s.absolute_path) == here and s.validator in ("type", "const", "enum") for s in subs)]
    if meant:
        lines = []
        for sub in meant[0]:
            lines.extend(_format(sub, prefix, unknown_key))
        return lines
    expected = []
    for branch in err.validator_value:
        branch = branch if isinstance(branch, Mapping) else {}
        if "const" in branch:
            expected.append(shown(branch["const"]))
        elif "enum" in branch:
            expected.extend(shown(v) for v in branch["enum"])
        elif "type" in branch:
            types = [branch["type"]] if isinstance(branch["type"], str) else branch["type"]
            expected.extend(TYPE_WORDS.get(t, t) for t in types)
        elif "$ref" in branch:
            expected.append(branch["$ref"].rsplit("/", 1)[-1].replace("_", " "))
    wanted = " or ".join(dict.fromkeys(expected)) or "a value matching the schema"
    return [f"{path}: expected {wanted}, got {shown(err.instance)}"]
