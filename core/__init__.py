"""modelpress: fine-tune, merge, quantize and ship small language models from one config."""
from __future__ import annotations

__version__ = "0.1.0"

from .hookspecs import hookimpl  # noqa: E402  (plugins: ``from modelpress import hookimpl``)

__all__ = ["__version__", "hookimpl", "run"]


def run(config, **overrides):
    """Run a workflow from a config path or dict; returns a :class:`RunResult`."""
    from .engine import run_workflow

    return run_workflow(config, **overrides)
