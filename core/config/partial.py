"""Checks that still run on the valid part of an entry with schema problems.

A pass's ``check_config`` (training_args fields of the installed
transformers, eval data, ...) used to run only once the schema was
satisfied, so a user fixed a config in rounds. Here it runs on the entry
with every value that broke the schema taken out, so that one
``modelpress validate`` reports both kinds of problems at once. The same
valid part is what :class:`.check.Checker` walks for data config names and
files that must exist.
"""
from __future__ import annotations

import contextlib
import copy
from typing import Any

from ..components import Accelerator
from ..errors import ConfigError
from ..frozen import Config
from .component_schemas import component_schema_of
from .schema import fill_defaults, validator_for
from .search_values import is_search_value


def own_checks_despite_errors(entry: Any, path: str, checker: Any, registry: Any,
                              accelerator: Accelerator) -> list[str]:
    """``check_config`` lines (prefixed by ``path``) for the valid part of ``entry``."""
    if not isinstance(entry, dict):
        return []
    try:
        reg = registry.get("pass", entry.get("type"))
    except ConfigError:
        return []
    body = copy.deepcopy({k: v for k, v in entry.items() if k != "type"})
    if any(is_search_value(v) for v in body.values()):
        return []  # a search point is checked when it is proposed
    schema = component_schema_of(reg.cls)
    validator = validator_for(schema)
    body = valid_part(validator, body)
    fill_defaults(schema, body, schema, validator)
    try:
        lines = reg.cls.check_config(Config(body), accelerator)
    except Exception:
        return []
    return [f"{path}.{line}" for line in lines]


def valid_part(validator: Any, body: dict) -> dict:
    """A copy of ``body`` without the values its schema errors are about."""
    body = copy.deepcopy(body)
    for err in sorted(validator.iter_errors(body), key=lambda e: -len(e.absolute_path)):
        _drop(body, list(err.absolute_path), err)
    return body


def _drop(body: dict, where: list, err: Any) -> None:
    """Take the value an error is about out of ``body``."""
    parent: Any = body
    for part in where[:-1]:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return
    if err.validator in ("additionalProperties", "unevaluatedProperties"):
        target = parent[where[-1]] if where else body
        known = set((err.schema or {}).get("properties") or {})
        if isinstance(target, dict):
            for key in [k for k in target if k not in known]:
                del target[key]
    elif where and isinstance(parent, (dict, list)):
        with contextlib.suppress(KeyError, IndexError, TypeError):
            del parent[where[-1]]
