"""The config layer: read, migrate and validate workflow configs.

    load(path_or_dict) -> Workflow          # load_raw + migrate + validate
    check(raw, registry, base_dir) -> (canonical, workflow or None, notes, problems)
    load_raw(path) -> dict                  # JSON or YAML, one-line syntax errors
    migrate(raw, registry) -> (canonical, notes)
    validate(canonical, registry, base_dir, source=None) -> Workflow
    workflow_schema(registry), component_schema(registry, kind, name)

Every problem is reported as one line ``"<json.path>: <what is wrong>; <what
to do>"`` in a :class:`modelpress.errors.ConfigError`.
"""
from __future__ import annotations

from .editor import component_schema, workflow_schema
from .load import check, load, load_raw
from .migrate import migrate
from .validate import validate
from .workflow import SearchParam, Step, Workflow

__all__ = [
           "SearchParam",
           "Step",
           "Workflow",
           "check",
           "component_schema",
           "load",
           "load_raw",
           "migrate",
           "validate",
           "workflow_schema",
]
