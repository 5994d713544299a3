"""Metric goals and search objectives, from an evaluator's metric configs.

A metric config is the canonical form of one entry of an evaluator's
``metrics`` list (Olive's form)::

    {"name": "acc", "type": "accuracy", "data_config": "eval", "user_config": {...},
     "sub_types": [{"name": "accuracy", "priority": 1, "higher_is_better": true,
                    "goal": {"type": "max-degradation", "value": 0.01}}]}

Metric values are keyed ``"<metric name>-<sub type>"`` (Olive's joint key).
Goal types follow Olive: ``threshold`` is an absolute bound; the other four
are relative to the input model's value (the baseline) and direction-aware:
an improvement is up for a higher-is-better value and down otherwise.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..components import SubMetric
from ..errors import ConfigError, UserError

DELIMITER = "-"
GOAL_TYPES = ("threshold", "min-improvement", "percent-min-improvement",
              "max-degradation", "percent-max-degradation")
RELATIVE_GOAL_TYPES = GOAL_TYPES[1:]


def joint_key(metric_name: str, sub_type: str) -> str:
    """``"<metric>-<sub type>"``, the key of one value in metrics.json."""
    return f"{metric_name}{DELIMITER}{sub_type}"


@dataclass(frozen=True)
class SubTypeSpec:
    """One requested sub type of one metric, with everything tables and goals need."""

    key: str
    metric: str
    metric_type: str
    sub_type: str
    higher_is_better: bool
    priority: int
    goal: Mapping[str, Any] | None


def sub_type_specs(metric_configs: Iterable[Mapping[str, Any]],
                   default_directions: Mapping[str, Mapping[str, bool]] | None = None) -> list[SubTypeSpec]:
    """Flatten metric configs into one :class:`SubTypeSpec` per requested value.

    ``default_directions`` maps a metric type to ``{sub type: higher_is_better}``
    (the metric class's ``sub_types``); it fills ``higher_is_better`` where the
    config leaves it out.
    """
    default_directions = default_directions or {}
    specs = []
    for metric in metric_configs:
        defaults = default_directions.get(metric.get("type", ""), {})
        for sub in metric.get("sub_types") or []:
            hib = sub.get("higher_is_better")
            if hib is None:
                hib = defaults.get(sub["name"], True)
            specs.append(SubTypeSpec(
                key=joint_key(metric["name"], sub["name"]), metric=metric["name"],
                metric_type=metric.get("type", ""), sub_type=sub["name"],
                higher_is_better=bool(hib), priority=int(sub.get("priority", -1)),
                goal=sub.get("goal") or None))
    return specs


def goal_config_problems(metric_configs: Iterable[Mapping[str, Any]], where: str = "metrics") -> list[str]:
    """Problems with goals that the schema cannot express, one line each.

    Relative goal values must be non-negative; percentages that would cross
    zero (a 100 % degradation of a higher-is-better value) are refused as
    Olive refuses them.
    """
    problems = []
    for i, metric in enumerate(metric_configs):
        for j, sub in enumerate(metric.get("sub_types") or []):
            goal = sub.get("goal")
            if not goal:
                continue
            path = f"{where}[{i}].sub_types[{j}].goal"
            kind, value = goal.get("type"), goal.get("value")
            if kind not in GOAL_TYPES:
                problems.append(f"{path}.type: unknown goal type {kind!r}; use one of {', '.join(GOAL_TYPES)}")
                continue
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                problems.append(f"{path}.value: {value!r} is not a number; give the goal's value as a number")
                continue
            if kind in RELATIVE_GOAL_TYPES and value < 0:
                problems.append(f"{path}.value: {kind} needs a value >= 0, got {value}; "
                                f"the direction comes from higher_is_better")
            hib = sub.get("higher_is_better", True)
            if kind.startswith("percent-") and value >= 100 and (
                    (kind == "percent-max-degradation" and hib) or (kind == "percent-min-improvement" and not hib)):
                problems.append(f"{path}.value: {kind} of {value}% would ask for a value at or past zero; "
                                f"use a value below 100")
    return problems


def needs_input_metrics(metric_configs: Iterable[Mapping[str, Any]]) -> bool:
    """Whether any goal is relative, so the input model must be evaluated too."""
    return any((sub.get("goal") or {}).get("type") in RELATIVE_GOAL_TYPES
               for m in metric_configs for sub in m.get("sub_types") or [])


def resolve_goal(goal: Mapping[str, Any], higher_is_better: bool, baseline: float | None) -> float:
    """The bound a value must reach for ``goal`` (Olive's formulas).

    With ``m = +1`` for higher-is-better values and ``-1`` otherwise:
    min-improvement ``b + m*v``, max-degradation ``b - m*v``,
    percent-min-improvement ``b + m*|b|*v/100``, percent-max-degradation
    ``b - m*|b|*v/100`` (``|b|`` keeps the direction right for negative
    baselines, where Olive's ``b*(1 +- v/100)`` would flip it).
    """
    kind, value = goal["type"], float(goal["value"])
    if kind == "threshold":
        return value
    if baseline is None:
        raise UserError(f"goal {kind}: needs the input model's value of this metric; "
                        f"set evaluate_input_model: true")
    m = 1.0 if higher_is_better else -1.0
    if kind == "min-improvement":
        return baseline + m * value
    if kind == "max-degradation":
        return baseline - m * value
    if kind == "percent-min-improvement":
        return baseline + m * abs(baseline) * value / 100.0
    if kind == "percent-max-degradation":
        return baseline - m * abs(baseline) * value / 100.0
    raise ConfigError(f"goal.type: unknown goal type {kind!r}; use one of {', '.join(GOAL_TYPES)}")


@dataclass(frozen=True)
class GoalResult:
    """The outcome of one goal: the bound it resolved to and whether it was met."""

    key: str
    goal_type: str
    goal_value: float
    higher_is_better: bool
    bound: float
    value: float | None
    baseline: float | None
    met: bool

    def describe(self) -> str:
        """One line, e.g. ``acc-accuracy 0.91 >= 0.88 (max-degradation 0.02): met``."""
        op = ">=" if self.higher_is_better else "<="
        value = "missing" if self.value is None else f"{self.value:.6g}"
        return (f"{self.key} {value} {op} {self.bound:.6g} ({self.goal_type} {self.goal_value:g}): "
                f"{'met' if self.met else 'NOT met'}")


def check_goals(metrics: Mapping[str, float], input_metrics: Mapping[str, float] | None,
                metric_configs: Iterable[Mapping[str, Any]],
                default_directions: Mapping[str, Mapping[str, bool]] | None = None) -> list[GoalResult]:
    """Check every goal of ``metric_configs`` against ``metrics``.

    Relative goals compare with ``input_metrics`` (the baseline); a missing
    baseline is a :class:`UserError` naming the fix. A value missing from
    ``metrics`` (a failed evaluation) counts as not met.
    """
    results = []
    for spec in sub_type_specs(metric_configs, default_directions):
        if not spec.goal:
            continue
        baseline = None
        if spec.goal["type"] in RELATIVE_GOAL_TYPES:
            if not input_metrics or spec.key not in input_metrics:
                raise UserError(f"{spec.key}: goal {spec.goal['type']} needs the input model's value of "
                                f"this metric; set evaluate_input_model: true")
            baseline = float(input_metrics[spec.key])
        bound = resolve_goal(spec.goal, spec.higher_is_better, baseline)
        value = metrics.get(spec.key)
        met = value is not None and (value >= bound if spec.higher_is_better else value <= bound)
        results.append(GoalResult(spec.key, spec.goal["type"], float(spec.goal["value"]),
                                  spec.higher_is_better, bound,
                                  None if value is None else float(value), baseline, bool(met)))
    return results


def goals_met(results: Sequence[GoalResult]) -> bool:
    """True when every goal is met (and trivially when there are none)."""
    return all(r.met for r in results)


def objectives(metric_configs: Iterable[Mapping[str, Any]],
               default_directions: Mapping[str, Mapping[str, bool]] | None = None) -> list[SubMetric]:
    """The search objectives: sub types with a priority > 0, by priority.

    ``SubMetric.name`` is the joint key (``"acc-accuracy"``). As in Olive, a
    lone sub type is the objective even without a priority; with several and
    none prioritised, the first one is used. Two sub types with the same
    priority are a :class:`ConfigError`.
    """
    specs = sub_type_specs(metric_configs, default_directions)
    ranked = sorted((s for s in specs if s.priority > 0), key=lambda s: s.priority)
    seen: dict[int, str] = {}
    for s in ranked:
        if s.priority in seen:
            raise ConfigError(f"evaluator: {seen[s.priority]} and {s.key} both have priority {s.priority}; "
                              f"give each objective its own priority (1 = most important)")
        seen[s.priority] = s.key
    if not ranked and specs:
        ranked = [specs[0]]
    return [SubMetric(s.key, s.higher_is_better, s.priority if s.priority > 0 else 1, s.goal) for s in ranked]
