"""Search spaces: spec forms, grids, conditional and alternative parameters, ranking."""
from __future__ import annotations

import pytest

from modelpress.components import SubMetric
from modelpress.config.search_values import parse_spec
from modelpress.errors import ConfigError
from modelpress.search.pareto import pareto_front, rank
from modelpress.search.space import SearchParam, SearchSpace, decode_point


def test_one_grammar_and_one_parameter_type():
    import modelpress.config as config_layer
    import modelpress.search.space as space_module

    assert config_layer.SearchParam is SearchParam is space_module.Param
    assert not hasattr(space_module, "normalize_spec")  # the config layer's to_spec is the only parser
    for raw in ([16, 32], {"choices": [1]}, {"low": 1, "high": 8}, {"low": 1e-5, "high": 1e-3, "log": True},
                {"depends_on": "bits", "cases": {"4": [32, 128], "8": {"low": 1, "high": 2}}}):
        spec = parse_spec(raw, "p")
        assert parse_spec(spec, "p") == spec == parse_spec({"$search": spec}, "p")  # canonical is a fixed point


def test_a_case_written_as_a_list_is_a_choice():
    space = SearchSpace([SearchParam("q.bits", "q", "bits", {"choices": [4, 8]}),
                         SearchParam("q.block", "q", "block", parse_spec(
                             {"depends_on": "bits", "cases": {"4": [32, 128]}}, "q.block"))])
    assert space.grid() == [{"q.bits": 4, "q.block": 32}, {"q.bits": 4, "q.block": 128}, {"q.bits": 8}]


def test_spec_forms_are_normalized():
    assert parse_spec([16, 32], "p") == {"choices": [16, 32]}
    assert parse_spec({"$search": {"choices": ["a"]}}, "p") == {"choices": ["a"]}
    assert parse_spec({"low": 1, "high": 8}, "p") == {"low": 1, "high": 8, "step": None, "log": False,
                                                          "type": "int"}
    assert parse_spec({"low": 1e-5, "high": 1e-3, "log": True}, "p")["type"] == "float"
    with pytest.raises(ConfigError, match="p: low 9 is above high 1; swap them"):
        parse_spec({"low": 9, "high": 1}, "p")
    with pytest.raises(ConfigError, match="p: a log range needs low > 0"):
        parse_spec({"low": 0.0, "high": 1.0, "log": True}, "p")


def test_grid_expands_ranges_and_conditionals_in_order():
    space = SearchSpace([
        SearchParam("q.bits", "q", "bits", {"choices": [4, 8]}),
        SearchParam("q.block", "q", "block", {"depends_on": "bits", "cases": {"4": {"choices": [32, 128]},
                                                                       "8": {"choices": [None]}}}),
        SearchParam("q.lr", "q", "lr", parse_spec({"low": 0.1, "high": 0.3, "step": 0.1}, "lr")),
    ])
    grid = space.grid()
    assert len(grid) == 9 and space.size() == 9
    assert grid[0] == {"q.bits": 4, "q.block": 32, "q.lr": 0.1}
    assert [p["q.lr"] for p in grid[:3]] == [0.1, 0.2, 0.3]
    assert {p["q.block"] for p in grid if p["q.bits"] == 8} == {None}
    assert space.default_point() == {"q.bits": 4, "q.block": 32, "q.lr": 0.1}


def test_dependent_parameter_may_come_first_and_read_a_fixed_parent():
    space = SearchSpace([SearchParam("q.block", "q", "block", {"depends_on": "bits",
                                                         "cases": {"4": {"choices": [32, 64]}}}),
                         SearchParam("q.bits", "q", "bits", {"choices": [4, 16]})])
    assert space.keys == ["q.bits", "q.block"]  # parents first
    assert space.grid() == [{"q.bits": 4, "q.block": 32}, {"q.bits": 4, "q.block": 64}, {"q.bits": 16}]
    fixed = SearchSpace([SearchParam("q.block", "q", "block", {"depends_on": "bits", "cases": {"4": {"choices": [1]}}})],
                        fixed={"q.bits": 4})
    assert fixed.grid() == [{"q.block": 1}]


def test_alternative_fields_are_active_only_when_chosen_and_named_apart():
    space = SearchSpace([SearchParam("t", "t", None, {"choices": [0, 1]}),
                         SearchParam("t.r", "t", "r", {"choices": [8, 16]}, alternative=0),
                         SearchParam("t.r", "t", "r", {"choices": [4]}, alternative=1)])
    assert space.grid() == [{"t": 0, "t.r": 8}, {"t": 0, "t.r": 16}, {"t": 1, "t.r": 4}]
    names = {space.sampler_name(p, None) for p in space.params}
    assert names == {"t", "t.r@0", "t.r@1"}
    assert decode_point({"t.r@1": 4, "q.block|4": 32}) == {"t.r": 4, "q.block": 32}


def test_cycles_and_unenumerable_ranges_are_config_errors():
    with pytest.raises(ConfigError, match="depend on each other in a cycle"):
        SearchSpace([SearchParam("s.a", "s", "a", {"depends_on": "b", "cases": {"1": {"choices": [1]}}}),
                     SearchParam("s.b", "s", "b", {"depends_on": "a", "cases": {"1": {"choices": [1]}}})])
    space = SearchSpace([SearchParam("s.lr", "s", "lr", parse_spec({"low": 0.0, "high": 1.0}, "lr"))])
    assert space.size() is None
    with pytest.raises(ConfigError, match="passes.s.lr: exhaustive search needs a 'step'"):
        space.grid()


def test_rank_and_pareto_front_follow_priorities_and_directions():
    objectives = [SubMetric("m-acc", True, 1), SubMetric("m-lat", False, 2)]
    trials = [
        {"number": 0, "state": "COMPLETE", "metrics": {"m-acc": 0.9, "m-lat": 10.0}},
        {"number": 1, "state": "COMPLETE", "metrics": {"m-acc": 0.9, "m-lat": 5.0}},
        {"number": 2, "state": "COMPLETE", "metrics": {"m-acc": 0.8, "m-lat": 1.0}},
        {"number": 3, "state": "FAIL", "metrics": None, "error": "boom"},
        {"number": 4, "state": "PRUNED", "metrics": {"m-acc": 0.95, "m-lat": 50.0}, "error": "goals not met"},
    ]
    assert [t["number"] for t in rank(trials, objectives)] == [1, 0, 2, 4]
    assert pareto_front(trials, objectives) == [1, 2, 4]
