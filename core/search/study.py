"""The search's set-up: objectives, the strategy config, study names and phases.

``strategy_config`` is what a strategy receives (storage resolved, the study
named after the config file); ``prepare_study`` creates every phase's study
once, before any worker starts (``modelpress run`` does it through the
driver; tests and tools may call it directly).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..components import SubMetric
from ..config.schema import workflow_skeleton
from ..engine.cache import stable_hash
from ..frozen import Config
from .space import SearchSpace, space_from_workflow


def search_objectives(workflow: Any, registry: Any) -> tuple[list[SubMetric], list[dict], dict]:
    """``(objectives, metric configs, default directions)`` of the workflow's evaluator."""
    from ..evaluate.goals import objectives

    if not workflow.evaluator:
        return [], [], {}
    metrics = list(workflow.evaluators[workflow.evaluator].get("metrics") or [])
    directions = {}
    for metric in metrics:
        name = registry.canonical_name("metric", metric.get("type", "")) if registry else None
        if name:
            directions[metric["type"]] = dict(registry.get("metric", name).cls.sub_types)
    return objectives(metrics, directions), metrics, directions


def strategy_config(workflow: Any) -> dict:
    """The search config a strategy receives: storage path resolved, study named."""
    cfg = dict(workflow.search_strategy or {})
    cfg["sampler"] = cfg.get("sampler") or cfg.get("search_algorithm") or default_sampler()
    cfg.pop("search_algorithm", None)
    storage = cfg.get("storage")
    base = Path(getattr(workflow, "base_dir", "."))
    if storage and "://" not in storage:
        cfg["storage"] = str((base / storage).resolve())  # a journal file, relative to the config
    elif storage and storage.startswith("sqlite:///") and not storage.startswith("sqlite:////"):
        cfg["storage"] = "sqlite:///" + str((base / storage[len("sqlite:///"):]).resolve())
    if not cfg.get("study_name"):
        # Same config -> same study, so workers started from one file meet.
        identity = {"search": {k: v for k, v in cfg.items() if k not in ("storage", "study_name")},
                    "params": [[p.key, p.spec] for p in workflow.search_params()],
                    "input_model": workflow.input_model}
        cfg["study_name"] = study_name(workflow, stable_hash(identity))
    return cfg


def default_sampler() -> str:
    """The sampler of a search that names none: the workflow schema's default."""
    return workflow_skeleton()["$defs"]["search_strategy"]["properties"]["sampler"]["default"]


def study_name(workflow: Any, digest: str) -> str:
    """``<config file name>-<8 hex digits>``: readable in a shared storage, and
    the same for every worker started from one config (the digest covers the
    search settings, the searched parameters and the input model)."""
    source = getattr(workflow, "source", None)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(source).stem).strip("-.") if source else ""
    return f"{stem or 'modelpress'}-{digest[:8]}"


def search_phases(cfg: dict, space: SearchSpace) -> list[tuple[str | None, SearchSpace]]:
    if cfg.get("execution_order", "joint") == "pass-by-pass" and len(space.steps) > 1:
        return [(step, space.subspace(step)) for step in space.steps]
    return [(None, space)]


def phase_config(cfg: dict, step: str | None, worker: bool) -> dict:
    out = {**cfg, "worker": worker}
    if step is not None:
        out["study_name"] = f"{cfg['study_name']}.{step}"
    return out


def prepare_study(workflow: Any, registry: Any) -> list:
    """Create the search's studies once, before any worker starts; returns the strategies."""
    cfg = strategy_config(workflow)
    cls = registry.require("search_strategy", cfg["sampler"], "search_strategy.sampler")
    objectives = search_objectives(workflow, registry)[0]
    prepared = prepare_phases(cls, cfg, search_phases(cfg, space_from_workflow(workflow)), objectives)
    return [s for s in prepared if s is not None]


def prepare_phases(cls: Any, cfg: dict, phases: list, objectives: list) -> list:
    """One prepared strategy per phase (None for all when ``cls`` keeps no
    shared state): what ``modelpress run`` does before its first trial."""
    prepare = getattr(cls, "prepare", None)
    if prepare is None:
        return [None] * len(phases)
    return [prepare(Config(phase_config(cfg, step, False)), sub, objectives) for step, sub in phases]
