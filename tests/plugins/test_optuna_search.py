"""Search strategies and the search driver, on stand-ins for the engine and config."""
from __future__ import annotations

import itertools
import json

import pytest

from modelpress.components import SearchStrategy
from modelpress.errors import ConfigError, UserError
from modelpress.search.driver import run_search
from modelpress.search.study import prepare_study
from tests.plugins import test_optuna_search_support as toy
from tests.plugins.test_optuna_search_support import FakeEngine, FakeWorkflow

XS = [1, 2, 3, 4]
YS = [0.0, 0.5, 1.0]


@pytest.fixture
def registry(register_plugin):
    return register_plugin(toy, name="toy_search_plugin")


def search(tmp_path, registry, strategy, params=None, sub_types=None, fail=lambda p: None, fixed=None):
    params = params or {"q.x": {"choices": XS}, "q.y": {"choices": YS}}
    wf = FakeWorkflow(tmp_path, params, strategy, sub_types, fixed)
    engine = FakeEngine(wf, registry, fail)
    return run_search(engine), engine


def test_exhaustive_visits_every_point_once(tmp_path, registry):
    result, engine = search(tmp_path, registry, {"sampler": "exhaustive"})
    visited = [(c["q.x"], c["q.y"]) for c in engine.calls]
    assert sorted(visited) == sorted(itertools.product(XS, YS))
    assert len(set(visited)) == len(visited) == 12
    assert [t["state"] for t in result.trials] == ["COMPLETE"] * 12
    assert result.best[0].point == {"q.x": 3, "q.y": 0.5}


def test_exhaustive_range_with_step_and_conditional_param(tmp_path, registry):
    params = {"q.x": {"low": 1, "high": 3}, "q.y": {"depends_on": "x", "cases": {"1": [0.0], "3": [0.25, 0.5]}}}
    result, engine = search(tmp_path, registry, {"sampler": "exhaustive"}, params)
    assert sorted(map(lambda c: tuple(sorted(c.items())), engine.calls)) == sorted(
        [(("q.x", 1), ("q.y", 0.0)), (("q.x", 2),), (("q.x", 3), ("q.y", 0.25)), (("q.x", 3), ("q.y", 0.5))])
    assert result.best[0].point == {"q.x": 3, "q.y": 0.5}


def test_exhaustive_refuses_a_float_range_without_step(tmp_path, registry):
    with pytest.raises(ConfigError, match="q.y: exhaustive search needs a 'step'"):
        search(tmp_path, registry, {"sampler": "exhaustive"}, {"q.y": {"low": 0.0, "high": 1.0}})


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_sampler_respects_max_samples_and_seed(tmp_path, registry, sampler):
    params = {"q.x": {"low": 0, "high": 6}, "q.y": {"low": 0.0, "high": 1.0}}
    runs = []
    for seed in (7, 7, 8):
        result, engine = search(tmp_path, registry, {"sampler": sampler, "max_samples": 12, "seed": seed}, params)
        assert len(engine.calls) == len(result.trials) == 12
        runs.append(engine.calls)
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert all(0 <= c["q.x"] <= 6 and 0.0 <= c["q.y"] <= 1.0 for c in runs[0])


def test_tpe_finds_the_known_best(tmp_path, registry):
    params = {"q.x": {"low": 0, "high": 8}, "q.y": {"low": 0.0, "high": 1.0, "step": 0.125}}
    result, _ = search(tmp_path, registry, {"sampler": "tpe", "max_samples": 40, "seed": 0,
                                            "n_startup_trials": 8}, params)
    best = result.best[0].metrics["toy-score"]
    assert best >= -0.0625 - 1e-9  # the true best is 0 at (3, 0.5); a neighbour is -1/16 away


def test_max_iter_and_max_time_stop_the_search(tmp_path, registry):
    result, engine = search(tmp_path, registry, {"sampler": "random", "max_iter": 5, "seed": 0})
    assert len(engine.calls) == 5
    params = {"q.x": {"low": 0, "high": 6}, "q.y": {"low": 0.0, "high": 1.0}}
    result, engine = search(tmp_path, registry, {"sampler": "random", "max_time": 1e-9, "seed": 0}, params)
    assert engine.calls == [] and result.stopped_by == "max_time"


def test_pass_by_pass_fixes_earlier_steps_to_their_best(tmp_path, registry):
    params = {"a.x": {"choices": XS}, "b.y": {"choices": YS}}
    result, engine = search(tmp_path, registry, {"sampler": "exhaustive", "execution_order": "pass-by-pass"},
                            params)
    first, second = engine.calls[:4], engine.calls[4:]
    # phase a: x varies, y stays at its first candidate; phase b: x fixed to a's best (3)
    assert sorted(c["a.x"] for c in first) == XS and {c["b.y"] for c in first} == {0.0}
    assert {c["a.x"] for c in second} == {3} and sorted(c["b.y"] for c in second) == YS
    assert len(engine.calls) == 7 and [t["number"] for t in result.trials] == list(range(7))
    assert result.best[0].point == {"a.x": 3, "b.y": 0.5}


