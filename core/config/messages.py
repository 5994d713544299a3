"""One-line messages from JSON Schema validation errors (``error_lines``), and how values are shown."""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, UnknownType, ValidationError
from referencing.exceptions import Unresolvable

from ..errors import UserError

MAX_SHOWN = 60  # characters of a value quoted in a message


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
