"""modelpress plugin: the MagnitudePrune pass and the "coordinate" search strategy.

modelpress loads this module through the "modelpress" entry point declared in
pyproject.toml and calls its hooks; importing it registers nothing by itself.
"""
from modelpress import hookimpl

from .coordinate import CoordinateSearch
from .prune import MagnitudePrune

__all__ = ["CoordinateSearch", "MagnitudePrune"]


@hookimpl
def register_passes(register):
    """Hand the pass to modelpress."""
    register(MagnitudePrune)


@hookimpl
def register_search_strategies(register):
    """Hand the search strategy to modelpress."""
    register(CoordinateSearch)
