"""Lifecycle hooks: run start/end, run error, before/after evaluation.

Each test registers a recording plugin and checks the hook was called with
the documented arguments, in order, once.
"""
from __future__ import annotations

import types

import pytest

import modelpress
from modelpress import hookimpl
from modelpress.components import RunContext
from modelpress.evaluate.evaluator import evaluate_model
from tests.core.test_engine import config  # the three-pass text workflow
from tests.core.test_evaluation import CountingSession, Rows, SumMetric, Toy


class Recorder:
    """Implements every lifecycle hook; records (hook, salient argument)."""

    def __init__(self):
        self.calls: list[tuple] = []

    @hookimpl
    def before_run(self, workflow, context):
        self.calls.append(("before_run", [s.name for s in workflow.passes], context.registry is not None))

    @hookimpl
    def after_run(self, workflow, run_result, context):
        self.calls.append(("after_run", run_result.output_dir.name))

    @hookimpl
    def on_run_error(self, workflow, error, context):
        self.calls.append(("on_run_error", type(error).__name__, str(error)))

    @hookimpl
    def before_pass(self, step, model, context):
        self.calls.append(("before_pass", step))

    @hookimpl
    def after_pass(self, step, model, result, context):
        self.calls.append(("after_pass", step))

    @hookimpl
    def before_evaluation(self, model, metric_configs, context):
        self.calls.append(("before_evaluation", model.name, [m["name"] for m in metric_configs]))

    @hookimpl
    def after_evaluation(self, model, metric_values, context):
        metric_values["tampered"] = 1.0  # a copy: must not reach the caller
        self.calls.append(("after_evaluation", model.name, sorted(metric_values)))


@pytest.fixture
def recorder(register_plugin):
    from tests.core import engine_plugin

    register_plugin(engine_plugin, name="engine_plugin")
    rec = Recorder()
    register_plugin(rec, name="recorder")
    return rec


def test_run_hooks_wrap_the_pass_hooks(recorder, tmp_path):
    (tmp_path / "base.txt").write_text("base")
    (tmp_path / "data.txt").write_text("abc\n")
    modelpress.run(config(tmp_path))
    names = [c[0] for c in recorder.calls]
    assert names == ["before_run"] + ["before_pass", "after_pass"] * 3 + ["after_run"]
    assert recorder.calls[0] == ("before_run", ["one", "two", "three"], True)
    assert recorder.calls[-1] == ("after_run", "out")


def test_on_run_error_sees_the_failure_and_it_is_raised_again(recorder, tmp_path):
    from modelpress.errors import PassFailed

    (tmp_path / "base.txt").write_text("base")
    (tmp_path / "data.txt").write_text("abc\n")
    cfg = config(tmp_path)
    cfg["passes"]["three"] = {"type": "FailingPass"}
    with pytest.raises(PassFailed, match="boom in the pass"):
        modelpress.run(cfg)
    assert recorder.calls[0][0] == "before_run"
    assert recorder.calls[-1][:2] == ("on_run_error", "PassFailed")
    assert "boom in the pass" in recorder.calls[-1][2]
    assert "after_run" not in [c[0] for c in recorder.calls]


def test_evaluation_hooks_see_the_configs_and_the_values(register_plugin):
    CountingSession.opened = CountingSession.closed = 0
    registry = register_plugin(types.SimpleNamespace(
        register_model_types=hookimpl(lambda register: register(Toy)),
        register_data_containers=hookimpl(lambda register: register(Rows)),
        register_metrics=hookimpl(lambda register: register(SumMetric)),
    ), "evaluation-test")
    rec = Recorder()
    registry = register_plugin(rec, name="recorder")
    metrics = [{"name": "a", "type": "sum", "data_config": "rows", "user_config": {},
                "sub_types": [{"name": "total"}]}]
    context = RunContext(registry, data_configs={"rows": {"type": "Rows"}})
    values = evaluate_model(registry.model_handle({"type": "Toy"}), metrics, context)
    assert values == {"a-total": 14.0}  # the hook's change to its copy did not leak
    assert rec.calls == [("before_evaluation", "Toy", ["a"]), ("after_evaluation", "Toy", ["a-total", "tampered"])]
