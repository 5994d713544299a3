"""evaluate_model: one lazy session for all metrics, joint keys, details, errors, table rows."""
from __future__ import annotations

import json
import types

import pytest

from modelpress import hookimpl
from modelpress.components import DataContainer, InferenceSession, Metric, ModelHandle, RunContext
from modelpress.errors import ConfigError, UserError
from modelpress.evaluate.evaluator import DETAILS_FILE, evaluate_model, metric_rows


class CountingSession(InferenceSession):
    opened = 0
    closed = 0

    def __init__(self):
        type(self).opened += 1

    def close(self):
        type(self).closed += 1


class Toy(ModelHandle):
    name = "Toy"
    schema = {"type": "object"}

    def open_session(self, accelerator):
        return CountingSession()


class Rows(DataContainer):
    name = "Rows"
    schema = {"type": "object"}

    def rows(self):
        return [{"x": 1}, {"x": 2}, {"x": 4}]


class SumMetric(Metric):
    """Uses the session and the data: sum of x times a configured factor."""

    name = "sum"
    schema = {"type": "object", "properties": {"factor": {"type": "number", "default": 2}}}
    sub_types = {"total": True, "count": False}

    def evaluate(self, model, session, data, sub_types):
        assert isinstance(session(), CountingSession) and session() is session()
        self.details = {"seen": len(data.rows())}
        rows = data.rows()
        return {"total": sum(r["x"] for r in rows) * self.config["factor"], "count": len(rows), "extra": 1}


class NoSession(Metric):
    name = "nosession"
    sub_types = {"one": False}
    needs_data = False

    def evaluate(self, model, session, data, sub_types):
        return {"one": 1}


class Broken(Metric):
    name = "broken"
    sub_types = {"v": True}
    needs_data = False

    def evaluate(self, model, session, data, sub_types):
        return {"v": "high"}


@pytest.fixture
def registry(register_plugin):
    CountingSession.opened = CountingSession.closed = 0
    return register_plugin(types.SimpleNamespace(
        register_model_types=hookimpl(lambda register: register(Toy)),
        register_data_containers=hookimpl(lambda register: register(Rows)),
        register_metrics=hookimpl(lambda register: [register(c) for c in (SumMetric, NoSession, Broken)]),
    ), "evaluation-test")


def run(registry, metrics, work_dir=None):
    context = RunContext(registry, data_configs={"rows": {"type": "Rows"}}, work_dir=work_dir)
    return evaluate_model(registry.model_handle({"type": "Toy"}), metrics, context)


def test_flat_keys_one_lazy_session_and_details(registry, tmp_path):
    metrics = [
        {"name": "a", "type": "sum", "data_config": "rows", "user_config": {},
         "sub_types": [{"name": "total"}, {"name": "count"}]},
        {"name": "b", "type": "sum", "data_config": "rows", "user_config": {"factor": 10},
         "sub_types": [{"name": "total"}]},
        {"name": "c", "type": "nosession", "sub_types": [{"name": "one"}]},
    ]
    values = run(registry, metrics, tmp_path)
    assert values == {"a-total": 14.0, "a-count": 3.0, "b-total": 70.0, "c-one": 1.0}
    assert CountingSession.opened == 1 and CountingSession.closed == 1
    assert json.loads((tmp_path / DETAILS_FILE).read_text()) == {"a": {"seen": 3}, "b": {"seen": 3}}


def test_no_session_opened_when_no_metric_needs_one(registry):
    assert run(registry, [{"name": "c", "type": "nosession"}]) == {"c-one": 1.0}  # first sub type by default
    assert CountingSession.opened == 0


def test_errors_name_the_metric(registry):
    with pytest.raises(ConfigError, match=r"metrics\[0\] \(a\)\.data_config: metric type 'sum' needs data"):
        run(registry, [{"name": "a", "type": "sum", "sub_types": [{"name": "total"}]}])
    with pytest.raises(UserError, match=r"metrics\[0\] \(z\)\.v: metric returned 'high', not a number"):
        run(registry, [{"name": "z", "type": "broken", "sub_types": [{"name": "v"}]}])
    with pytest.raises(ConfigError, match="no plugin provides metric type 'summ'; did you mean 'sum'"):
        run(registry, [{"name": "z", "type": "summ"}])
    assert CountingSession.closed == CountingSession.opened  # closed after a failure too


def test_metric_rows_carry_direction_priority_and_change(registry):
    metrics = [{"name": "a", "type": "sum", "sub_types": [{"name": "total", "priority": 1},
                                                          {"name": "count", "goal": {"type": "threshold", "value": 5}}]},
               {"name": "lat", "type": "nosession", "sub_types": [{"name": "one", "higher_is_better": True}]}]
    rows = metric_rows({"a-total": 14.0, "a-count": 3.0}, metrics, registry, baseline={"a-total": 10.0, "a-count": 2.0})
    assert [r["key"] for r in rows] == ["a-total", "a-count", "lat-one"]
    assert rows[0] | {} == {"key": "a-total", "metric": "a", "sub_type": "total", "value": 14.0, "priority": 1,
                            "higher_is_better": True, "goal": None, "baseline": 10.0, "change": 4.0, "better": True}
    assert rows[1]["higher_is_better"] is False and rows[1]["better"] is False  # count: lower is better
    assert rows[1]["goal"] == {"type": "threshold", "value": 5}
    assert rows[2]["higher_is_better"] is True and rows[2]["value"] is None and "change" not in rows[2]
