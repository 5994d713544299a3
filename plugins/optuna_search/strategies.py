"""The base of the search strategies on an Optuna study (see ``samplers``).

Each strategy is an ask/tell :class:`~modelpress.components.SearchStrategy`
whose state lives in an Optuna study, so any number of processes sharing the
study's storage run trials of one search:

- the study is created once, by :meth:`OptunaStrategy.prepare` (``modelpress
  run``); workers only load it, so they never race to create it;
- exhaustive search enqueues every grid point when the study is created:
  Optuna hands each waiting trial to exactly one worker;
- the trial limit (``max_samples``, ``max_iter``) is checked before asking
  (the study's trial count), so a worker that finds the study full stops
  without leaving a trial behind; only two workers asking at the same moment
  for the last place can draw a number past the limit, and that one trial is
  marked pruned (``modelpress:surplus``) and hidden from every record;
- the study's objectives are named after the metrics (``set_metric_names``),
  so optuna-dashboard shows ``tone-accuracy``, not ``Objective 0``;
- random and TPE over a finite space never repeat a point (``unseen``), and
  run at most as many trials as the space has points;
- metrics, the full point and errors are kept as a user attribute, so the
  study alone (optuna-dashboard, another machine) tells the whole story.
"""
from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from modelpress.components import SearchStrategy, SubMetric
from modelpress.errors import ConfigError
from modelpress.search.space import SearchSpace, decode_point

from .encoding import encode_choices, sampler_params
from .storage import create_study, load_study, open_storage

log = logging.getLogger("modelpress")
SURPLUS = "modelpress:surplus"
STOP = "modelpress:stop"
RECORD = "modelpress"  # user attribute: {"point", "metrics", "error", "state", "worker", "footprints"}


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


