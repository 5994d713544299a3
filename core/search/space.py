"""The search space of a workflow: its searchable pass parameters.

The config layer keeps every searchable value as a ``"$search"`` spec and
lists them with ``Workflow.search_params()`` (one :class:`SearchParam` each);
this module turns that list into a :class:`SearchSpace` that strategies can
enumerate (``grid``) or sample (``spec_for``: the concrete spec of a parameter
given the values chosen so far, so a conditional parameter sees its parent's
value). Nothing here imports a sampling library: the Optuna plugin maps these
specs onto its distributions. The grammar of specs is
:mod:`modelpress.config.search_values`, the only one.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..config.search_values import SearchParam, candidates, case_for, case_key, parse_spec
from ..errors import ConfigError

__all__ = ["Param", "SearchParam", "SearchSpace", "candidates", "decode_point", "space_from_workflow"]

#: The same type under its older name (third-party strategies import it).
Param = SearchParam
CASE_SEP = "|"  # joins a conditional parameter's key and its parent's value in sampler names
ALT_SEP = "@"   # marks the alternative a parameter belongs to in sampler names


@dataclass
class SearchSpace:
    """An ordered set of :class:`SearchParam` (parents before dependents).

    ``fixed`` holds values of non-searched fields that a conditional parameter
    depends on (``{"quant.precision": "int4"}``).
    """

    params: list[SearchParam]
    fixed: dict = field(default_factory=dict)

    def __post_init__(self):
        self.params = _ordered(self.params)

    @property
    def keys(self) -> list[str]:
        return [p.key for p in self.params]

    @property
    def steps(self) -> list[str]:
        """Steps that own at least one parameter, in parameter order."""
        return list(dict.fromkeys(p.step for p in self.params))

    def __len__(self) -> int:
        return len(self.params)

    def subspace(self, step: str, fixed: Mapping[str, Any] | None = None) -> SearchSpace:
        """The parameters of one step (for pass-by-pass search)."""
        return SearchSpace([p for p in self.params if p.step == step], {**self.fixed, **(fixed or {})})

    def spec_for(self, param: SearchParam, point: Mapping[str, Any]) -> tuple[dict, str | None] | None:
        """``(resolved spec, case key)`` of ``param`` given the values in ``point``.

        None when the parameter is inactive: its alternative is not chosen or
        its parent's value has no case.
        """
        if param.alternative is not None and point.get(param.step) != param.alternative:
            return None
        if "depends_on" not in param.spec:
            return param.spec, None
        parent = param.parent
        if parent is not None and parent in point:
            value = point[parent]
        elif parent is not None and parent in self.fixed:
            value = self.fixed[parent]
        else:
            return None
        key, case = case_key(param.spec["cases"], value), case_for(param.spec, value)
        return None if key is None or case is None else (case, key)

    def sampler_name(self, param: SearchParam, case: str | None) -> str:
        """The name a sampler sees: conditional cases get their own name, so
        each keeps one fixed distribution; so do two alternatives' fields."""
        name = param.key if param.alternative is None else f"{param.key}{ALT_SEP}{param.alternative}"
        return name if case is None else f"{name}{CASE_SEP}{case}"

    def grid(self, limit: int | None = None) -> list[dict]:
        """Every point, in a fixed order (the last parameter varies fastest).

        Raises ConfigError for a float range without a step (not enumerable).
        """
        points: list[dict] = [{}]
        for param in self.params:
            expanded = []
            for point in points:
                resolved = self.spec_for(param, point)
                if resolved is None:
                    expanded.append(point)
                    continue
                values = candidates(resolved[0])
                if values is None:
                    raise ConfigError(f"passes.{param.key}: exhaustive search needs a 'step' for a float "
                                      f"range; add one or use a sampler that draws from ranges (random)")
                expanded.extend({**point, param.key: v} for v in values)
            points = expanded
        return points[:limit] if limit else points

    def size(self) -> int | None:
        """Number of grid points, or None when a range is not enumerable."""
        try:
            return len(self.grid())
        except ConfigError:
            return None

    def default_point(self) -> dict:
        """First candidate (or ``low``) of every active parameter: what a step
        not yet searched uses in pass-by-pass order."""
        point: dict = {}
        for param in self.params:
            resolved = self.spec_for(param, point)
            if resolved is not None:
                spec = resolved[0]
                point[param.key] = spec["choices"][0] if "choices" in spec else spec["low"]
        return point


def _ordered(params: Sequence[SearchParam]) -> list[SearchParam]:
    """Stable order with every parent (and alternative choice) before its dependents."""
    keys = {p.key for p in params}
    done: list[SearchParam] = []
    seen: set[str] = set()
    pending = list(params)
    while pending:
        progress = False
        for p in list(pending):
            needs = [k for k in (p.parent, p.step if p.alternative is not None else None)
                     if k is not None and k in keys and k != p.key]
            if all(k in seen for k in needs):
                done.append(p)
                seen.add(p.key)
                pending.remove(p)
                progress = True
        if not progress:
            names = ", ".join(p.key for p in pending)
            raise ConfigError(f"passes: search parameters {names} depend on each other in a cycle; "
                              f"break the cycle of 'depends_on'")
    return done


def space_from_workflow(workflow: Any) -> SearchSpace:
    """The :class:`SearchSpace` of a validated workflow."""
    params = []
    for sp in workflow.search_params():
        spec = parse_spec(sp.spec, f"passes.{sp.key}")  # canonical already, unless built by code
        params.append(SearchParam(sp.key, sp.step, sp.field, spec, getattr(sp, "alternative", None)))
    fixed = {}
    for p in params:
        parent = p.parent
        if parent is not None and parent not in {q.key for q in params}:
            fixed[parent] = _fixed_value(workflow, p.step, p.spec["depends_on"], p.alternative or 0)
    return SearchSpace(params, fixed)


def _fixed_value(workflow: Any, step: str, field_name: str, alternative: int) -> Any:
    for s in getattr(workflow, "passes", []) or []:
        if s.name == step and len(s.alternatives) > alternative:
            return s.alternatives[alternative].get(field_name)
    return None


def decode_point(params: Mapping[str, Any]) -> dict:
    """Map sampler names (``key|case``) back to parameter keys."""
    return {name.split(CASE_SEP, 1)[0].split(ALT_SEP, 1)[0]: value for name, value in params.items()}

