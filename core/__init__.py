"""modelpress: fine-tune, merge, quantize and ship small language models from one config."""
from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__", "hookimpl", "run"]


def run(config, **overrides):
    """Run a workflow from a config path or dict; returns a :class:`modelpress.engine.outputs.RunResult`."""
    from .api import run_workflow

    return run_workflow(config, **overrides)


def __getattr__(name: str):
    # ``from modelpress import hookimpl`` for plugins; imported lazily so that
    # ``modelpress --help`` does not pay for pluggy.
    if name == "hookimpl":
        from .hookspecs import hookimpl

        return hookimpl
    raise AttributeError(f"module 'modelpress' has no attribute {name!r}")
