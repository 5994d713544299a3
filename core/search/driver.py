"""Search over pass parameters: the driver between a strategy and the engine.

``run_search(engine)`` asks the configured strategy (any registered
:class:`~modelpress.components.SearchStrategy`) for points, runs each with
``engine.run_point``, and tells the strategy the objective values. A point
whose pass config is invalid is pruned without running; a point that fails is
recorded with its error (the engine never caches a failure) and the search
goes on; a point whose metrics miss a goal is pruned but keeps its metrics.

Orders: ``joint`` searches every parameter together; ``pass-by-pass``
searches each step's parameters in turn (one study per step), earlier steps
fixed to their best point and later ones to their first candidate.

Distributed: strategies with a ``prepare`` classmethod keep their state in a
shared store (the Optuna plugin). ``modelpress run`` prepares the study once;
``modelpress search-worker CONFIG`` (:func:`modelpress.api.search_worker_main`) only joins
it. Every worker reads all trials back from the store, so each ends with the
same ranking, ``pareto.json`` and output folder.
"""
from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..components import SubMetric
from ..errors import UserError
from ..frozen import Config
from .pareto import pareto_front, rank, write_pareto
from .space import SearchSpace, space_from_workflow
from .study import phase_config, prepare_phases, search_objectives, search_phases, strategy_config

log = logging.getLogger("modelpress")
WAIT_FOR_OTHERS_S = 3600.0
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"  # recorded on each trial this process runs


@dataclass
class SearchResult:
    """What a search found: the best points (local results), every trial, the front."""

    best: list = field(default_factory=list)
    trials: list[dict] = field(default_factory=list)
    pareto: list[int] = field(default_factory=list)
    objectives: list[SubMetric] = field(default_factory=list)
    trial_footprints: list[list[dict]] = field(default_factory=list)
    stopped_by: str | None = None
    complete: bool = True


# ------------------------------------------------------------------ driver


