"""The hook specifications of modelpress (pluggy project "modelpress").

Register hooks receive a ``register`` callback owned by the core, so type
checks, duplicate names and aliases are handled in one place.
"""
from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("modelpress")
hookimpl = pluggy.HookimplMarker("modelpress")


@hookspec
def register_passes(register):
    """Register :class:`modelpress.components.Pass` subclasses."""


@hookspec
def register_data_containers(register):
    """Register :class:`modelpress.components.DataContainer` subclasses."""


@hookspec
def register_systems(register):
    """Register :class:`modelpress.components.System` subclasses."""


@hookspec
def register_search_strategies(register):
    """Register :class:`modelpress.components.SearchStrategy` subclasses."""


@hookspec
def register_metrics(register):
    """Register :class:`modelpress.components.Metric` subclasses."""


@hookspec
def register_model_types(register):
    """Register :class:`modelpress.components.ModelHandle` subclasses."""


@hookspec
def register_resources(register):
    """Register :class:`modelpress.components.Resource` subclasses (remote paths)."""


@hookspec
def before_pass(step, model, context):
    """Called before a pass runs (or is taken from the cache)."""


@hookspec
def after_pass(step, model, result, context):
    """Called after a pass: ``result`` is the output model handle."""
