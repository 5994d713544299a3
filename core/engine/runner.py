"""One runner for every system: ``python -m modelpress.engine.runner JOB OUTPUT_DIR``.

A job is a JSON document::

    {"kind": "pass", "step": "lora",
     "pass": {"type": "LoRA", ...validated config...},
     "model": {"type": "HfModel", ...handle...},
     "data_configs": {"train": {"type": "HuggingfaceContainer", ...}},
     "accelerator": {"device": "cpu", "execution_provider": "CPUExecutionProvider"},
     "log_level": 20}

or ``{"kind": "evaluation", "metrics": [...], "model": ..., ...}``. The runner
writes ``OUTPUT_DIR/result.json``: ``{"output_dir": ..., "model": handle}``
for a pass (new files under ``OUTPUT_DIR/model``), ``{"metrics": {...}}`` for
an evaluation, or ``{"error": {"type", "message", "user_error"}}``. The local
system calls :func:`run_job` in-process; other systems run this module.
``JOB`` may be ``-``: the job is read from standard input, so a job holding a
secret (a token in ``load_kwargs``) never lies on disk; ``result.json`` is
written redacted.
"""
from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from ..components import Accelerator, Job, JobResult, RunContext
from ..errors import UserError
from ..redact import redact

log = logging.getLogger("modelpress")
RESULT_FILE = "result.json"


def make_context(job: Job, registry: Any, work_dir: Path | None = None) -> RunContext:
    """The :class:`RunContext` a job's components see."""
    return RunContext(
        registry=registry,
        accelerator=Accelerator(**job.get("accelerator", {})),
        data_configs=job.get("data_configs", {}),
        work_dir=work_dir,
    )


def execute(job: Job, output_dir: Path, registry: Any = None) -> JobResult:
    """Run a job and return its result dict; exceptions propagate."""
    from ..registry import get_registry

    registry = registry or get_registry()
    output_dir = Path(output_dir).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    context = make_context(job, registry, output_dir)
    model = registry.model_handle(job["model"])
    if job["kind"] == "pass":
        the_pass = registry.create_pass(job["pass"], context)
        start = time.perf_counter()
        result = the_pass.run(model, output_dir / "model")
        return {"output_dir": str(output_dir), "model": result.to_json(),
                "duration_s": time.perf_counter() - start}
    if job["kind"] == "evaluation":
        from ..evaluate.evaluator import evaluate_model
        return {"metrics": evaluate_model(model, job["metrics"], context)}
    raise UserError(f"job.kind: unknown job kind {job['kind']!r}; expected 'pass' or 'evaluation'")


def run_job(job: Job, output_dir: Path, registry: Any = None) -> JobResult:
    """Run a job, write ``result.json`` and return the result (errors included)."""
    output_dir = Path(output_dir)
    try:
        result: JobResult = execute(job, output_dir, registry)
    except UserError as exc:
        result = {"error": {"type": type(exc).__name__, "message": str(exc), "user_error": True}}
    except Exception as exc:  # reported to the engine, which decides what to do
        result = {"error": {"type": type(exc).__name__, "message": str(exc) or repr(exc),
                            "user_error": False, "traceback": traceback.format_exc()}}
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / RESULT_FILE).write_text(json.dumps(redact(result), indent=2), encoding="utf-8")
    return result


def relocate(handle: dict, old_root: str | Path, new_root: str | Path, registry: Any = None) -> dict:
    """Rewrite the path fields of a handle JSON from ``old_root`` to ``new_root``.

    Used when a job's output folder arrives somewhere else (another machine,
    a download, a cache entry renamed into place).
    """
    from ..registry import get_registry

    registry = registry or get_registry()
    cls = registry.get("model_type", handle.get("type"), "model.type").cls
    old, new = str(Path(old_root)), str(Path(new_root))
    out = dict(handle)
    for field in cls.path_fields:
        value = out.get(field)
        if isinstance(value, str) and (value == old or value.startswith(old + "/")):
            out[field] = new + value[len(old):]
        elif isinstance(value, dict):  # e.g. {"adapter name": path}
            out[field] = {k: (new + v[len(old):] if isinstance(v, str) and (v == old or v.startswith(old + "/")) else v)
                          for k, v in value.items()}
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m modelpress.engine.runner JOB OUTPUT_DIR``."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m modelpress.engine.runner JOB.json OUTPUT_DIR", file=sys.stderr)
        return 2
    job = json.loads(sys.stdin.read() if argv[0] == "-" else Path(argv[0]).read_text(encoding="utf-8"))
    logging.basicConfig(level=job.get("log_level", logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return exit_code(run_job(job, Path(argv[1])))


def exit_code(result: JobResult) -> int:
    """Print a job's error, if any, and return the runner's exit status."""
    if "error" in result:
        print(f"modelpress.engine.runner: {result['error']['type']}: {result['error']['message']}", file=sys.stderr)
        return 2 if result["error"].get("user_error") else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
