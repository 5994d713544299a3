"""The named Optuna strategies: exhaustive, random, tpe, nsga2."""
from __future__ import annotations

from typing import Any

from modelpress.search.space import candidates

from .encoding import encode_choices
from .strategies import OptunaStrategy


class Exhaustive(OptunaStrategy):
    """Every point of the grid once (ranges need a ``step`` unless integer)."""

    name = "exhaustive"
    aliases = ("grid",)
    schema = "modelpress.plugins.optuna_search:schemas/exhaustive.json"
    enumerates = True

    def make_sampler(self) -> Any:
        import optuna

        conditional = any("depends_on" in p.spec or p.alternative is not None for p in self.space.params)
        if conditional or not self.space.params:
            # Every point is enqueued, so the sampler never picks one; Optuna's
            # grid samplers cannot describe a conditional space.
            return optuna.samplers.RandomSampler(seed=self.seed)
        grid = {}
        for p in self.space.params:
            values = candidates(p.spec) or []
            grid[p.key] = encode_choices(values)[0] if "choices" in p.spec else values
        return _queued_grid(grid, self.seed)


def _queued_grid(grid: dict, seed: int | None) -> Any:
    """A GridSampler that leaves stopping to the strategy.

    GridSampler calls ``Study.stop()`` once it sees the grid covered, which
    Optuna allows only inside ``Study.optimize``; with ask/tell the strategy
    enforces the limit itself (on the trial number).
    """
    import optuna

    class QueuedGridSampler(optuna.samplers.GridSampler):
        def after_trial(self, study, trial, state, values):
            pass

    return QueuedGridSampler(grid, seed=seed)


class Random(OptunaStrategy):
    """Independent uniform draws (``seed`` makes them repeatable)."""

    name = "random"
    schema = "modelpress.plugins.optuna_search:schemas/random.json"
    dedupes = True

    def make_sampler(self) -> Any:
        import optuna

        return optuna.samplers.RandomSampler(seed=self.seed)


class TPE(OptunaStrategy):
    """Tree-structured Parzen estimator on the top-priority objective."""

    name = "tpe"
    aliases = ("TPESampler",)
    schema = "modelpress.plugins.optuna_search:schemas/tpe.json"
    needs_objectives = True
    dedupes = True

    def make_sampler(self) -> Any:
        import optuna

        return optuna.samplers.TPESampler(
            seed=self.seed, n_startup_trials=int(self.config.get("n_startup_trials", 10)),
            multivariate=bool(self.config.get("multivariate", False)),
            # Workers sharing a study should not propose the point another is running.
            constant_liar=bool(self.config.get("constant_liar", True)))


class NSGA2(OptunaStrategy):
    """NSGA-II on every objective at once (the Pareto front is the answer)."""

    name = "nsga2"
    aliases = ("nsgaii", "NSGAIISampler")
    schema = "modelpress.plugins.optuna_search:schemas/nsga2.json"
    multi_objective = True
    needs_objectives = True

    def make_sampler(self) -> Any:
        import optuna

        cfg = self.config
        return optuna.samplers.NSGAIISampler(
            seed=self.seed, population_size=int(cfg.get("population_size", 50)),
            mutation_prob=cfg.get("mutation_prob"), crossover_prob=float(cfg.get("crossover_prob", 0.9)),
            swapping_prob=float(cfg.get("swapping_prob", 0.5)))


STRATEGIES = (Exhaustive, Random, TPE, NSGA2)
