"""A sampler wrapper that never proposes a point the study already has.

TPE (and random draws) over a small finite space repeat points: 3 samples
over 3 values once ran one value twice and never tried the third. Over a
finite space a trial that repeats a point teaches nothing, so the wrapper
keeps each new trial on points no trial of the study has (finished, failed,
pruned or running on another worker):

- each parameter is first sampled by the wrapped sampler;
- if no unseen grid point agrees with the values chosen so far plus that
  value, the value is replaced by the one of the first unseen point (in grid
  order) that agrees with the values chosen so far.

The values chosen so far always leave some unseen point, so the finished
point is unseen; only when every point has been tried does the wrapped
sampler's choice stand. Points are compared in the names and encodings the
Optuna trial holds (``encoding.sampler_params``).
"""
from __future__ import annotations

from typing import Any

from modelpress.search.space import SearchSpace


def wrap(base: Any, space: SearchSpace, encode: Any) -> Any:
    """``base`` wrapped so that it proposes unseen points of the finite ``space``.

    ``encode(space, point)`` gives a grid point in the trial's names and
    encodings. Returns ``base`` itself when the space is not finite.
    """
    import optuna

    if space.size() is None or not space.params:
        return base
    grid = [encode(space, point) for point in space.grid()]

    class UnseenSampler(optuna.samplers.BaseSampler):
        """Delegates to the wrapped sampler; see the module docstring."""

        def __init__(self) -> None:
            self.base = base

        def infer_relative_search_space(self, study, trial):
            return self.base.infer_relative_search_space(study, trial)

        def sample_relative(self, study, trial, search_space):
            proposed = self.base.sample_relative(study, trial, search_space)
            if proposed and not _unseen(grid, _seen(study, trial), dict(proposed)):
                return {}  # every parameter is then sampled one by one, below
            return proposed

        def sample_independent(self, study, trial, param_name, param_distribution):
            value = self.base.sample_independent(study, trial, param_name, param_distribution)
            seen = _seen(study, trial)
            chosen = dict(trial.params)
            if _unseen(grid, seen, {**chosen, param_name: value}):
                return value
            left = _unseen(grid, seen, chosen)
            return left[0][param_name] if left and param_name in left[0] else value

        def before_trial(self, study, trial):
            self.base.before_trial(study, trial)

        def after_trial(self, study, trial, state, values):
            self.base.after_trial(study, trial, state, values)

        def reseed_rng(self) -> None:
            self.base.reseed_rng()

    return UnseenSampler()


def _seen(study: Any, trial: Any) -> list[dict]:
    """Points of every other trial of the study that has its parameters."""
    from optuna.trial import TrialState

    return [t.params for t in study.get_trials(deepcopy=False)
            if t.number != trial.number and t.state != TrialState.WAITING and t.params]


def _unseen(grid: list[dict], seen: list[dict], chosen: dict) -> list[dict]:
    """Grid points that agree with ``chosen`` and no trial has run."""
    return [p for p in grid if p not in seen and all(p.get(k, _MISSING) == v for k, v in chosen.items())]


_MISSING = object()
