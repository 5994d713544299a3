"""The output folder of a run.

::

    output_dir/model/                    the final model's own files
    output_dir/model.json                its handle (paths point into model/)
    output_dir/footprints.json           every pass run or taken from the cache
    output_dir/metrics.json              the final model's metrics
    output_dir/input_model_metrics.json  the input model's metrics
    output_dir/run.json                  config, versions, times
    output_dir/report.html               written by modelpress.evaluate.report

Files are copies of the cache entry, never links: editing an output cannot
change the cache. Runs writing the same output folder take turns (a lock
next to the system's temporary files), each model folder is copied beside
its place and renamed into it, and every JSON file is written redacted.
"""
from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from ..components import ModelHandle
from ..errors import UserError
from ..redact import redact
from .cache import library_version, stable_hash
from .runner import relocate

log = logging.getLogger("modelpress")
VERSIONED = ("modelpress", "torch", "transformers", "peft", "bitsandbytes", "onnxruntime-genai",
             "onnxruntime", "optuna")


@dataclass
class RunResult:
    """What ``modelpress.run`` returns."""

    output_dir: Path
    output_model: ModelHandle
    footprints: list[dict]
    metrics: dict | None
    input_metrics: dict | None
    search: Any = None


def check_output_dir(out: Path) -> None:
    """Fail now, before any pass runs, if ``out`` cannot be written."""
    if out.exists() and not out.is_dir():
        raise UserError(f"output_dir: {out} is a file; give a folder (or remove the file)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"output_dir: cannot create {out} ({exc.strerror}); "
                        "give a folder you can write") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UserError(f"output_dir: {out} is not writable; give a folder you can write")


def output_lock(out: Path) -> FileLock:
    """The lock that makes concurrent runs on one output folder take turns."""
    name = f"modelpress-output-{stable_hash(str(out.resolve()))}.lock"
    return FileLock(str(Path(tempfile.gettempdir()) / name))


def copy_tree_atomic(src: Path, dst: Path) -> None:
    """Copy a folder (real copies) beside ``dst`` and swap it into place."""
    tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp)
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        os.replace(dst, old)
        os.replace(tmp, dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, dst)


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` redacted, atomically."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(redact(data), indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


def publish_model(engine: Any, result: Any, folder: Path) -> dict:
    """Place a point's final model under ``folder``; returns its handle JSON."""
    handle = result.model.to_json()
    if result.entry_dir is not None and (result.entry_dir / "model").exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        copy_tree_atomic(result.entry_dir / "model", folder)
        handle = relocate(handle, str(result.entry_dir / "model"), str(folder), engine.registry)
    else:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    write_json(folder.parent / f"{folder.name}.json", handle)
    return handle


def write_outputs(engine: Any, best: Any, footprints: list[dict], input_metrics: dict | None,
                  search: Any) -> RunResult:
    """Write the output folder and return the :class:`RunResult`."""
    out = Path(engine.workflow.output_dir)
    check_output_dir(out)
    with output_lock(out):
        return _write_outputs(engine, out, best, footprints, input_metrics, search)


def _write_outputs(engine: Any, out: Path, best: Any, footprints: list[dict], input_metrics: dict | None,
                   search: Any) -> RunResult:
    wf = engine.workflow
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
        "config_notes": wf.config_notes,
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
    from ..evaluate.report import write_report

    write_report(out)
    log.info("output written to %s", out)
    return RunResult(out, engine.registry.model_handle(handle), footprints, best.metrics,
                     input_metrics, search)