class _Search:
    """One search run by this process (possibly one worker among several)."""

    def __init__(self, engine: Any, worker: bool, max_trials: int | None, wait_s: float):
        self.engine, self.wf, self.registry = engine, engine.workflow, engine.registry
        self.worker, self.max_trials, self.wait_s = worker, max_trials, wait_s
        self.cfg = strategy_config(self.wf)
        self.space = space_from_workflow(self.wf)
        self.objectives, self.metric_configs, self.directions = search_objectives(self.wf, self.registry)
        self.has_goals = any(s.get("goal") for m in self.metric_configs for s in m.get("sub_types") or [])
        self.cls = self.registry.require("search_strategy", self.cfg["sampler"], "search_strategy.sampler")
        if getattr(self.cls, "needs_objectives", False) and not self.objectives:
            raise UserError(f"search_strategy.sampler: {self.cfg['sampler']} learns from metrics; "
                            f"set an evaluator with metrics, or use the exhaustive or random sampler")
        self.input_metrics = self._input_metrics()
        self.start = time.monotonic()
        self.ran = 0
        self.local: dict[int, Any] = {}
        self.stopped_by: str | None = None
        self.complete = True

    def _input_metrics(self) -> dict | None:
        from ..evaluate.goals import needs_input_metrics

        if not self.metric_configs or not needs_input_metrics(self.metric_configs):
            return None
        return self.engine.evaluate(self.engine.input_model(), self.engine.input_model_id())

    # -- one trial -------------------------------------------------------------

    def invalid(self, point: dict) -> str | None:
        """Why a point's pass configs are invalid, or None."""
        try:
            chain = self.wf.resolve(point)
        except UserError as exc:
            return str(exc)
        accelerator = getattr(self.engine, "accelerator", None)
        lines = []
        for step, config in chain:
            cls = self.registry.get("pass", config["type"], f"passes.{step}.type").cls
            lines += [f"passes.{step}.{line}" for line in cls.check_config(config, accelerator)]
        return "; ".join(lines) or None

    def run_trial(self, point: dict, number: int) -> dict:
        """Run one point; returns its trial record (and keeps the local result)."""
        from ..evaluate.goals import check_goals, goals_met

        record: dict[str, Any] = {"number": number, "params": point, "metrics": None, "error": None,
                  "state": "PRUNED", "footprints": [], "goals_met": None, "worker": WORKER_ID}
        problem = self.invalid(point)
        if problem:
            log.info("trial %d pruned: %s", number, problem)
            return {**record, "error": problem}
        result = self.engine.run_point(point, trial=number)
        record["footprints"] = list(result.footprints or [])
        if result.error:
            log.warning("trial %d failed: %s", number, result.error)
            return {**record, "state": "FAIL", "error": result.error}
        metrics = dict(result.metrics or {})
        missing = [o.name for o in self.objectives if o.name not in metrics]
        if missing:
            return {**record, "state": "FAIL", "metrics": metrics,
                    "error": f"evaluation gave no value for {', '.join(missing)}"}
        self.local[number] = result
        record.update(metrics=metrics if result.metrics is not None else None, state="COMPLETE")
        if self.has_goals:
            goals = check_goals(metrics, self.input_metrics, self.metric_configs, self.directions)
            record["goals_met"] = goals_met(goals)
            if not record["goals_met"]:
                missed = "; ".join(g.describe() for g in goals if not g.met)
                record.update(state="PRUNED", error=f"goals not met: {missed}")
        log.info("trial %d %s: %s %s", number, record["state"].lower(), point, metrics)
        return record

    # -- phases ----------------------------------------------------------------

    def strategies(self, phases: list) -> list:
        """One strategy per phase. Not a worker: create every phase's study now
        (:func:`prepare_study`'s work), so workers never wait for a later
        phase's study to appear. A worker joins each when its phase starts."""
        if self.worker:
            return [None] * len(phases)
        return prepare_phases(self.cls, self.cfg, phases, self.objectives)

    def strategy(self, step: str | None, space: SearchSpace, prepared: Any = None):
        if prepared is not None:
            return prepared
        return self.cls(Config(phase_config(self.cfg, step, self.worker)), space, self.objectives)

    def out_of_budget(self) -> bool:
        max_time = self.cfg.get("max_time")
        if max_time and time.monotonic() - self.start >= float(max_time):
            self.stopped_by = "max_time"
            return True
        return self.max_trials is not None and self.ran >= self.max_trials

    def run_phase(self, step: str | None, space: SearchSpace, fixed: dict, offset: int,
                  prepared: Any = None) -> tuple[list[dict], bool]:
        """Run trials of one phase until the strategy is done; returns (records, stop)."""
        strategy = self.strategy(step, space, prepared)
        local_records = []
        while not self.out_of_budget():
            trial = strategy.ask()
            if trial is None:
                break
            point = {**fixed, **trial["params"]}
            record = self.run_trial(point, offset + trial["number"])
            local_records.append(record)
            trial.update(state=record["state"], metrics=record["metrics"], point=point,
                         footprints=record["footprints"], worker=record["worker"])
            values = None
            if record["metrics"] is not None and self.objectives:
                values = [record["metrics"][o.name] for o in self.objectives]
            strategy.tell(trial, values, record["error"])
            self.ran += 1
            if self.cfg.get("stop_when_goals_met") and record["goals_met"]:
                log.info("trial %d meets every goal: search stops", record["number"])
                getattr(strategy, "stop", lambda: None)()
                self.stopped_by = "goals"
                break
        if hasattr(strategy, "wait"):
            self.complete = strategy.wait(self.wait_s) and self.complete
        if hasattr(strategy, "trials"):
            records = [{**r, "number": offset + r["number"]} for r in strategy.trials()]
        else:
            records = local_records
        stopped = self.stopped_by is not None or bool(getattr(strategy, "stopped", lambda: False)())
        if stopped and self.stopped_by is None:
            self.stopped_by = "goals"
        return sorted(records, key=lambda r: r["number"]), stopped

    def run(self) -> SearchResult:
        records: list[dict] = []
        fixed: dict = {}
        phases = search_phases(self.cfg, self.space)
        prepared = self.strategies(phases)
        for (step, sub), strategy in zip(phases, prepared, strict=True):
            later = {k: v for k, v in self.space.default_point().items()
                     if step is not None and k not in sub.keys and k not in fixed}
            phase_fixed = {**later, **fixed}
            offset = (records[-1]["number"] + 1) if records else 0
            phase_records, stop = self.run_phase(step, sub, phase_fixed, offset, strategy)
            records += phase_records
            if step is not None:
                best = rank(phase_records, self.objectives)
                chosen = best[0]["params"] if best else sub.default_point()
                fixed.update({k: v for k, v in chosen.items() if k in sub.keys})
                log.info("pass-by-pass: step %s fixed to %s", step, {k: fixed[k] for k in sub.keys if k in fixed})
            if stop or self.out_of_budget():
                break
        return self.result(records)

    def result(self, records: list[dict]) -> SearchResult:
        limit = int(self.cfg.get("output_model_num") or 1)
        best = []
        for record in rank(records, self.objectives)[:limit]:
            local = self.local.get(record["number"])
            if local is None:  # another worker ran it: the shared cache makes this a lookup
                local = self.engine.run_point(record["params"], trial=record["number"])
            if local.error is None:
                best.append(local)
        trials = [{k: r.get(k) for k in ("number", "params", "metrics", "error", "state", "worker")}
                  for r in records]
        if self.wf.output_dir is not None:
            write_pareto(Path(self.wf.output_dir), trials, self.objectives)
        front = pareto_front(trials, self.objectives)
        _log_summary(trials, best, front)
        return SearchResult(best=best, trials=trials, pareto=front,
                            objectives=list(self.objectives),
                            trial_footprints=[r.get("footprints") or [] for r in records],
                            stopped_by=self.stopped_by, complete=self.complete)


def _log_summary(trials: list[dict], best: list, front: list[int]) -> None:
    """The search's outcome in the log: counts by state, the best trial, the front."""
    states: dict[str, int] = {}
    for t in trials:
        states[t["state"]] = states.get(t["state"], 0) + 1
    log.info("search: %d trial(s) (%s)", len(trials), ", ".join(f"{n} {s.lower()}" for s, n in sorted(states.items())))
    if best:
        log.info("best trial %s: %s -> %s", best[0].trial, best[0].point, best[0].metrics)
    by_number = {t["number"]: t for t in trials}
    for number in front:
        log.info("pareto front: trial %s: %s -> %s", number, by_number[number]["params"], by_number[number]["metrics"])


def run_search(engine: Any, *, worker: bool = False, max_trials: int | None = None,
               wait_s: float = WAIT_FOR_OTHERS_S) -> SearchResult:
    """Search the workflow's space with its strategy; see the module docstring.

    ``worker``: join an existing study instead of creating it; ``max_trials``:
    this process runs at most that many trials; ``wait_s``: how long to wait
    for trials other workers are still running before ranking.
    """
    return _Search(engine, worker, max_trials, wait_s).run()
