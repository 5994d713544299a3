"""Search values in pass configs, parsed into ``{"$search": spec}``.

A field's value is a search value when it is:

- a list of candidates, where the field's schema does not accept a list;
- ``{"search": [...]}`` (candidates) or ``{"search": {"low", "high", "step", "log"}}``;
- ``{"search": {"depends_on": "<field>", "cases": {"<value>": [...]}}}``;
- ``"SEARCHABLE_VALUES"`` (Olive's): the schema's ``x-search`` candidates;
- ``{"$search": spec}``: the stored form, so a canonical config reloads.

Every candidate is checked against the field's schema. ``null`` as a
candidate means "leave the field unset" (its default applies).
"""
from __future__ import annotations

from typing import Any, Mapping

from ..errors import did_you_mean
from .schema import _with_defs, accepts_type, error_lines, prop_schema, property_names, shown

SEARCH_KEYS = ("search", "$search")
SEARCHABLE = "SEARCHABLE_VALUES"


def is_search_value(value: Any) -> bool:
    """``{"search": ...}`` or ``{"$search": ...}``."""
    return isinstance(value, Mapping) and len(value) == 1 and next(iter(value)) in SEARCH_KEYS


def extract(body: dict, schema: Mapping[str, Any], validator: Any, path: str) -> tuple[dict, dict, list[str]]:
    """Split search values out of a pass config.

    Returns ``(config to validate, {field: spec}, problems)``: in the config
    each searched field holds its first candidate (or is absent when that is
    null), so the rest of the config is validated as usual.
    """
    plain, specs, problems = dict(body), {}, []
    for key, value in body.items():
        sub = prop_schema(schema, key, schema)
        if sub is None:
            continue
        where = f"{path}.{key}"
        if value == SEARCHABLE:
            if "x-search" not in sub:
                problems.append(f"{where}: '{SEARCHABLE}' but this field has no default search values; "
                                f"give a list of candidates")
                plain.pop(key)
                continue
            raw = sub["x-search"]
        elif is_search_value(value):
            raw = next(iter(value.values()))
        elif isinstance(value, list) and not accepts_type(sub, "array", schema):
            raw = value
        else:
            continue
        spec = to_spec(raw, where, problems)
        if spec is None:  # reported; keep the schema from reporting it again
            plain.pop(key)
            continue
        wrong = _check_candidates(spec, sub, key, schema, validator, where)
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
            specs[str(value)] = spec["choices"] if "choices" in spec else spec
    return {"depends_on": raw["depends_on"], "cases": specs} if len(specs) == len(cases) else None


def candidates(spec: Mapping[str, Any]) -> list:
    """Concrete values to check: choices, a range's bounds, every case's."""
    if "choices" in spec:
        return list(spec["choices"])
    if "low" in spec:
        return [spec["low"], spec["high"]]
    return [v for case in spec["cases"].values()
            for v in (case if isinstance(case, list) else candidates(case))]


def first_candidate(spec: Mapping[str, Any]) -> Any:
    """The first non-null candidate, or None."""
    return next((v for v in candidates(spec) if v is not None), None)


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
    for value in candidates(spec):
        if value is not None:
            for line in error_lines(field_validator, value, where):
                at, _, what = line.partition(": ")
                problems.append(f"{at}: candidate {shown(value)}: {what}")
    return problems


def case_for(spec: Mapping[str, Any], value: Any) -> dict | None:
    """The case spec of a ``depends_on`` spec for the other field's ``value``."""
    cases = spec["cases"]
    for key in (value if isinstance(value, str) else None, _json(value), str(value)):
        if key is not None and key in cases:
            return cases[key]
    return None


def _json(value: Any) -> str:
    import json

    return json.dumps(value)
