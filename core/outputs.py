"""The output folder of a run.

::

    output_dir/model/                    the final model's own files
    output_dir/model.json                its handle (paths point into model/)
    output_dir/footprints.json           every pass run or taken from the cache
    output_dir/metrics.json              the final model's metrics
    output_dir/input_model_metrics.json  the input model's metrics
    output_dir/run.json                  config, versions, times
    output_dir/report.html               written by modelpress.report
"""
from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any

from .cache import library_version
from .runner import relocate

log = logging.getLogger("modelpress")
VERSIONED = ("modelpress", "torch", "transformers", "peft", "bitsandbytes", "onnxruntime-genai",
             "onnxruntime", "optuna")


def link_tree(src: Path, dst: Path) -> None:
    """Copy a folder, hard-linking files where the file system allows it."""
    def link(s, d):
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)
    shutil.copytree(src, dst, copy_function=link)


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


def publish_model(engine: Any, result: Any, folder: Path) -> dict:
    """Place a point's final model under ``folder``; returns its handle JSON."""
    handle = result.model.to_json()
    if folder.exists():
        shutil.rmtree(folder)
    if result.entry_dir is not None and (result.entry_dir / "model").exists():
        link_tree(result.entry_dir / "model", folder)
        handle = relocate(handle, str(result.entry_dir / "model"), str(folder), engine.registry)
    else:
        folder.mkdir(parents=True)
    write_json(folder.parent / f"{folder.name}.json", handle)
    return handle


def write_outputs(engine: Any, best: Any, footprints: list[dict], input_metrics: dict | None,
                  search: Any) -> Any:
    """Write the output folder and return the :class:`RunResult`."""
    from .engine import RunResult

    wf = engine.workflow
    out = Path(wf.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    handle = publish_model(engine, best, out / "model")
    for rank, other in enumerate(search.best[1:] if search else [], start=2):
        publish_model(engine, other, out / "candidates" / f"model-{rank}")
    trials = {"trials": search.trials, "pareto": search.pareto} if search else {}
    write_json(out / "footprints.json", {"nodes": footprints, **trials})
    if best.metrics is not None:
        write_json(out / "metrics.json", best.metrics)
    if input_metrics is not None:
        write_json(out / "input_model_metrics.json", input_metrics)
    write_json(out / "run.json", {
        "config": wf.canonical,
        "migration_notes": wf.notes,
        "source": str(wf.source) if wf.source else None,
        "started": getattr(engine, "started", None),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "input_model": wf.input_model,
        "input_model_id": engine.input_model_id(),
        "output_model": handle,
        "output_model_id": best.model_id,
        "point": best.point,
        "versions": {name: library_version(name) for name in VERSIONED},
        "python": platform.python_version(),
    })
    from .report import write_report

    write_report(out)
    log.info("output written to %s", out)
    return RunResult(out, engine.registry.model_handle(handle), footprints, best.metrics,
                     input_metrics, search)
