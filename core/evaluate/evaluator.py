"""Evaluate a model with the metrics of one evaluator.

:func:`evaluate_model` is what the runner calls for a job of kind
``"evaluation"``: it creates each metric through the registry, opens the
model at most once (lazily: ``size_on_disk`` alone never loads it) and
returns a flat ``{"<metric>-<sub type>": value}`` dict. It does no caching:
the engine caches its result under a key of model, metric config and data.

Metrics may leave extra information in a ``details`` attribute (per-class
counts, sample generations); when the run context has a work folder, these
are written to ``metric_details.json`` there, next to the job's result.
"""
from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..components import InferenceSession, ModelHandle, RunContext
from ..errors import ConfigError, UserError
from ..frozen import thaw
from .goals import SubTypeSpec, joint_key, sub_type_specs

log = logging.getLogger("modelpress")
DETAILS_FILE = "metric_details.json"


class SessionFactory:
    """Opens the model's inference session on first call, then reuses it."""

    def __init__(self, model: ModelHandle, context: RunContext):
        self.model, self.context = model, context
        self.session: InferenceSession | None = None
        self.opened = 0

    def __call__(self) -> InferenceSession:
        if self.session is None:
            start = time.perf_counter()
            self.session = self.model.open_session(self.context.accelerator)
            self.opened += 1
            log.info("evaluation: model opened in %.1f s", time.perf_counter() - start)
        return self.session

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None


def _requested(metric: Mapping[str, Any], cls: Any) -> list[str]:
    """Sub type names to compute: the configured ones, else the metric's first."""
    names = [s["name"] for s in metric.get("sub_types") or []]
    if names:
        return names
    return list(cls.sub_types)[:1] or ["value"]


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)  # numpy scalars, 0-d tensors
        except (TypeError, ValueError):
            raise UserError(f"{where}: metric returned {value!r}, not a number; "
                            f"return an int or float") from None
    return float(value)


def evaluate_with_details(model: ModelHandle, metrics: Sequence[Mapping[str, Any]],
                          context: RunContext) -> tuple[dict[str, float], dict[str, Any]]:
    """Like :func:`evaluate_model`, also returning each metric's details by metric name."""
    registry = context.registry
    session = SessionFactory(model, context)
    values: dict[str, float] = {}
    details: dict[str, Any] = {}
    try:
        for i, metric in enumerate(metrics):
            where = f"metrics[{i}] ({metric.get('name', '?')})"
            cls = registry.require("metric", metric.get("type"), f"{where}.type")
            user_config = cls.with_defaults(thaw(metric.get("user_config") or {}))
            instance = registry.create_metric({"type": metric["type"], **user_config}, context)
            data = None
            if metric.get("data_config"):
                data = context.data(metric["data_config"])
            elif cls.needs_data:
                raise ConfigError(f"{where}.data_config: metric type '{cls.name}' needs data; "
                                  f"name one of data_configs")
            wanted = _requested(metric, cls)
            start = time.perf_counter()
            result = instance.evaluate(model, session, data, wanted)
            missing = [s for s in wanted if s not in result]
            if missing:
                raise UserError(f"{where}.sub_types: {cls.name} gave no value for {', '.join(missing)}; "
                                f"it gave {', '.join(sorted(result)) or 'nothing'}")
            for sub in wanted:
                values[joint_key(metric["name"], sub)] = _number(result[sub], f"{where}.{sub}")
            extra = getattr(instance, "details", None)
            if extra:
                details[metric["name"]] = extra
            log.info("evaluation: %s in %.1f s: %s", metric["name"], time.perf_counter() - start,
                     ", ".join(f"{s}={values[joint_key(metric['name'], s)]:.6g}" for s in wanted))
    finally:
        session.close()
    return values, details


def evaluate_model(model: ModelHandle, metrics: Sequence[Mapping[str, Any]], context: RunContext) -> dict[str, float]:
    """Measure ``model`` with the canonical metric configs of one evaluator.

    Returns ``{"<metric name>-<sub type>": value}``. Details the metrics
    report go to ``<context.work_dir>/metric_details.json`` when a work
    folder is set. Calls the ``before_evaluation`` and ``after_evaluation``
    hooks here, in the process that evaluates (the engine caches results,
    so a cached evaluation calls neither).
    """
    hook = context.registry.pm.hook
    hook.before_evaluation(model=model, metric_configs=list(metrics), context=context)
    values, details = evaluate_with_details(model, metrics, context)
    # A copy: a tracking plugin must not change what the engine caches.
    hook.after_evaluation(model=model, metric_values=dict(values), context=context)
    if context.work_dir is not None and details:
        path = Path(context.work_dir) / DETAILS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(details, indent=2, default=str), encoding="utf-8")
    return values


def metric_directions(metrics: Sequence[Mapping[str, Any]], registry: Any) -> dict[str, dict[str, bool]]:
    """``{metric type: {sub type: higher_is_better}}`` from the registered metric classes."""
    found = {}
    for metric in metrics:
        kind = metric.get("type")
        if kind in found or not isinstance(kind, str):
            continue
        canonical = registry.canonical_name("metric", kind)
        if canonical:
            found[kind] = dict(registry.get("metric", canonical).cls.sub_types)
    return found


def metric_rows(values: Mapping[str, float], metrics: Sequence[Mapping[str, Any]],
                registry: Any = None, baseline: Mapping[str, float] | None = None) -> list[dict]:
    """Rows for tables: one per configured sub type, in config order.

    Each row: ``key, metric, sub_type, value, priority, higher_is_better,
    goal`` and, with ``baseline``, ``baseline`` and ``change`` (value minus
    baseline; positive is better when ``better`` is True).
    """
    directions = metric_directions(metrics, registry) if registry is not None else None
    rows = []
    for spec in sub_type_specs(metrics, directions):
        rows.append(_row(spec, values, baseline))
    return rows


def _row(spec: SubTypeSpec, values: Mapping[str, float], baseline: Mapping[str, float] | None) -> dict:
    value = values.get(spec.key)
    row = {"key": spec.key, "metric": spec.metric, "sub_type": spec.sub_type, "value": value,
           "priority": spec.priority, "higher_is_better": spec.higher_is_better,
           "goal": dict(spec.goal) if spec.goal else None}
    if baseline is not None:
        base = baseline.get(spec.key)
        row["baseline"] = base
        if value is not None and base is not None and math.isfinite(value) and math.isfinite(base):
            row["change"] = value - base
            row["better"] = (value > base) if spec.higher_is_better else (value < base)
    return row

