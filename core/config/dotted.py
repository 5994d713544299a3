"""Dotted field paths in pass configs (``training_args.learning_rate``).

Search values may sit inside object fields; the config layer stores each as
``{"$search": spec}`` at its path, and resolving a search point writes the
chosen value back there.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

SEARCH = "$search"


def put_specs(body: dict, specs: Mapping[str, dict]) -> dict:
    """Store each spec as ``{"$search": spec}`` at its (dotted) field in ``body``."""
    for key, spec in specs.items():
        set_field(body, key, {SEARCH: spec})
    return body


def searched_fields(config: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, dict]]:
    """``(dotted field, spec)`` of every stored search value in a pass config."""
    for name, value in config.items():
        if isinstance(value, Mapping) and SEARCH in value:
            yield prefix + name, value[SEARCH]
        elif isinstance(value, Mapping):
            yield from searched_fields(value, f"{prefix}{name}.")


def set_field(config: dict, dotted: str, value: Any) -> None:
    """Set a (dotted) field of a config, creating object fields on the way."""
    *parents, last = dotted.split(".")
    for name in parents:
        config = config.setdefault(name, {})
    config[last] = value


def pop_field(config: dict, dotted: str) -> None:
    """Remove a (dotted) field of a config, if there."""
    *parents, last = dotted.split(".")
    for name in parents:
        config = config.get(name) or {}
    config.pop(last, None)
