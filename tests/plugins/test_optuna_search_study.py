"""What an Optuna study of a search holds: objective names, a readable name,
no surplus trials, and no point run twice over a finite space."""
from __future__ import annotations

import re

import optuna
import pytest

from modelpress.plugins.optuna_search.storage import open_storage
from modelpress.search.driver import run_search
from modelpress.search.study import strategy_config
from tests.plugins import test_optuna_search_support as toy
from tests.plugins.test_optuna_search_support import FakeEngine, FakeWorkflow


@pytest.fixture
def registry(register_plugin):
    return register_plugin(toy, name="toy_search_plugin")


def study(tmp_path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(str(tmp_path / "s.journal")))


def test_objectives_are_named_after_the_metrics(tmp_path, registry):
    subs = [{"name": "score", "priority": 1}, {"name": "size", "priority": 2}]
    for sampler, names in (("tpe", ["toy-score"]), ("nsga2", ["toy-score", "toy-size"])):
        strategy = {"sampler": sampler, "max_samples": 3, "seed": 0, "storage": "s.journal", "study_name": sampler}
        run_search(FakeEngine(FakeWorkflow(tmp_path, {"q.x": {"choices": [1, 2, 3]}}, strategy, subs), registry))
        assert study(tmp_path, sampler).metric_names == names


def test_the_default_study_name_is_the_config_name_and_a_short_hash(tmp_path, registry):
    wf = FakeWorkflow(tmp_path, {"q.x": {"choices": [1, 2]}}, {"sampler": "tpe"})
    wf.source = tmp_path / "tone search.yaml"
    name = strategy_config(wf)["study_name"]
    assert re.fullmatch(r"tone-search-[0-9a-f]{8}", name), name
    assert strategy_config(wf)["study_name"] == name  # every worker from one config meets in one study
    wf.params = {"q.x": {"choices": [1, 2, 3]}}
    assert strategy_config(wf)["study_name"] != name  # another search, another study
    wf.source = None
    assert re.fullmatch(r"modelpress-[0-9a-f]{8}", strategy_config(wf)["study_name"])


def test_no_surplus_trial_is_left_in_the_study(tmp_path, registry):
    strategy = {"sampler": "random", "max_samples": 4, "seed": 1, "storage": "s.journal", "study_name": "full"}
    wf = FakeWorkflow(tmp_path, {"q.x": {"low": 0.0, "high": 1.0}}, strategy)
    run_search(FakeEngine(wf, registry))
    run_search(FakeEngine(wf, registry), worker=True)  # a worker joining a finished study adds nothing
    trials = study(tmp_path, "full").trials
    assert len(trials) == 4 and all(t.state.name == "COMPLETE" for t in trials)


@pytest.mark.parametrize("seed", range(5))
def test_tpe_with_three_samples_over_three_values_tries_each_once(tmp_path, registry, seed):
    strategy = {"sampler": "tpe", "max_samples": 3, "seed": seed, "n_startup_trials": 1}
    engine = FakeEngine(FakeWorkflow(tmp_path, {"q.x": {"choices": [1, 2, 3]}}, strategy), registry)
    run_search(engine)
    assert sorted(c["q.x"] for c in engine.calls) == [1, 2, 3]


def test_a_finite_space_is_searched_at_most_once_per_point(tmp_path, registry):
    strategy = {"sampler": "random", "max_samples": 50, "seed": 0}
    params = {"q.x": {"choices": [1, 2, 3]}, "q.y": {"low": 0.0, "high": 1.0, "step": 0.5}}
    engine = FakeEngine(FakeWorkflow(tmp_path, params, strategy), registry)
    result = run_search(engine)
    points = [(c["q.x"], c["q.y"]) for c in engine.calls]
    assert len(points) == len(set(points)) == 9 == len(result.trials)  # 3 x 3 points, then it stops
