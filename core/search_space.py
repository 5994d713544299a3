"""The search space of a workflow: its searchable pass parameters.

The config layer keeps every searchable value as a ``"$search"`` spec and
lists them with ``Workflow.search_params()``; this module turns that list into
a :class:`SearchSpace` that strategies can enumerate (``grid``) or sample
(``spec_for``: the concrete spec of a parameter given the values chosen so far,
so a conditional parameter sees its parent's value). Nothing here imports a
sampling library: the Optuna plugin maps these specs onto its distributions.

Specs, after :func:`normalize_spec`:

- ``{"choices": [...]}``: categorical candidates (any JSON value);
- ``{"low", "high", "step", "log", "type": "int" | "float"}``: a range;
- ``{"depends_on": "<field of the same step>", "cases": {value: spec}}``: the
  candidates depend on another field's value (searched or fixed).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from .errors import ConfigError

CASE_SEP = "|"  # joins a conditional parameter's key and its parent's value in sampler names
ALT_SEP = "@"   # marks the alternative a parameter belongs to in sampler names


def normalize_spec(spec: Any, where: str) -> dict:
    """A ``"$search"`` value (or a bare candidate list) in the canonical dict form."""
    if isinstance(spec, Mapping) and "$search" in spec:
        spec = spec["$search"]
    if isinstance(spec, (list, tuple)):
        return {"choices": list(spec)}
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: {spec!r} is not a search spec; give a list of candidates "
                          f"or {{\"low\", \"high\"}}")
    if "choices" in spec:
        if not spec["choices"]:
            raise ConfigError(f"{where}: no candidates; give at least one value")
        return {"choices": list(spec["choices"])}
    if "depends_on" in spec:
        cases = {str(k): normalize_spec(v, f"{where}.cases.{k}") for k, v in (spec.get("cases") or {}).items()}
        if not cases:
            raise ConfigError(f"{where}: 'depends_on' without 'cases'; map each value of "
                              f"'{spec['depends_on']}' to its candidates")
        return {"depends_on": spec["depends_on"], "cases": cases}
    if "low" in spec and "high" in spec:
        low, high = spec["low"], spec["high"]
        kind = spec.get("type") or ("int" if all(isinstance(v, int) and not isinstance(v, bool)
                                                  for v in (low, high, spec.get("step") or 1)) else "float")
        if low > high:
            raise ConfigError(f"{where}: low {low} is above high {high}; swap them")
        if spec.get("log") and low <= 0:
            raise ConfigError(f"{where}: a log range needs low > 0, got {low}; raise 'low' or drop 'log'")
        return {"low": low, "high": high, "step": spec.get("step"), "log": bool(spec.get("log")), "type": kind}
    raise ConfigError(f"{where}: unknown search spec {dict(spec)!r}; use 'choices', 'low'/'high' "
                      f"or 'depends_on'/'cases'")


def case_key(cases: Mapping[str, Any], value: Any) -> str | None:
    """The key of ``cases`` that stands for ``value`` (JSON keys are strings)."""
    for candidate in (value if isinstance(value, str) else None, json.dumps(value), str(value)):
        if candidate is not None and candidate in cases:
            return candidate
    return None


def range_values(spec: Mapping[str, Any]) -> list | None:
    """Every value of a range with a step (ints step 1 by default); None if unbounded."""
    low, high, step = spec["low"], spec["high"], spec.get("step")
    if spec["type"] == "int":
        step = int(step or 1)
        return list(range(int(low), int(high) + 1, step))
    if not step:
        return None
    count = int(math.floor((high - low) / step + 1e-9)) + 1
    return [round(low + i * step, 12) for i in range(count)]


def candidates(spec: Mapping[str, Any]) -> list | None:
    """The finite candidate list of a resolved (non-conditional) spec, or None."""
    return list(spec["choices"]) if "choices" in spec else range_values(spec)


@dataclass(frozen=True)
class Param:
    """One searchable value: ``key`` (``"lora.r"``), its step, field and spec.

    ``alternative`` is set for a field of one alternative of a step (the
    parameter is active only when the step's alternative choice is that index).
    """

    key: str
    step: str
    field: str | None
    spec: dict
    alternative: int | None = None

    @property
    def parent(self) -> str | None:
        """The key of the field this parameter's candidates depend on."""
        dep = self.spec.get("depends_on")
        return None if dep is None else f"{self.step}.{dep}"


@dataclass
class SearchSpace:
    """An ordered set of :class:`Param` (parents before dependents).

    ``fixed`` holds values of non-searched fields that a conditional parameter
    depends on (``{"quant.precision": "int4"}``).
    """

    params: list[Param]
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

    def subspace(self, step: str, fixed: Mapping[str, Any] | None = None) -> "SearchSpace":
        """The parameters of one step (for pass-by-pass search)."""
        return SearchSpace([p for p in self.params if p.step == step], {**self.fixed, **(fixed or {})})

    def spec_for(self, param: Param, point: Mapping[str, Any]) -> tuple[dict, str | None] | None:
        """``(resolved spec, case key)`` of ``param`` given the values in ``point``.

        None when the parameter is inactive: its alternative is not chosen or
        its parent's value has no case.
        """
        if param.alternative is not None and point.get(param.step) != param.alternative:
            return None
        if "depends_on" not in param.spec:
            return param.spec, None
        parent = param.parent
        if parent in point:
            value = point[parent]
        elif parent in self.fixed:
            value = self.fixed[parent]
        else:
            return None
        key = case_key(param.spec["cases"], value)
        return None if key is None else (param.spec["cases"][key], key)

    def sampler_name(self, param: Param, case: str | None) -> str:
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
                                      f"range; add one or use the random or tpe sampler")
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


def _ordered(params: Sequence[Param]) -> list[Param]:
    """Stable order with every parent (and alternative choice) before its dependents."""
    keys = {p.key for p in params}
    done: list[Param] = []
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
        spec = normalize_spec(sp.spec, f"passes.{sp.key}")
        params.append(Param(sp.key, sp.step, sp.field, spec, getattr(sp, "alternative", None)))
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

