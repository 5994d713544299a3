"""The schema a component's config is checked against.

One cache per component class: the schema a plugin declares, with unknown
top-level keys forbidden (:func:`modelpress.config.schema.closed`).
"""
from __future__ import annotations

from ..components import Component
from .schema import closed

_closed: dict[type[Component], dict] = {}


def component_schema_of(cls: type[Component]) -> dict:
    """The component's schema with unknown top-level keys forbidden (cached)."""
    if cls not in _closed:
        _closed[cls] = closed(cls.get_schema())
    return _closed[cls]
