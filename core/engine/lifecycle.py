"""The run lifecycle hooks: ``before_run``, ``after_run``, ``on_run_error``.

Kept apart from the engine so that the engine stays about running passes;
:func:`modelpress.api.run_workflow` runs every workflow through here.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any


def run_with_hooks(engine: Any, run: Callable[[Any], Any]) -> Any:
    """``run(engine)`` between the run hooks; returns its :class:`RunResult`.

    ``on_run_error`` sees every exception, Ctrl-C included (``BaseException``),
    and the exception is raised again: a tracking plugin records a failed run
    but cannot turn it into a success.
    """
    hook = engine.registry.pm.hook
    workflow, context = engine.workflow, engine.context
    hook.before_run(workflow=workflow, context=context)
    try:
        result = run(engine)
    except BaseException as exc:
        hook.on_run_error(workflow=workflow, error=exc, context=context)
        raise
    hook.after_run(workflow=workflow, run_result=result, context=context)
    return result
