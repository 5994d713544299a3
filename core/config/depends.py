"""``depends_on`` among the search values of one pass: no cycles.

A conditional search value takes its candidates from the value of another
field of the same pass; when that field is searched too, the two are sampled
in order, parent first. A chain that comes back to where it started has no
first field, so it is refused when the config is validated, not when a
search starts.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .messages import shown
from .search_values import case_for
from .workflow import SEARCH


def cycle_problems(specs: Mapping[str, Any], path: str) -> list[str]:
    """One line per ``depends_on`` cycle among ``specs`` (``{field: search spec}``) of the pass at ``path``."""
    parent = {key: spec["depends_on"] for key, spec in specs.items()
              if isinstance(spec, Mapping) and isinstance(spec.get("depends_on"), str)
              and spec["depends_on"] != key}  # depending on itself is reported as "no other field"
    problems, reported = [], set()
    for start in parent:
        chain = [start]
        while parent.get(chain[-1]) in specs and parent[chain[-1]] not in chain:
            chain.append(parent[chain[-1]])
        loop_start = parent.get(chain[-1])
        if loop_start not in chain:
            continue
        cycle = chain[chain.index(loop_start):]
        if frozenset(cycle) in reported:
            continue
        reported.add(frozenset(cycle))
        first = min(cycle)  # the same cycle reads the same whichever field the walk started from
        cycle = cycle[cycle.index(first):] + cycle[:cycle.index(first)]
        shown = " -> ".join([*cycle, first])
        problems.append(f"{path}.{first}.depends_on: the search values depend on each other in a cycle "
                        f"({shown}); make one of them a plain search value or a fixed value")
    return problems


def case_problems(config: Mapping[str, Any], key: str, spec: Mapping[str, Any], path: str) -> list[str]:
    """A ``depends_on`` on a fixed (not searched) field must have a case for its value."""
    parent = config.get(spec["depends_on"])
    if isinstance(parent, dict) and SEARCH in parent:
        return []
    if case_for(spec, parent) is None:
        return [f"{path}.{key}: no case for {spec['depends_on']} = {shown(parent)}; "
                f"add {shown(parent if isinstance(parent, str) else shown(parent))} to its cases"]
    return []