class OptunaStrategy(SearchStrategy):
    """Base of the Optuna-backed strategies (see the module docstring)."""

    schema: ClassVar[dict | str] = "modelpress.plugins.optuna_search:schemas/random.json"
    requires: ClassVar[dict[str, str]] = {"optuna": "pip install 'modelpress[search]'"}
    #: whether every objective is optimised (else only the first, by priority)
    multi_objective: ClassVar[bool] = False
    #: whether the strategy learns from metrics (refused without an evaluator)
    needs_objectives: ClassVar[bool] = False
    #: whether the space must be enumerable and is enqueued up front
    enumerates: ClassVar[bool] = False
    #: whether proposals over a finite space skip points the study already has
    dedupes: ClassVar[bool] = False

    def __init__(self, config: Mapping[str, Any], space: SearchSpace, objectives: Sequence[SubMetric],
                 study: Any = None):
        super().__init__(config, space, objectives)
        self.limit = self._limit()
        self._live: dict[int, Any] = {}
        self._done = False
        if study is None:
            storage = open_storage(config.get("storage"))
            study = load_study(storage, self.study_name, self.sampler(), float(config.get("wait_s", 60)),
                               config.get("storage") or "memory")
        self.study = study

    # -- set-up ----------------------------------------------------------------

    @property
    def study_name(self) -> str:
        return self.config.get("study_name") or "modelpress"

    @property
    def seed(self) -> int | None:
        seed = self.config.get("seed")
        if seed is not None and self.config.get("worker"):
            # Workers of one study must not replay the same random sequence.
            seed = (int(seed) + os.getpid()) % (2**31)
        return seed

    def directions(self) -> list[str]:
        objectives = self.objectives if self.multi_objective else self.objectives[:1]
        return [("maximize" if o.higher_is_better else "minimize") for o in objectives] or ["minimize"]

    def make_sampler(self) -> Any:
        raise NotImplementedError

    def sampler(self) -> Any:
        """The strategy's Optuna sampler (kept to unseen points where it dedupes)."""
        if not self.dedupes:
            return self.make_sampler()
        from .unseen import wrap

        return wrap(self.make_sampler(), self.space, sampler_params)

    def metric_names(self) -> list[str]:
        """The names of the study's objectives: the metrics' joint keys."""
        objectives = self.objectives if self.multi_objective else self.objectives[:1]
        return [o.name for o in objectives] or ["objective"]

    def _limit(self) -> int | None:
        """How many trials the study runs in all; None: until stopped (max_time)."""
        caps = [int(v) for v in (self.config.get("max_samples"), self.config.get("max_iter")) if v]
        size = self.space.size()
        if self.enumerates:
            if size is None:
                self.space.grid()  # raises the error naming the range without a step
            caps.append(size)
        if self.dedupes and size is not None:
            caps.append(size)  # every point once; more trials would repeat one
        if caps:
            return min(caps)
        if self.config.get("max_time"):
            return None
        if size is not None:
            return size
        raise ConfigError(f"search_strategy.max_samples: the {self.name} sampler over a space with a "
                          f"continuous range needs max_samples, max_iter or max_time; set one of them")

    @classmethod
    def prepare(cls, config: Mapping[str, Any], space: SearchSpace,
                objectives: Sequence[SubMetric]) -> OptunaStrategy:
        """Create the study (once, before any worker) and return a strategy on it."""
        probe = cls.__new__(cls)
        SearchStrategy.__init__(probe, config, space, objectives)
        probe.limit = probe._limit()
        storage = open_storage(config.get("storage"))
        study, created = create_study(storage, probe.study_name, probe.directions(), probe.sampler())
        if created:
            _name_objectives(study, probe.metric_names())
        if created and cls.enumerates:
            for point in space.grid(probe.limit):
                study.enqueue_trial(sampler_params(space, point))
        return cls(config, space, objectives, study=study)

    # -- ask / tell ----------------------------------------------------------

    def stopped(self) -> bool:
        """Whether a worker stopped the study (goals met)."""
        return bool(self.study.user_attrs.get(STOP))

    def ask(self) -> dict | None:
        """The next trial, or None when the study is done or stopped."""
        from optuna.trial import TrialState

        # Only a goal met sets the stop flag: skip the read when none can.
        if self._done or (self.config.get("stop_when_goals_met") and self.stopped()):
            return None
        if self.limit is not None and self._full():
            self._done = True
            return None
        trial = self.study.ask()
        if self.limit is not None and trial.number >= self.limit:
            trial.set_user_attr(SURPLUS, True)
            self.study.tell(trial, state=TrialState.PRUNED)
            self._done = True
            return None
        params = self._suggest(trial)
        self._live[trial.number] = trial
        return {"number": trial.number, "params": params}

    def _full(self) -> bool:
        """Whether the study holds ``limit`` trials and none waits to be run.

        One read of the study per trial (what Optuna's MaxTrialsCallback
        does); it spares every worker an empty surplus trial at the end.
        """
        from optuna.trial import TrialState

        trials = self.study.get_trials(deepcopy=False)
        return len(trials) >= self.limit and not any(t.state == TrialState.WAITING for t in trials)

    def _suggest(self, trial: Any) -> dict:
        point: dict = {}
        for param in self.space.params:
            resolved = self.space.spec_for(param, point)
            if resolved is None:
                continue
            spec, case = resolved
            name = self.space.sampler_name(param, case)
            if "choices" in spec:
                encoded, back = encode_choices(spec["choices"])
                point[param.key] = back[trial.suggest_categorical(name, encoded)]
            elif spec["type"] == "int":
                point[param.key] = trial.suggest_int(name, int(spec["low"]), int(spec["high"]),
                                                     step=int(spec.get("step") or 1), log=spec["log"])
            else:
                if spec["log"] and spec.get("step"):
                    raise ConfigError(f"passes.{param.key}: a float range cannot have both 'log' and 'step'; "
                                      f"drop one")
                point[param.key] = trial.suggest_float(name, float(spec["low"]), float(spec["high"]),
                                                       step=spec.get("step"), log=spec["log"])
        return point

    def tell(self, trial: dict, values: Sequence[float] | None, error: str | None = None) -> None:
        """Finish a trial: COMPLETE with values, PRUNED, or FAIL with its error.

        The driver may set ``trial["state"]`` (``"PRUNED"``), ``trial["metrics"]``,
        ``trial["point"]``, ``trial["worker"]`` and ``trial["footprints"]``; they are stored on the
        trial as the user attribute ``modelpress`` (with the error).
        """
        from optuna.trial import TrialState

        live = self._live.pop(trial["number"])
        state = trial.get("state") or ("FAIL" if error else "COMPLETE")
        # One attribute, one storage write: a shared database pays per write.
        live.set_user_attr(RECORD, _jsonable({"point": trial.get("point") or trial["params"],
                                              "metrics": trial.get("metrics"), "error": error,
                                              "state": state, "worker": trial.get("worker"),
                                              "footprints": trial.get("footprints") or []}))
        n = len(self.study.directions)
        measured = list(values)[:n] if values else None
        if state == "COMPLETE":
            self.study.tell(live, measured or [0.0] * n)
        elif state == "PRUNED" and measured and n > 1:
            # A point that missed a goal was still measured: NSGA-II only learns
            # from complete trials (the record keeps it pruned).
            self.study.tell(live, measured)
        elif state == "PRUNED":
            if measured:
                # TPE ranks pruned trials by their last reported value: without
                # it, a search where most points miss the goal learns nothing.
                live.report(measured[0], step=0)
            self.study.tell(live, state=TrialState.PRUNED)
        else:
            self.study.tell(live, state=TrialState.FAIL)

    def stop(self) -> None:
        """Stop every worker of the study (goals met)."""
        self.study.set_user_attr(STOP, True)

    # -- reading the study ---------------------------------------------------

    def trials(self) -> list[dict]:
        """Every trial of the study, whoever ran it, as trial records."""
        from optuna.trial import TrialState

        records = []
        for t in self.study.get_trials(deepcopy=False):
            if t.user_attrs.get(SURPLUS) or t.state == TrialState.WAITING:
                continue
            data = t.user_attrs.get(RECORD) or {}
            records.append({
                "number": t.number,
                "params": data.get("point") or decode_point(t.params),
                "metrics": data.get("metrics"),
                "error": data.get("error"),
                "state": data.get("state") or t.state.name,
                "footprints": data.get("footprints") or [],
                "worker": data.get("worker"),
            })
        return records

    def wait(self, timeout_s: float) -> bool:
        """Wait until no trial is running elsewhere; True when the study is finished.

        Queued trials left when the study was stopped, or by a worker capped
        with ``max_trials``, are not waited for; the latter make it unfinished.
        """
        from optuna.trial import TrialState

        deadline = time.monotonic() + timeout_s
        while True:
            trials = [t for t in self.study.get_trials(deepcopy=False) if not t.user_attrs.get(SURPLUS)]
            running = sum(t.state == TrialState.RUNNING for t in trials)
            if not running:
                return self.stopped() or not any(t.state == TrialState.WAITING for t in trials)
            if time.monotonic() >= deadline:
                log.warning("search: %d trial(s) still running elsewhere after %.0f s", running, timeout_s)
                return False
            time.sleep(0.2)


def _name_objectives(study: Any, names: list[str]) -> None:
    """Name the study's objectives (an experimental Optuna API: no warning for it)."""
    import warnings

    if len(names) != len(study.directions):
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.set_metric_names(names)
