"""The ``modelpress`` command line (console entry point ``modelpress.cli:main``)."""
from __future__ import annotations

from .app import main

__all__ = ["main"]
