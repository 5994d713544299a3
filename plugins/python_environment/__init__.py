"""Built-in plugin: the PythonEnvironment system (jobs run by another interpreter)."""
from __future__ import annotations

from modelpress import hookimpl


@hookimpl
def register_systems(register):
    """Register :class:`PythonEnvironment`."""
    from .system import PythonEnvironment

    register(PythonEnvironment)
