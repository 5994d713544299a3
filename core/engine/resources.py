"""Remote resources inside configs: finding them and downloading them.

A config may name a registered :class:`modelpress.components.Resource`
(``{"type": "azureml_datastore", "config": {...}}``) where a path is
expected. Hosts that mount resources get them as they are; for every other
host they are downloaded once into the cache and replaced by local paths.
"""
from __future__ import annotations

from typing import Any

from .cache import Cache, stable_hash


def is_resource(data: Any, registry: Any) -> bool:
    """Whether ``data`` itself is a registered resource reference."""
    kind = data.get("type") if isinstance(data, dict) else None
    return isinstance(kind, str) and "config" in data and bool(registry.canonical_name("resource", kind))


def has_resource(data: Any, registry: Any) -> bool:
    """Whether a config holds a registered resource anywhere."""
    if is_resource(data, registry):
        return True
    if isinstance(data, dict):
        return any(has_resource(v, registry) for v in data.values())
    if isinstance(data, list):
        return any(has_resource(v, registry) for v in data)
    return False


def materialize(data: Any, registry: Any, cache: Cache) -> Any:
    """A copy of ``data`` with every resource replaced by its downloaded local path."""
    if is_resource(data, registry):
        resource = registry.get("resource", data["type"]).cls(data["config"])
        key = stable_hash(resource.identity())
        with cache.lock(f"resource-{key}"):
            return str(resource.materialize(cache.resource_dir(key)))
    if isinstance(data, dict):
        return {k: materialize(v, registry, cache) for k, v in data.items()}
    if isinstance(data, list):
        return [materialize(v, registry, cache) for v in data]
    return data