def test_joint_order_searches_the_product(tmp_path, registry):
    params = {"a.x": {"choices": XS}, "b.y": {"choices": YS}}
    _, engine = search(tmp_path, registry, {"sampler": "exhaustive", "execution_order": "joint"}, params)
    assert len(engine.calls) == 12


def test_goals_stop_the_search_when_met(tmp_path, registry):
    subs = [{"name": "score", "priority": 1, "goal": {"type": "threshold", "value": -1.0}}]
    result, engine = search(tmp_path, registry, {"sampler": "exhaustive", "stop_when_goals_met": True},
                            sub_types=subs)
    # grid order: x=1 (score <= -4), (2, 0.0) at -1.25, then (2, 0.5) is the first with score >= -1
    assert engine.calls[-1] == {"q.x": 2, "q.y": 0.5} and len(engine.calls) == 5
    assert [t["state"] for t in result.trials] == ["PRUNED"] * 4 + ["COMPLETE"]
    assert "goals not met: toy-score" in result.trials[0]["error"]
    assert result.stopped_by == "goals"
    assert result.best[0].point == {"q.x": 2, "q.y": 0.5}


def test_goals_without_stop_run_everything_and_prune_misses(tmp_path, registry):
    subs = [{"name": "score", "priority": 1, "goal": {"type": "threshold", "value": -0.3}}]
    result, engine = search(tmp_path, registry, {"sampler": "exhaustive"}, sub_types=subs)
    assert len(engine.calls) == 12
    complete = [t["params"] for t in result.trials if t["state"] == "COMPLETE"]
    assert complete == [{"q.x": 3, "q.y": 0.0}, {"q.x": 3, "q.y": 0.5}, {"q.x": 3, "q.y": 1.0}]


def test_failing_point_is_recorded_and_the_search_goes_on(tmp_path, registry):
    result, engine = search(tmp_path, registry, {"sampler": "exhaustive"},
                            fail=lambda p: "pass 'q' failed: boom" if p["q.x"] == 3 else None)
    assert len(engine.calls) == 12
    failed = [t for t in result.trials if t["state"] == "FAIL"]
    assert [t["params"]["q.x"] for t in failed] == [3, 3, 3]
    assert all(t["error"] == "pass 'q' failed: boom" and t["metrics"] is None for t in failed)
    # (2, 0.5) and (4, 0.5) tie at -1: the earlier trial ranks first
    assert result.best[0].point == {"q.x": 2, "q.y": 0.5}


def test_invalid_config_is_pruned_without_running(tmp_path, registry):
    result, engine = search(tmp_path, registry, {"sampler": "exhaustive"}, fixed={"q": {"max_x": 2}})
    assert {c["q.x"] for c in engine.calls} == {1, 2}
    pruned = [t for t in result.trials if t["state"] == "PRUNED"]
    assert len(pruned) == 6 and all("passes.q.x: " in t["error"] and "above max_x 2" in t["error"]
                                    for t in pruned)


def test_nsga2_writes_the_pareto_front(tmp_path, registry):
    subs = [{"name": "score", "priority": 1}, {"name": "size", "priority": 2}]
    params = {"q.x": {"low": 0, "high": 6}, "q.y": {"low": 0.0, "high": 1.0, "step": 0.25}}
    result, engine = search(tmp_path, registry, {"sampler": "nsga2", "max_samples": 30, "seed": 1,
                                                 "population_size": 10}, params, subs)
    assert len(engine.calls) == 30
    doc = json.loads((tmp_path / "output" / "pareto.json").read_text())
    assert [o["name"] for o in doc["objectives"]] == ["toy-score", "toy-size"]
    values = {t["number"]: (-t["metrics"]["toy-score"], t["metrics"]["toy-size"]) for t in result.trials}
    expected = sorted(n for n, v in values.items()
                      if not any(w[0] <= v[0] and w[1] <= v[1] and w != v for w in values.values()))
    assert [p["trial"] for p in doc["points"]] == expected == result.pareto
    assert all(p["params"] == next(t["params"] for t in result.trials if t["number"] == p["trial"])
               for p in doc["points"])


def test_output_model_num_orders_the_best(tmp_path, registry):
    result, _ = search(tmp_path, registry, {"sampler": "exhaustive", "output_model_num": 3})
    scores = [r.metrics["toy-score"] for r in result.best]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True) and scores[0] == 0.0


