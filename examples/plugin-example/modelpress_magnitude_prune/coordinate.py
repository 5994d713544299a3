"""The "coordinate" search strategy: deterministic coordinate descent.

It starts from the first candidate of every parameter, then sweeps the
parameters one at a time: it tries every other candidate of one parameter
with the others held at the best point so far, moves to the best of them if
that improves the first objective, and goes on with the next parameter. It
stops after a sweep that improved nothing, after ``max_sweeps`` sweeps or
after ``max_samples`` trials. There is no randomness: the same space and the
same results always give the same trials.

``space`` is a :class:`modelpress.search.space.SearchSpace`; its
``spec_for(param, point)`` resolves conditional parameters (``depends_on``)
and fields of alternative pass configs, so this strategy handles both.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

from modelpress.components import SearchStrategy
from modelpress.search.space import candidates


def range_points(spec: dict, count: int) -> list:
    """At most ``count`` evenly spaced values of a range spec (log-spaced if ``log``)."""
    values = candidates(spec)
    if values is not None:
        if len(values) <= count:
            return values
        return [values[round(i * (len(values) - 1) / (count - 1))] for i in range(count)]
    low, high = spec["low"], spec["high"]
    if spec.get("log"):
        low, high = math.log(low), math.log(high)
    points = [low + i * (high - low) / (count - 1) for i in range(count)]
    return [math.exp(p) for p in points] if spec.get("log") else points


class CoordinateSearch(SearchStrategy):
    """Deterministic coordinate descent: one parameter at a time, keep what improves."""

    name = "coordinate"
    aliases = ("coordinate_descent",)
    schema = "modelpress_magnitude_prune:schemas/coordinate.json"

    def __init__(self, config, space, objectives):
        super().__init__(config, space, objectives)
        self.count = max(2, int(config.get("points_per_range") or 5))
        self.limit = int(config.get("max_samples") or 0)
        self.max_sweeps = int(config.get("max_sweeps") or 2)
        self.number = 0
        self.scores: dict[str, float | None] = {}   # asked points -> score (None: failed or waiting)
        self.best = self.complete(space.default_point())
        self.best_score: float | None = None
        self.queue: list[dict] = [self.best]        # points of the current coordinate, not yet asked
        self.waiting: dict[int, dict] = {}          # trial number -> point
        self.coordinate, self.sweep, self.improved = -1, 0, False

    def values(self, param, point: dict) -> list:
        """Candidates of ``param`` at ``point`` ([] when the parameter is inactive there)."""
        resolved = self.space.spec_for(param, point)
        return [] if resolved is None else range_points(resolved[0], self.count)

    def complete(self, point: dict) -> dict:
        """``point`` with inactive parameters dropped and invalid values reset to the first candidate."""
        out: dict = {}
        for param in self.space.params:  # parents come before their dependents
            allowed = self.values(param, out)
            if allowed:
                out[param.key] = point[param.key] if point.get(param.key) in allowed else allowed[0]
        return out

    def fill_queue(self) -> None:
        """Queue the untried candidates of the next parameter around the best point."""
        while not self.queue:
            self.coordinate += 1
            if self.coordinate >= len(self.space.params):
                self.sweep += 1
                if not self.improved or self.sweep >= self.max_sweeps:
                    return
                self.coordinate, self.improved = 0, False
            param = self.space.params[self.coordinate]
            for value in self.values(param, self.best):
                point = self.complete({**self.best, param.key: value})
                if _key(point) not in self.scores and point not in self.queue:
                    self.queue.append(point)

    def ask(self) -> dict | None:
        """The next trial ``{"number", "params"}``, or None when the search is over.

        Coordinate descent is sequential: while results of the current
        parameter are outstanding and nothing else is queued it returns None.
        """
        if self.limit and self.number >= self.limit:
            return None
        if not self.queue and not self.waiting:
            self.fill_queue()
        if not self.queue:
            return None
        point = self.queue.pop(0)
        self.scores[_key(point)] = None
        self.waiting[self.number] = point
        self.number += 1
        return {"number": self.number - 1, "params": dict(point)}

    def tell(self, trial: dict, values: Sequence[float] | None, error: str | None = None) -> None:
        """Record a result; the best point moves when the first objective improves."""
        point = self.waiting.pop(trial["number"], None) or dict(trial["params"])
        score = None
        if error is None and values and values[0] is not None and not math.isnan(values[0]):
            higher = self.objectives[0].higher_is_better if self.objectives else True
            score = float(values[0]) if higher else -float(values[0])
        self.scores[_key(point)] = score
        if score is not None and (self.best_score is None or score > self.best_score):
            self.improved = self.improved or point != self.best
            self.best, self.best_score = dict(point), score


def _key(point: dict) -> str:
    return repr(sorted(point.items()))
