"""Running a workflow: the one place that ties the engine, the search and the output folder.

The engine runs a chain of passes (:mod:`modelpress.engine.chain`), the search
runs trials through it (:mod:`modelpress.search.driver`), the outputs module
writes the folder (:mod:`modelpress.engine.outputs`). This module decides
between one point and a search and calls them in order, so none of them
imports another's caller.
"""
from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

from .errors import ConfigError, UserError

__all__ = ["run_engine", "run_workflow", "search_worker_main"]


def run_workflow(config: Any, **overrides: Any) -> Any:
    """Load, validate and run a workflow (path, dict or Workflow); returns a
    :class:`modelpress.engine.outputs.RunResult`."""
    from . import config as config_mod
    from .engine.chain import LOG_LEVELS, Engine
    from .engine.lifecycle import run_with_hooks

    workflow = config if hasattr(config, "resolve") else config_mod.load(config)
    for key, value in overrides.items():
        if not hasattr(workflow, key):
            raise ConfigError(f"{key}: unknown run option")
        setattr(workflow, key, Path(value).resolve() if key.endswith("_dir") and value is not None else value)
    logging.getLogger("modelpress").setLevel(LOG_LEVELS.get(workflow.log_severity_level, logging.INFO))
    if workflow.clean_cache:
        shutil.rmtree(workflow.cache_dir, ignore_errors=True)
    return run_with_hooks(Engine(workflow), run_engine)


def run_engine(engine: Any) -> Any:
    """Run an engine's workflow (one point, or a search) and write the output folder."""
    from .engine.outputs import check_output_dir, write_outputs

    wf = engine.workflow
    check_output_dir(Path(wf.output_dir))  # before any pass runs, not after all of them
    engine.started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    input_metrics = None
    if wf.evaluate_input_model and wf.evaluator:
        input_metrics = engine.evaluate(engine.input_model(), engine.input_model_id())
    if wf.search_strategy:
        from .search.driver import run_search

        search = run_search(engine)
        if not search.best:
            raise UserError("search_strategy: no trial succeeded; see footprints.json for each error")
        best, footprints = search.best[0], [n for t in search.trial_footprints for n in t]
    else:
        search, best = None, engine.run_point(None)
        footprints = best.footprints
    return write_outputs(engine, best, footprints, input_metrics, search)


def search_worker_main(config_path: str, max_trials: int | None = None, wait_s: float | None = None) -> int:
    """``modelpress search-worker CONFIG``: run trials of the config's shared study.

    The study must exist (``modelpress run CONFIG`` creates it; a worker
    started first waits up to a minute for it). When the study is finished,
    the worker writes the output folder like ``modelpress run`` does.
    """
    from filelock import FileLock

    from . import config as config_mod
    from .engine.chain import Engine
    from .engine.outputs import write_outputs
    from .search.driver import WAIT_FOR_OTHERS_S, run_search

    workflow = config_mod.load(config_path)
    if not workflow.search_strategy:
        raise UserError(f"{config_path}: search_strategy is off; a search worker needs a search "
                        f"(set search_strategy with a storage)")
    if not workflow.search_strategy.get("storage"):
        raise UserError("search_strategy.storage: a search worker needs a storage shared with the "
                        "other workers; set an Optuna URL (postgresql://..., sqlite:///...) or a journal file")
    engine = Engine(workflow)
    result = run_search(engine, worker=True, max_trials=max_trials,
                        wait_s=WAIT_FOR_OTHERS_S if wait_s is None else wait_s)
    done = sum(1 for t in result.trials if t["state"] in ("COMPLETE", "PRUNED", "FAIL"))
    print(f"search-worker: study has {done} finished trial(s); best: "
          f"{result.best[0].point if result.best else 'none yet'}")
    if result.complete and result.best:
        out = Path(workflow.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        input_metrics = None
        if workflow.evaluate_input_model and workflow.evaluator:
            input_metrics = engine.evaluate(engine.input_model(), engine.input_model_id())
        footprints = [n for nodes in result.trial_footprints for n in nodes]
        with FileLock(str(out / ".search-output.lock")):
            write_outputs(engine, result.best[0], footprints, input_metrics, result)
    return 0