def test_tpe_without_an_evaluator_is_refused(tmp_path, registry):
    with pytest.raises(UserError, match="search_strategy.sampler: tpe learns from metrics"):
        search(tmp_path, registry, {"sampler": "tpe", "max_samples": 3}, sub_types=False)


def test_exhaustive_without_an_evaluator_runs_every_point(tmp_path, registry):
    result, engine = search(tmp_path, registry, {"sampler": "exhaustive"}, sub_types=False)
    assert len(engine.calls) == 12 and len(result.best) == 1


class Cycle(SearchStrategy):
    """A third-party strategy: proposes x = 4, 3, 2 and remembers what it was told."""

    name = "cycle"
    schema = {"type": "object", "properties": {}}
    told: list = []

    def __init__(self, config, space, objectives):
        super().__init__(config, space, objectives)
        self.queue = [4, 3, 2]

    def ask(self):
        if not self.queue:
            return None
        x = self.queue.pop(0)
        return {"number": 3 - len(self.queue) - 1, "params": {"q.x": x}}

    def tell(self, trial, values, error=None):
        Cycle.told.append((trial["params"]["q.x"], values, error))


class CyclePlugin:
    from modelpress import hookimpl

    @staticmethod
    @hookimpl
    def register_search_strategies(register):
        register(Cycle)


def test_third_party_strategy_is_one_ask_tell_class(tmp_path, register_plugin):
    register_plugin(toy, name="toy_search_plugin")
    registry = register_plugin(CyclePlugin(), name="cycle")
    Cycle.told = []
    result, engine = search(tmp_path, registry, {"sampler": "cycle"}, params={"q.x": {"choices": XS}})
    assert [c["q.x"] for c in engine.calls] == [4, 3, 2]
    assert Cycle.told == [(4, [-1.25], None), (3, [-0.25], None), (2, [-1.25], None)]  # y stays 0
    assert result.best[0].point == {"q.x": 3}


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_shared_storage_is_prepared_once_and_resumed(tmp_path, registry, kind):
    storage = "study.log" if kind == "journal" else "sqlite:///study.db"
    strategy = {"sampler": "exhaustive", "storage": storage, "study_name": "s"}
    wf = FakeWorkflow(tmp_path, {"q.x": {"choices": XS}, "q.y": {"choices": YS}}, strategy)
    prepare_study(wf, registry)
    prepare_study(wf, registry)  # loads the existing study: no second grid
    engine = FakeEngine(wf, registry)
    first = run_search(engine, worker=True, max_trials=5)
    assert len(engine.calls) == len(first.trials) == 5 and first.complete is False
    second = run_search(FakeEngine(wf, registry), worker=True)
    assert sorted(t["number"] for t in second.trials) == list(range(12))
    assert all(t["state"] == "COMPLETE" for t in second.trials)
    points = [(t["params"]["q.x"], t["params"]["q.y"]) for t in second.trials]
    assert sorted(points) == sorted(itertools.product(XS, YS))


def test_goal_missing_trials_still_teach_the_sampler(tmp_path, registry):
    from modelpress.plugins.optuna_search.storage import open_storage

    subs = [{"name": "score", "priority": 1, "goal": {"type": "threshold", "value": 1.0}}]  # never met
    strategy = {"sampler": "tpe", "max_samples": 5, "seed": 0, "storage": "s.journal", "study_name": "g"}
    result, _ = search(tmp_path, registry, strategy, sub_types=subs)
    assert [t["state"] for t in result.trials] == ["PRUNED"] * 5
    import optuna

    study = optuna.load_study(study_name="g", storage=open_storage(str(tmp_path / "s.journal")))
    pruned = [t for t in study.trials if not t.user_attrs.get("modelpress:surplus")]
    # TPE ranks pruned trials by their reported value: it is the measured score
    assert [t.intermediate_values[0] for t in pruned] == [t["metrics"]["toy-score"] for t in result.trials]


def test_search_logs_its_best_trial_and_pareto_front(tmp_path, registry, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="modelpress")
    subs = [{"name": "score", "priority": 1}, {"name": "size", "priority": 2}]
    result, _ = search(tmp_path, registry, {"sampler": "exhaustive"}, sub_types=subs)
    lines = caplog.text
    assert "search: 12 trial(s) (12 complete)" in lines
    best = next(t for t in result.trials if t["params"] == result.best[0].point)
    assert f"best trial {best['number']}: {best['params']} -> " in lines
    assert result.pareto and all(f"pareto front: trial {n}: " in lines for n in result.pareto)
    assert lines.count("pareto front: trial") == len(result.pareto)
