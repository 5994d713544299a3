"""Search values in pass configs, parsed into ``{"$search": spec}``.

A field's value is a search value when it is:

- a list of candidates, where the field's schema does not accept a list;
- ``{"search": [...]}`` (candidates) or ``{"search": {"low", "high", "step", "log"}}``;
- ``{"search": {"depends_on": "<field>", "cases": {"<value>": [...]}}}``;
- ``"SEARCHABLE_VALUES"`` (Olive's): the schema's ``x-search`` candidates;
- ``{"$search": spec}``: the stored form, so a canonical config reloads.

A field inside an object field is searched the same way
(``training_args: {learning_rate: [1e-4, 2e-4]}``): its key is the dotted
path, ``training_args.learning_rate``.

This module is the one grammar of search values: :func:`to_spec` turns any
accepted form into the canonical spec, :func:`parse_spec` does the same for
code (raising), and :class:`SearchParam` is the one parameter type that the
config layer lists and the search space orders. Canonical specs:

- ``{"choices": [...]}``: categorical candidates (any JSON value);
- ``{"low", "high", "step", "log", "type": "int" | "float"}``: a range;
- ``{"depends_on": "<field of the same pass>", "cases": {value: [...] or range}}``.

Every candidate is checked against the field's schema. ``null`` as a
candidate means "leave the field unset" (its default applies).
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, did_you_mean
from .dotted import SEARCH
from .messages import error_lines, shown
from .schema import _with_defs, accepts_type, deref, prop_schema, property_names

SEARCH_KEYS = ("search", SEARCH)
SEARCHABLE = "SEARCHABLE_VALUES"


@dataclass(frozen=True)
class SearchParam:
    """One searchable value.

    ``key`` is ``"<step>.<field>"`` (``field`` may be a dotted path into an
    object field, ``"training_args.learning_rate"``), or ``"<step>"`` for the
    choice between a step's alternatives (``spec`` then holds their indices
    as choices). ``spec`` is canonical (see the module docstring).
    ``alternative`` is the index of the alternative a field belongs to when
    the step has several (the field is searched only when that one is chosen).
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


def is_search_value(value: Any) -> bool:
    """``{"search": ...}`` or ``{"$search": ...}``."""
    return isinstance(value, Mapping) and len(value) == 1 and next(iter(value)) in SEARCH_KEYS


def extract(body: dict, schema: Mapping[str, Any], validator: Any, path: str) -> tuple[dict, dict, list[str]]:
    """Split search values out of a pass config.

    Returns ``(config to validate, {field: spec}, problems)``: in the config
    each searched field holds its first candidate (or is absent when that is
    null), so the rest of the config is validated as usual. Fields of object
    fields are searched too; their key is the dotted path.
    """
    return _extract(body, schema, schema, validator, path)


def _extract(body: dict, schema: Any, root: Mapping[str, Any], validator: Any,
             path: str) -> tuple[dict, dict, list[str]]:
    plain, specs, problems = dict(body), {}, []
    for key, value in body.items():
        sub = prop_schema(schema, key, root)
        where = f"{path}.{key}"
        if sub is None:
            # A search value for a field an open object allows but does not
            # describe (a TrainingArguments field the schema does not list).
            if not (is_search_value(value) and _open(schema, root)):
                continue
            sub = {}
        if value == SEARCHABLE:
            if "x-search" not in sub:
                problems.append(f"{where}: '{SEARCHABLE}' but this field has no default search values; "
                                f"give a list of candidates")
                plain.pop(key)
                continue
            raw = sub["x-search"]
        elif is_search_value(value):
            raw = next(iter(value.values()))
        elif isinstance(value, list) and not accepts_type(sub, "array", root):
            raw = value
        elif isinstance(value, Mapping) and property_names(sub, root):
            inner, inner_specs, inner_problems = _extract(dict(value), sub, root, validator, where)
            plain[key] = inner
            specs.update({f"{key}.{k}": v for k, v in inner_specs.items()})
            problems.extend(inner_problems)
            continue
        else:
            continue
        spec = to_spec(raw, where, problems)
        if spec is None:  # reported; keep the schema from reporting it again
            plain.pop(key)
            continue
        wrong = _check_candidates(spec, sub, key, root, validator, where)
        if wrong:  # reported once here, not again by the config's own validation
            problems.extend(wrong)
            plain.pop(key)
            continue
        specs[key] = spec
        first = first_candidate(spec)
        if first is None:
            plain.pop(key)
        else:
            plain[key] = first
    return plain, specs, problems


def _open(schema: Any, root: Mapping[str, Any]) -> bool:
    schema = deref(schema, root)
    return isinstance(schema, Mapping) and schema.get("additionalProperties", True) is not False


def parse_spec(raw: Any, where: str) -> dict:
    """The canonical spec of a search value given by code; raises ConfigError.

    Accepts what a config accepts (a list, ``{"choices"}``, a range,
    ``{"depends_on", "cases"}``, wrapped in ``{"$search"}`` or
    ``{"search"}`` or not); a canonical spec comes back unchanged.
    """
    if is_search_value(raw):
        raw = next(iter(raw.values()))
    problems: list[str] = []
    spec = to_spec(raw, where, problems)
    if spec is None:
        raise ConfigError(problems)
    return spec


