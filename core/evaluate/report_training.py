"""Training-loss curves for the report, read from each pass's ``training_log.json``."""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any


def loss_series(log: Any) -> dict[str, list[tuple[float, float]]]:
    """``{"loss": [(step, value)], "eval_loss": [...]}`` from a training log.

    Accepts a list of log entries (Trainer's ``log_history``) or a dict
    holding one (under ``log_history``, ``history``, ``entries`` or ``steps``),
    or a dict of lists keyed ``train``/``eval``.
    """
    if isinstance(log, Mapping):
        for key in ("log_history", "history", "entries", "steps", "logs"):
            if isinstance(log.get(key), list):
                return loss_series(log[key])
        series: dict[str, list] = {}
        for key in ("train", "eval"):
            for name, points in loss_series(log.get(key) or []).items():
                series.setdefault(name if key == "train" or name.startswith("eval") else f"eval_{name}", []).extend(points)
        return series
    series = {}
    for i, entry in enumerate(log if isinstance(log, list) else []):
        if not isinstance(entry, Mapping):
            continue
        x = entry.get("step", entry.get("global_step", i + 1))
        for key, value in entry.items():
            # train_loss is Trainer's end-of-run average, not a point on the curve
            if key.endswith("loss") and key != "train_loss" and isinstance(value, (int, float)) \
                    and isinstance(x, (int, float)) and math.isfinite(value):
                series.setdefault(key, []).append((float(x), float(value)))
    return series


def training_logs(nodes: Sequence[Mapping[str, Any]], read_json: Callable[[Path], Any]) -> list[tuple[str, dict]]:
    """Loss curves of the passes that kept a ``training_log.json``.

    Looked for in each pass's cache entry (two levels down) and next to the
    paths of its output model (the adapter folder), never deeper: a base
    model's folder may be large. ``read_json`` reads one file (the report's
    reader, so an unreadable log is reported the same way).
    """
    found, seen = [], set()
    for node in nodes:
        candidates = []
        entry = node.get("entry_dir")
        if isinstance(entry, str) and Path(entry).is_dir():
            root = Path(entry)
            candidates += [root / "training_log.json", *root.glob("*/training_log.json"),
                           *root.glob("*/*/training_log.json")]
        for value in (node.get("output_model") or {}).values():
            if isinstance(value, str) and value and Path(value).exists():
                folder = Path(value) if Path(value).is_dir() else Path(value).parent
                candidates += [folder / "training_log.json", folder.parent / "training_log.json"]
        for candidate in candidates:
            if candidate.is_file() and candidate.resolve() not in seen:
                seen.add(candidate.resolve())
                series = loss_series(read_json(candidate))
                if series:
                    title = str(node.get("step", "?"))
                    found.append((title if node.get("trial") is None else f"{title} (trial {node['trial']})",
                                  series))
    return found
