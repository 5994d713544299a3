"""Helpers the built-in metrics share: prompts from data rows, percentiles."""
from __future__ import annotations

import logging
import string
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from modelpress.errors import UserError

log = logging.getLogger("modelpress")


def select_rows(data: Any, max_samples: int | None) -> list[dict]:
    """The data container's rows, the first ``max_samples`` of them if set."""
    rows = list(data.rows())
    if max_samples:
        rows = rows[:max_samples]
    if not rows:
        raise UserError("metric data: the data config gave no rows; check its split and max_samples")
    return rows


def template_fields(template: str) -> list[str]:
    """The ``{field}`` names a ``str.format`` template uses."""
    return [f for _, f, _, _ in string.Formatter().parse(template) if f]


def render(template: str, row: Mapping[str, Any], where: str) -> str:
    """``template.format_map(row)`` with an error that names the columns."""
    try:
        return template.format_map(row)
    except KeyError as exc:
        raise UserError(f"{where}: the data has no column {exc.args[0]!r}; "
                        f"its columns are {', '.join(map(repr, row))}") from None
    except (ValueError, IndexError) as exc:
        raise UserError(f"{where}: {exc}; write fields as {{column}} and double literal braces") from None


def prompts_for(data: Any, rows: Sequence[Mapping[str, Any]], template: str | None, where: str) -> list[str]:
    """One prompt per row: ``template`` over the row, else the container's own format."""
    if template:
        return [render(template, row, where) for row in rows]
    return [data.format(row) for row in rows]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile with linear interpolation (numpy's default method)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float], prefix: str = "") -> dict[str, float]:
    """avg, min, max, p50, p75, p90, p95, p99 of ``values``, keys prefixed."""
    out = {f"{prefix}avg": sum(values) / len(values), f"{prefix}min": min(values), f"{prefix}max": max(values)}
    for q in (50, 75, 90, 95, 99):
        out[f"{prefix}p{q}"] = percentile(values, q)
    return out


class Progress:
    """Logs ``what: done/total`` at most every ``every_s`` seconds, and at the end."""

    def __init__(self, what: str, total: int, every_s: float = 10.0):
        self.what, self.total, self.every_s = what, total, every_s
        self.done = 0
        self.start = self.last = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self.done >= self.total or now - self.last >= self.every_s:
            self.last = now
            log.info("%s: %d/%d (%.0f s)", self.what, self.done, self.total, now - self.start)


def by_length(session: Any, prompts: Sequence[str]) -> list[int]:
    """Indices of ``prompts`` by token count (stable); the given order if the session cannot count."""
    try:
        counts = [session.count_tokens(p) for p in prompts]
    except NotImplementedError:
        return list(range(len(prompts)))
    return sorted(range(len(prompts)), key=counts.__getitem__)


def in_chunks(items: Sequence[Any], fn: Callable[[Sequence[Any]], list], what: str, size: int = 8) -> list:
    """``fn`` over ``items`` in chunks, with progress: long evaluations show they are alive."""
    progress = Progress(what, len(items))
    out: list = []
    for start in range(0, len(items), size):
        chunk = items[start:start + size]
        out.extend(fn(chunk))
        progress.update(len(chunk))
    return out