def to_spec(raw: Any, where: str, problems: list[str], nested: bool = False) -> dict | None:
    """The canonical spec of a raw search value (None, with a problem, if bad)."""
    if isinstance(raw, list):
        if not raw:
            problems.append(f"{where}: an empty list of candidates; give at least one value")
            return None
        return {"choices": list(raw)}
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: {shown(raw)} is not a search value; give a list of candidates, "
                        f"{{\"low\", \"high\"}} or {{\"depends_on\", \"cases\"}}")
        return None
    if "choices" in raw and set(raw) <= {"choices"}:
        return to_spec(raw["choices"], where, problems, nested)
    if "low" in raw or "high" in raw:
        return _range(raw, where, problems)
    if "depends_on" in raw and not nested:
        return _depends(raw, where, problems)
    problems.append(f"{where}: unknown search value {shown(dict(raw))}; use a list of candidates, "
                    f"{{\"low\", \"high\", \"step\", \"log\"}} or {{\"depends_on\", \"cases\"}}")
    return None


def _range(raw: Mapping[str, Any], where: str, problems: list[str]) -> dict | None:
    unknown = set(raw) - {"low", "high", "step", "log", "type"}
    if unknown or "low" not in raw or "high" not in raw:
        problems.append(f"{where}: a range needs 'low' and 'high' (and optional 'step', 'log')"
                        + (f"; unknown key(s) {', '.join(sorted(unknown))}" if unknown else ""))
        return None
    low, high, step = raw["low"], raw["high"], raw.get("step")
    numbers = [v for v in (low, high, step) if v is not None]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
        problems.append(f"{where}: low, high and step must be numbers")
        return None
    if low > high:
        problems.append(f"{where}: low {low} is above high {high}; swap them")
        return None
    if raw.get("log") and low <= 0:
        problems.append(f"{where}: a log range needs low > 0; raise 'low' or drop 'log'")
        return None
    kind = raw.get("type") or ("int" if all(isinstance(v, int) for v in numbers) else "float")
    if kind not in ("int", "float"):
        problems.append(f"{where}.type: {shown(kind)} is not \"int\" or \"float\"")
        return None
    return {"low": low, "high": high, "step": step, "log": bool(raw.get("log")), "type": kind}


def _depends(raw: Mapping[str, Any], where: str, problems: list[str]) -> dict | None:
    cases = raw.get("cases")
    if set(raw) != {"depends_on", "cases"} or not isinstance(cases, Mapping) or not cases:
        problems.append(f"{where}: 'depends_on' needs 'cases': a mapping from each value of the "
                        f"other field to its candidates")
        return None
    specs = {}
    for value, case in cases.items():
        spec = to_spec(case, f"{where}.cases.{value}", problems, nested=True)
        if spec is not None:  # candidate lists stay lists, as written: {"int4": [32, 128]}
            specs[str(value)] = spec.get("choices", spec)
    return {"depends_on": raw["depends_on"], "cases": specs} if len(specs) == len(cases) else None


def values_to_check(spec: Mapping[str, Any]) -> list:
    """Concrete values to validate: choices, a range's bounds, every case's."""
    if "choices" in spec:
        return list(spec["choices"])
    if "low" in spec:
        return [spec["low"], spec["high"]]
    return [v for case in spec["cases"].values()
            for v in (case if isinstance(case, list) else values_to_check(case))]


def first_candidate(spec: Mapping[str, Any]) -> Any:
    """The first non-null candidate (a range's ``low``), or None."""
    return next((v for v in values_to_check(spec) if v is not None), None)


def candidates(spec: Mapping[str, Any]) -> list | None:
    """Every value a resolved (not ``depends_on``) spec can take, or None when
    it is not finite (a float range without a step). Integer ranges step by 1
    unless told otherwise."""
    if "choices" in spec:
        return list(spec["choices"])
    low, high, step = spec["low"], spec["high"], spec.get("step")
    if spec["type"] == "int":
        return list(range(int(low), int(high) + 1, int(step or 1)))
    if not step:
        return None
    count = math.floor((high - low) / step + 1e-9) + 1
    return [round(low + i * step, 12) for i in range(count)]


def _check_candidates(spec: dict, sub: Any, key: str, schema: Mapping[str, Any], validator: Any,
                      where: str) -> list[str]:
    problems = []
    if "depends_on" in spec:
        other = spec["depends_on"]
        names = property_names(schema, schema)
        if other not in names or other == key:
            problems.append(f"{where}.depends_on: no other field '{other}' in this pass"
                            f"{did_you_mean(str(other), [n for n in names if n != key]) or '; name a field of this pass'}")
    if "low" in spec and spec["type"] == "float" and not accepts_type(sub, "number", schema):
        return [f"{where}: a float range for a field that takes integers; use integer bounds"]
    field_validator = validator.evolve(schema=_with_defs(sub, schema))
    for value in values_to_check(spec):
        if value is not None:
            for line in error_lines(field_validator, value, where):
                at, _, what = line.partition(": ")
                problems.append(f"{at}: candidate {shown(value)}: {what}")
    return problems


def case_key(cases: Mapping[str, Any], value: Any) -> str | None:
    """The key of ``cases`` that stands for ``value`` (JSON keys are strings)."""
    for key in (value if isinstance(value, str) else None, json.dumps(value), str(value)):
        if key is not None and key in cases:
            return key
    return None


def case_for(spec: Mapping[str, Any], value: Any) -> dict | None:
    """The canonical case spec of a ``depends_on`` spec for the other field's
    ``value`` (a candidate list becomes ``{"choices": [...]}``), or None."""
    key = case_key(spec["cases"], value)
    if key is None:
        return None
    case = spec["cases"][key]
    return {"choices": list(case)} if isinstance(case, list) else case
