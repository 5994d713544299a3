"""The search part of the HTML report: the Pareto chart and the trial table.

Reads ``pareto.json`` (see :func:`modelpress.search.pareto.pareto_document`): its
``trials`` list every trial with its state and whether it is on the front;
a file written before that list existed has only the front (``points``).
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .charts import scatter_chart


def trials(pareto: Mapping[str, Any]) -> list[dict]:
    """Every trial of the document (the front only, for an older file)."""
    if pareto.get("trials"):
        return list(pareto["trials"])
    return [{**p, "state": "COMPLETE", "on_front": True} for p in pareto.get("points") or []]


def pareto_svg(pareto: Mapping[str, Any], chart_id: str = "pareto") -> str:
    """Every evaluated trial on the first two objectives (one objective: by
    trial number), the front filled, the dominated trials hollow."""
    objectives = [o["name"] for o in pareto.get("objectives") or []]
    two = len(objectives) > 1
    points = []
    for t in trials(pareto):
        m = t.get("metrics") or {}
        x = m.get(objectives[0]) if two else t.get("trial")
        y = m.get(objectives[1] if two else objectives[0]) if objectives else None
        if isinstance(x, (int, float)) and isinstance(y, (int, float)):
            points.append((float(x), float(y), f"trial {t.get('trial')}: {json.dumps(t.get('params'))}",
                           bool(t.get("on_front"))))
    x_label = objectives[0] if two else "trial"
    y_label = objectives[1] if two else (objectives[0] if objectives else "")
    return scatter_chart(points, x_label=x_label, y_label=y_label, chart_id=chart_id, integer_x=not two)


def trial_rows(pareto: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the trial table: one row per trial, objectives as columns."""
    objectives = [o["name"] for o in pareto.get("objectives") or []]
    params = list(dict.fromkeys(k for t in trials(pareto) for k in (t.get("params") or {})))
    header = ["trial", "state", "front", *params, *objectives, "error"]
    rows = []
    for t in trials(pareto):
        values = t.get("metrics") or {}
        rows.append([str(t.get("trial")), str(t.get("state") or "-"), "yes" if t.get("on_front") else "",
                     *[json.dumps((t.get("params") or {}).get(k)) for k in params],
                     *[_number(values.get(o)) for o in objectives], str(t.get("error") or "")])
    return header, rows


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "-"
