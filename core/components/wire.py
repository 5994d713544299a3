"""The dicts that cross process boundaries, typed: jobs, their results, search trials.

Every system runs jobs through :mod:`modelpress.engine.runner` (a job JSON in,
``result.json`` out); a search strategy hands trials to the search driver and
gets them back filled. They stay plain dicts (JSON on the wire); these
``TypedDict`` s say which keys they carry.
"""
from __future__ import annotations

from typing import Any, Literal, TypedDict


#: ``{"device": "cpu", "execution_provider": "CPUExecutionProvider"}``
class AcceleratorJSON(TypedDict):
    device: str
    execution_provider: str

#: a job: ``kind`` "pass" (with ``step``, ``pass``: the validated pass config, ``accelerator``)
#: or "evaluation" (with ``metrics``: the evaluator's metric configs)
Job = TypedDict("Job", {
    "kind": Literal["pass", "evaluation"],
    "model": dict[str, Any],                    # the input model's handle JSON
    "data_configs": dict[str, dict[str, Any]],  # every data config of the workflow, by name
    "log_level": int,
    "step": str,
    "pass": dict[str, Any],
    "accelerator": AcceleratorJSON,
    "metrics": list[dict[str, Any]],
}, total=False)


class JobError(TypedDict, total=False):
    """Why a job failed: ``user_error`` (a problem the user can fix) or a library's failure."""

    type: str
    message: str
    user_error: bool
    traceback: str
    log_tail: str  # what a remote system logged before failing


class JobResult(TypedDict, total=False):
    """``result.json``: a pass's ``output_dir``, ``model`` (handle JSON) and ``duration_s``; an
    evaluation's ``metrics``; or an ``error``."""

    output_dir: str
    model: dict[str, Any]
    duration_s: float
    metrics: dict[str, Any]
    error: JobError


class Trial(TypedDict, total=False):
    """A search trial: ``ask()`` returns ``number`` and ``params``; before ``tell`` the driver
    fills ``state`` ("COMPLETE", "FAIL", "PRUNED"), ``metrics``, ``point`` (every searched
    value, fixed ones included), ``footprints`` and ``worker``."""

    number: int
    params: dict[str, Any]
    state: str
    metrics: dict[str, Any] | None
    point: dict[str, Any]
    footprints: list[dict[str, Any]]
    worker: str
