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


@hookspec
def register_commands(subparsers):
    """Add sub-commands to the ``modelpress`` command line.

    Call ``subparsers.add_parser(name, help=...)``, add its arguments, and
    ``set_defaults(handler=fn)``: ``fn(args)`` runs the command and returns
    the exit code. Raise :class:`modelpress.errors.UserError` for bad input
    (one line, exit code 2). Import heavy libraries inside ``fn`` only:
    every ``modelpress`` invocation builds the parser.
    """


@hookspec
def before_run(workflow, context):
    """Called once before a workflow runs (after it is validated)."""


@hookspec
def after_run(workflow, run_result, context):
    """Called once after a workflow ran and its output folder is written."""


@hookspec
def on_run_error(workflow, error, context):
    """Called when a run stops on an exception (a failed pass, a bad config, Ctrl-C).

    The exception is raised again afterwards; a hook cannot swallow it.
    """


@hookspec
def before_evaluation(model, metric_configs, context):
    """Called before a model is evaluated, in the process that evaluates it."""


@hookspec
def after_evaluation(model, metric_values, context):
    """Called after a model is evaluated, with its ``{"<metric>-<sub type>": value}`` dict."""
