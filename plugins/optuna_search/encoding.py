"""Search points in the names and encodings an Optuna trial holds.

Optuna's categorical choices must be primitives: other candidates (lists,
dicts) travel as their JSON text. Conditional parameters and alternatives get
their own sampler names (``SearchSpace.sampler_name``).
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from modelpress.search.space import SearchSpace

PRIMITIVE = (type(None), bool, int, float, str)


def encode_choices(choices: Sequence[Any]) -> tuple[list, dict]:
    """Optuna categorical choices (primitives only) and the way back."""
    if all(isinstance(c, PRIMITIVE) for c in choices):
        return list(choices), {c: c for c in choices if not isinstance(c, float) or not math.isnan(c)}
    encoded = [json.dumps(c, sort_keys=True) for c in choices]
    return encoded, dict(zip(encoded, choices, strict=True))


def sampler_params(space: SearchSpace, point: Mapping[str, Any]) -> dict:
    """A point in the names and encodings Optuna's trial sees (for enqueueing)."""
    out = {}
    for param in space.params:
        if param.key not in point:
            continue
        spec, case = space.spec_for(param, point)
        value = point[param.key]
        if "choices" in spec and not all(isinstance(c, PRIMITIVE) for c in spec["choices"]):
            value = json.dumps(value, sort_keys=True)
        out[space.sampler_name(param, case)] = value
    return out
