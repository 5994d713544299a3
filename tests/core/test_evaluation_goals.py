"""Goal types (both directions), missing baselines, goal config checks, search objectives."""
from __future__ import annotations

import pytest

from modelpress.errors import ConfigError, UserError
from modelpress.evaluate.goals import check_goals, goal_config_problems, goals_met, needs_input_metrics, objectives


def cfg(goal_type, value, hib, name="m", sub="s", priority=-1):
    return [{"name": name, "type": "t", "sub_types": [{"name": sub, "higher_is_better": hib, "priority": priority,
                                                       "goal": {"type": goal_type, "value": value}}]}]


# (goal type, value, higher_is_better, baseline, bound the value must reach)
CASES = [
    ("threshold", 0.8, True, None, 0.8),
    ("threshold", 50, False, None, 50),
    ("min-improvement", 0.05, True, 0.70, 0.75),
    ("min-improvement", 5, False, 100, 95),
    ("percent-min-improvement", 10, True, 0.50, 0.55),
    ("percent-min-improvement", 10, False, 200, 180),
    ("max-degradation", 0.02, True, 0.90, 0.88),
    ("max-degradation", 3, False, 20, 23),
    ("percent-max-degradation", 5, True, 0.80, 0.76),
    ("percent-max-degradation", 50, False, 10, 15),
    ("percent-max-degradation", 10, True, -2.0, -2.2),  # negative baseline: still a degradation
]


@pytest.mark.parametrize("goal_type,value,hib,baseline,bound", CASES)
def test_each_goal_type_in_both_directions(goal_type, value, hib, baseline, bound):
    inputs = None if baseline is None else {"m-s": baseline}
    step = 1e-6 * max(1.0, abs(bound))
    better, worse = (bound + step, bound - step) if hib else (bound - step, bound + step)
    for candidate, expected in ((bound, True), (better, True), (worse, False)):
        [result] = check_goals({"m-s": candidate}, inputs, cfg(goal_type, value, hib))
        assert result.bound == pytest.approx(bound)
        assert result.met is expected, (candidate, result.describe())
        assert result.baseline == baseline
    assert "met" in result.describe() and result.key in result.describe()


def test_missing_value_and_missing_baseline():
    [result] = check_goals({}, None, cfg("threshold", 1, True))
    assert result.met is False and not goals_met([result]) and "missing" in result.describe()
    with pytest.raises(UserError, match="m-s: goal max-degradation needs the input model's value.*evaluate_input_model: true"):
        check_goals({"m-s": 1.0}, {}, cfg("max-degradation", 1, True))
    assert needs_input_metrics(cfg("max-degradation", 1, True))
    assert not needs_input_metrics(cfg("threshold", 1, True))
    assert goals_met([]) is True


def test_direction_defaults_come_from_the_metric_class():
    metrics = [{"name": "lat", "type": "latency", "sub_types": [{"name": "avg", "goal": {"type": "threshold", "value": 10}}]}]
    [r] = check_goals({"lat-avg": 9.0}, None, metrics, {"latency": {"avg": False}})
    assert r.met and not r.higher_is_better


def test_goal_config_problems():
    assert goal_config_problems(cfg("min-improvement", 0.1, True)) == []
    problems = goal_config_problems(cfg("max-degradation", -1, True) + cfg("percent-max-degradation", 100, True)
                                    + cfg("percent", 1, True) + cfg("threshold", "high", True))
    assert problems == [
        "metrics[0].sub_types[0].goal.value: max-degradation needs a value >= 0, got -1; the direction comes from higher_is_better",
        "metrics[1].sub_types[0].goal.value: percent-max-degradation of 100% would ask for a value at or past zero; use a value below 100",
        "metrics[2].sub_types[0].goal.type: unknown goal type 'percent'; use one of threshold, min-improvement, "
        "percent-min-improvement, max-degradation, percent-max-degradation",
        "metrics[3].sub_types[0].goal.value: 'high' is not a number; give the goal's value as a number",
    ]


def test_objectives_by_priority():
    metrics = [{"name": "acc", "type": "accuracy", "sub_types": [{"name": "accuracy", "priority": 2},
                                                                 {"name": "f1_score"}]},
               {"name": "lat", "type": "latency", "sub_types": [{"name": "avg", "priority": 1}]}]
    found = objectives(metrics, {"accuracy": {"accuracy": True}, "latency": {"avg": False}})
    assert [(o.name, o.higher_is_better, o.priority) for o in found] == [("lat-avg", False, 1), ("acc-accuracy", True, 2)]
    lone = objectives([{"name": "acc", "type": "accuracy", "sub_types": [{"name": "accuracy"}]}])
    assert [(o.name, o.priority) for o in lone] == [("acc-accuracy", 1)]
    metrics[0]["sub_types"][0]["priority"] = 1
    with pytest.raises(ConfigError, match="lat-avg and acc-accuracy both have priority 1|acc-accuracy and lat-avg both have priority 1"):
        objectives(metrics)
