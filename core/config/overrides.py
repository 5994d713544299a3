"""``--set KEY=VALUE``: change one value of a config before it is validated.

``KEY`` is a dotted path into the config as written (``passes.lora.r``,
``data_configs.0.name``: a number indexes a list). ``VALUE`` is read as JSON
(``16``, ``1e-4``, ``true``, ``null``, ``[16, 32]``, ``{"search": [1, 2]}``),
then as a YAML scalar, else kept as a string, so ``--set output_dir=out`` needs
no quotes. Overrides apply to the raw file before migration and validation,
so an override is checked exactly like the file's own values.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ..errors import UserError


def parse_value(text: str) -> Any:
    """The value of ``VALUE``: JSON first, then a YAML scalar, else the string."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, (bool, int, float)) or value is None else text


def parse(items: Iterable[str]) -> list[tuple[str, Any]]:
    """``[(dotted key, value)]`` of ``--set`` arguments; a malformed one is a UserError."""
    out, problems = [], []
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip() or any(not part for part in key.strip().split(".")):
            problems.append(f"--set {item}: expected KEY=VALUE with KEY a dotted path, "
                            f"e.g. --set passes.lora.r=32")
            continue
        out.append((key.strip(), parse_value(text)))
    if problems:
        raise UserError(problems)
    return out


def apply(config: dict, overrides: Iterable[tuple[str, Any]]) -> dict:
    """Set each dotted key of ``overrides`` in ``config`` (in place); returns it.

    Missing mapping keys are created; a path through a value that is neither
    a mapping nor a list, or a list index out of range, is a UserError that
    names the key and the part of it that does not fit.
    """
    for key, value in overrides:
        parts = key.split(".")
        node: Any = config
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            where = ".".join(parts[:depth + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise UserError(f"--set {key}: '{where}' indexes a list of {len(node)} item(s); "
                                    f"use an index from 0 to {len(node) - 1}")
                index = int(part)
                if last:
                    node[index] = value
                else:
                    node = node[index]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, {})
            else:
                parent = ".".join(parts[:depth])
                raise UserError(f"--set {key}: '{parent}' is {json.dumps(node)}, not a mapping; "
                                f"set '{parent}' itself or change the file")
    return config
