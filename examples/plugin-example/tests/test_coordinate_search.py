"""The "coordinate" strategy against the SearchStrategy contract (ask/tell), and
the plugin as an installed third-party package (entry point, CLI)."""
from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata

import modelpress_magnitude_prune
from modelpress_magnitude_prune.coordinate import CoordinateSearch, range_points

from modelpress.components import SubMetric
from modelpress.frozen import Config
from modelpress.search.space import Param, SearchSpace

SPACE = [
    Param("prune.sparsity", "prune", "sparsity", {"choices": [0.25, 0.5, 0.75]}),
    Param("lora.r", "lora", "r", {"low": 4, "high": 16, "step": 4, "log": False, "type": "int"}),
    Param("builder.precision", "builder", "precision", {"choices": ["int4", "fp32"]}),
    Param("builder.block_size", "builder", "block_size",
          {"depends_on": "precision", "cases": {"int4": {"choices": [32, 128]}, "fp32": {"choices": [None]}}}),
]


def drive(strategy, objective) -> list[dict]:
    """Ask until the strategy is done, telling each trial its objective value."""
    asked = []
    while (trial := strategy.ask()) is not None:
        asked.append(trial["params"])
        strategy.tell(trial, [objective(trial["params"])])
    return asked


def loss(p) -> float:
    return (p["prune.sparsity"] - 0.5) ** 2 + (p["lora.r"] - 12) ** 2 + (0 if p["builder.block_size"] == 128 else 1)


def test_coordinate_descent_finds_the_optimum_deterministically():
    runs = [drive(CoordinateSearch(Config({}), SearchSpace(SPACE), [SubMetric("loss", False)]), loss)
            for _ in range(2)]
    assert runs[0] == runs[1], "same space and results -> same trials"
    asked = runs[0]
    assert asked[0] == {"prune.sparsity": 0.25, "lora.r": 4, "builder.precision": "int4", "builder.block_size": 32}
    assert [p["prune.sparsity"] for p in asked[:3]] == [0.25, 0.5, 0.75]
    assert min(asked, key=loss) == {"prune.sparsity": 0.5, "lora.r": 12, "builder.precision": "int4",
                                    "builder.block_size": 128}
    assert len({repr(sorted(p.items())) for p in asked}) == len(asked), "no point is asked twice"
    fp32 = [p for p in asked if p["builder.precision"] == "fp32"]
    assert fp32 and all(p["builder.block_size"] is None for p in fp32), "a dependent follows its case"


def test_fields_of_an_alternative_are_searched_only_when_it_is_chosen():
    space = SearchSpace([Param("quant", "quant", None, {"choices": [0, 1]}),
                         Param("quant.block_size", "quant", "block_size", {"choices": [32, 128]}, alternative=0)])
    asked = drive(CoordinateSearch(Config({}), space, [SubMetric("size", False)]),
                  lambda p: p["quant"] * 10 + p.get("quant.block_size", 0) / 100)
    assert {"quant": 1} in asked, "alternative 1 has no block_size to set"
    assert all(("quant.block_size" in p) == (p["quant"] == 0) for p in asked)
    assert {"quant": 0, "quant.block_size": 128} in asked


def test_higher_is_better_failures_and_max_samples():
    strategy = CoordinateSearch(Config({"max_samples": 4}), SearchSpace(SPACE[:2]), [SubMetric("acc", True)])
    first = strategy.ask()
    strategy.tell(first, None, "the pass failed")
    seen = [first]
    while (trial := strategy.ask()) is not None:
        seen.append(trial)
        strategy.tell(trial, [trial["params"]["prune.sparsity"]])
    assert [t["number"] for t in seen] == [0, 1, 2, 3]
    assert strategy.best["prune.sparsity"] == 0.75  # highest accuracy wins


def test_range_points_spreads_float_and_log_ranges():
    assert range_points({"low": 0.0, "high": 1.0, "step": None, "log": False, "type": "float"}, 5) == \
        [0.0, 0.25, 0.5, 0.75, 1.0]
    logs = range_points({"low": 1e-4, "high": 1e-2, "step": None, "log": True, "type": "float"}, 3)
    assert [round(v, 8) for v in logs] == [1e-4, 1e-3, 1e-2]
    assert range_points({"low": 0, "high": 64, "step": 8, "log": False, "type": "int"}, 3) == [0, 32, 64]


def test_the_package_declares_its_entry_point():
    found = [ep for ep in metadata.entry_points(group="modelpress") if ep.name == "magnitude_prune"]
    assert found, "install the plugin: pip install -e examples/plugin-example"
    assert found[0].load() is modelpress_magnitude_prune


def test_modelpress_plugins_lists_the_pass_and_strategy():
    env = {k: v for k, v in os.environ.items() if k != "MODELPRESS_DISABLE_PLUGIN_AUTOLOAD"}
    proc = subprocess.run([sys.executable, "-m", "modelpress", "plugins"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()]
    # KIND NAME PLUGIN DISTRIBUTION VERSION STATUS: the distribution is the one pip installed
    assert ["pass", "MagnitudePrune", "magnitude_prune", "modelpress-magnitude-prune", "0.1.0", "available"] in rows
    strategy = next(r for r in rows if r[:3] == ["search", "strategy", "coordinate"])
    assert "magnitude_prune" in strategy and strategy[-1] == "available"
    schema = subprocess.run([sys.executable, "-m", "modelpress", "schema", "MagnitudePrune"],
                            capture_output=True, text=True, env=env)
    assert schema.returncode == 0, schema.stderr
    assert '"sparsity"' in schema.stdout and '"x-search"' in schema.stdout
