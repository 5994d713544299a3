"""Shared pieces of the search tests: a toy plugin and stand-ins for the engine.

``ToyModel`` is a JSON file of numbers; ``Quadratic`` writes its ``x`` and
``y`` into it (failing when ``x`` equals ``fail_at``); the ``toy_score``
metric reads it back: ``score = -((x - 3)**2 + (y - 0.5)**2)`` (best at
x=3, y=0.5) and ``size = x + y`` (lower is better, to trade off against
score). ``FakeEngine`` and ``FakeWorkflow`` mimic the engine and the config
layer with the same function, without files, for fast driver tests.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelpress import hookimpl
from modelpress.components import Accelerator, Metric, ModelHandle, Pass
from modelpress.config import SearchParam


def score(x: float, y: float) -> float:
    """The toy objective: 0 at its best point (x=3, y=0.5)."""
    return -((x - 3) ** 2 + (y - 0.5) ** 2)


class ToyModel(ModelHandle):
    """A JSON file of parameters."""

    name = "ToyModel"
    path_fields = ("model_path",)
    schema = {"type": "object", "additionalProperties": False,
              "properties": {"model_path": {"type": "string", "x-path": True}}, "required": ["model_path"]}


class Quadratic(Pass):
    """Writes ``x`` and ``y`` into the model file."""

    name = "Quadratic"
    schema = {"type": "object", "additionalProperties": False, "properties": {
        "x": {"type": "integer", "default": 0, "x-search": [1, 2, 3]},
        "y": {"type": "number", "default": 0.0},
        "fail_at": {"type": ["integer", "null"], "default": None},
        "sleep": {"type": "number", "default": 0.0},
        "max_x": {"type": ["integer", "null"], "default": None}}}

    @classmethod
    def check_config(cls, config, accelerator):
        if config.get("max_x") is not None and config.get("x", 0) > config["max_x"]:
            return [f"x: {config['x']} is above max_x {config['max_x']}; lower it"]
        return []

    def run(self, model, output_dir):
        if self.config.get("fail_at") is not None and self.config.x == self.config.fail_at:
            raise RuntimeError(f"x={self.config.x} breaks the toy pass")
        time.sleep(self.config.sleep)  # lets workers of a distributed test interleave
        data = json.loads(Path(model.config.model_path).read_text())
        data.update(x=self.config.x, y=self.config.y)
        output_dir.mkdir(parents=True, exist_ok=True)
        out = output_dir / "model.json"
        out.write_text(json.dumps(data))
        return model.replace(model_path=str(out))


class ToyScore(Metric):
    """``score`` (higher is better) and ``size`` (lower is better) of a toy model."""

    name = "toy_score"
    sub_types = {"score": True, "size": False}
    needs_data = False
    schema = {"type": "object", "additionalProperties": False, "properties": {}}

    def evaluate(self, model, session, data, sub_types):
        d = json.loads(Path(model.config.model_path).read_text())
        values = {"score": score(d.get("x", 0), d.get("y", 0.0)), "size": d.get("x", 0) + d.get("y", 0.0)}
        return {s: values[s] for s in sub_types}


@hookimpl
def register_model_types(register):
    register(ToyModel)


@hookimpl
def register_passes(register):
    register(Quadratic)


@hookimpl
def register_metrics(register):
    register(ToyScore)


def toy_config(ws: Path, passes: dict, search: dict | bool, sub_types: list | None = None) -> dict:
    """A workflow config over the toy plugin, all paths under ``ws``."""
    (ws / "input.json").write_text("{}")
    subs = sub_types or [{"name": "score", "priority": 1}]
    return {"input_model": {"type": "ToyModel", "model_path": "input.json"},
            "evaluators": {"toy": {"metrics": [{"name": "toy", "type": "toy_score", "sub_types": subs}]}},
            "evaluator": "toy", "passes": passes, "search_strategy": search,
            "evaluate_input_model": False, "cache_dir": "cache", "output_dir": "output"}


# ------------------------------------------------------------ fake engine


@dataclass
class FakeResult:
    model: Any
    model_id: str
    footprints: list = field(default_factory=list)
    metrics: dict | None = None
    error: str | None = None
    point: dict | None = None
    trial: int | None = None
    entry_dir: Any = None


class FakeWorkflow:
    """What the search driver reads of a Workflow: params, resolve, evaluator."""

    def __init__(self, tmp: Path, params: dict[str, Any], strategy: dict,
                 sub_types: list | None = None, fixed: dict | None = None):
        self.params = params
        self.fixed = fixed or {}
        self.search_strategy = strategy
        self.evaluator = "toy" if sub_types is not False else None
        subs = sub_types or [{"name": "score", "priority": 1}]
        self.evaluators = {"toy": {"metrics": [{"name": "toy", "type": "toy_score", "sub_types": subs}]}}
        self.base_dir, self.output_dir = tmp, tmp / "output"
        self.input_model = {"type": "ToyModel", "model_path": "input.json"}
        self.passes = []

    def search_params(self):
        return [SearchParam(k, k.split(".")[0], k.split(".")[1], {"$search": spec}) for k, spec in self.params.items()]

    def resolve(self, point):
        chain: dict[str, dict] = {}
        for key in self.params:
            step, name = key.split(".")
            chain.setdefault(step, {"type": "Quadratic", **self.fixed.get(step, {})})
            if key in point:
                chain[step][name] = point[key]
        return list(chain.items())


class FakeEngine:
    """Runs a point by computing the toy metrics; records every call."""

    def __init__(self, workflow: FakeWorkflow, registry: Any,
                 fail: Callable[[dict], str | None] = lambda point: None):
        self.workflow, self.registry, self.fail = workflow, registry, fail
        self.accelerator = Accelerator()
        self.calls: list[dict] = []

    def run_point(self, point, trial=None):
        self.calls.append(dict(point))
        error = self.fail(point)
        if error:
            return FakeResult(None, "x", [], None, error, point, trial)
        values: dict[str, float] = {}
        for _step, config in self.workflow.resolve(point):
            values.update({k: config[k] for k in ("x", "y") if k in config})
        x, y = values.get("x", 0), values.get("y", 0.0)
        metrics = {"toy-score": score(x, y), "toy-size": x + y}
        return FakeResult({"x": x, "y": y}, f"m{x}-{y}", [{"step": "toy", "trial": trial}], metrics, None,
                          point, trial)
