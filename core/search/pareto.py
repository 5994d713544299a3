"""Ranking search trials: best first, the Pareto front, and ``pareto.json``.

A trial record is ``{"number", "params", "metrics", "error", "state"}`` with
``state`` one of ``COMPLETE``, ``PRUNED`` (invalid config, or goals not met:
its metrics are kept), ``FAIL`` (the error says why), ``RUNNING``/``WAITING``
(another worker has it). Objectives are :class:`modelpress.components.SubMetric`
with the joint metric key as ``name``.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..components import SubMetric

PARETO_FILE = "pareto.json"


def _values(record: Mapping[str, Any], objectives: Sequence[SubMetric]) -> list[float] | None:
    """Objective values turned so that smaller is better, or None if any is missing."""
    metrics = record.get("metrics") or {}
    out = []
    for obj in objectives:
        value = metrics.get(obj.name)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            return None
        out.append(-float(value) if obj.higher_is_better else float(value))
    return out


def evaluated(records: Iterable[Mapping[str, Any]], objectives: Sequence[SubMetric]) -> list[dict]:
    """Records that finished with every objective measured (COMPLETE or goal-PRUNED)."""
    return [dict(r) for r in records
            if r.get("state") in ("COMPLETE", "PRUNED") and r.get("metrics") is not None
            and _values(r, objectives) is not None]


def rank(records: Iterable[Mapping[str, Any]], objectives: Sequence[SubMetric]) -> list[dict]:
    """Candidates for the output model, best first.

    COMPLETE trials (goals met) come first, ordered by the objectives in
    priority order (ties by trial number); trials pruned for missing a goal
    follow, so a search where no point meets the goals still names its best
    try. Failed and invalid trials never rank.
    """
    records = [dict(r) for r in records]
    usable = [r for r in records if r.get("state") == "COMPLETE"
              and (not objectives or _values(r, objectives) is not None)]
    missed = [r for r in evaluated(records, objectives) if r.get("state") == "PRUNED"] if objectives else []

    def order(r):
        return (*(_values(r, objectives) or []), r["number"])

    return sorted(usable, key=order) + sorted(missed, key=order)


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether ``a`` is no worse than ``b`` everywhere and better somewhere (minimising)."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(x < y for x, y in zip(a, b, strict=True))


def pareto_front(records: Iterable[Mapping[str, Any]], objectives: Sequence[SubMetric]) -> list[int]:
    """Trial numbers of the non-dominated evaluated trials, by trial number.

    Two trials with equal values are both on the front.
    """
    if not objectives:
        return []
    points = [(r["number"], v) for r in evaluated(records, objectives) if (v := _values(r, objectives)) is not None]
    front = [n for n, v in points if not any(dominates(w, v) for m, w in points if m != n)]
    return sorted(front)


def pareto_document(records: Sequence[Mapping[str, Any]], objectives: Sequence[SubMetric]) -> dict:
    """The content of ``pareto.json``."""
    front = set(pareto_front(records, objectives))
    return {
        "objectives": [{"name": o.name, "higher_is_better": o.higher_is_better, "priority": o.priority}
                       for o in objectives],
        "points": [{"trial": r["number"], "params": r.get("params"), "metrics": r.get("metrics")}
                   for r in sorted(records, key=lambda r: r["number"]) if r["number"] in front],
        # every trial, so a reader (and the report) sees what the front was chosen from
        "trials": [{"trial": r["number"], "state": r.get("state"), "params": r.get("params"),
                    "metrics": r.get("metrics"), "error": r.get("error"), "on_front": r["number"] in front}
                   for r in sorted(records, key=lambda r: r["number"])],
    }


def write_pareto(output_dir: Path, records: Sequence[Mapping[str, Any]], objectives: Sequence[SubMetric]) -> Path:
    """Write ``output_dir/pareto.json`` atomically (several workers may write it)."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / PARETO_FILE
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(pareto_document(records, objectives), indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)
    return path
