"""Built-in plugin: search strategies on Optuna studies (exhaustive, random, tpe, nsga2).

Optuna is imported only when a strategy runs, so listing plugins stays fast.
"""
from __future__ import annotations

from modelpress import hookimpl


@hookimpl
def register_search_strategies(register):
    """Register the Optuna-backed strategies."""
    from .samplers import STRATEGIES

    for cls in STRATEGIES:
        register(cls)
