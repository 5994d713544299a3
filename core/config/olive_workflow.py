"""Workflow-level Olive keys: the ``engine`` block, search and Azure ML settings.

Functions of the migration (:mod:`.migrate`) that act on the whole config
rather than on one component; each takes the running migration ``m``,
which keeps the notes, the problems and where every moved key came from.
"""
from __future__ import annotations

import copy
from typing import Any

SEARCH_CONFIG_KEYS = {"num_samples": "max_samples"}

#: Olive engine keys that change nothing modelpress produces -> why they go
DROPPED_KEYS = {
    "ort_log_severity_level": "ONNX Runtime's own log level; modelpress leaves it at its default",
    "ort_py_log_severity_level": "ONNX Runtime's own log level; modelpress leaves it at its default",
    "log_to_file": "modelpress logs to the terminal and writes run.json in the output folder",
    "plot_pareto_frontier": "the report (report.html) always shows the Pareto front of a search",
    "no_artifacts": "modelpress always writes its small output records (footprints.json, metrics.json)",
    "clean_evaluation_cache": "evaluations are cached by content, so a stale result cannot be reused",
    "enable_shared_cache": "several runs may share one cache_dir as it is",
    "output_name": "outputs are named by the output folder (output_dir)",
}
#: Olive keys that would change what runs, with what to do instead
UNSUPPORTED_KEYS = {
    "pass_flows": "list the passes of one flow under passes (one config per flow), or search alternatives",
    "packaging_config": "the output model folder is the deployable result; package it with your own tools",
    "auto_optimizer_config": "list the passes to run under passes",
    "cache_config": "set cache_dir to the cache folder",
}


def _items(value: Any) -> list[tuple[str, dict]]:
    """``(name, entry)`` pairs of a mapping of dict entries (others skipped)."""
    if not isinstance(value, dict):
        return []
    return [(k, v) for k, v in value.items() if isinstance(v, dict)]


def share_azureml_client(m: Any, cfg: dict) -> None:
    """Olive's top-level ``azureml_client`` reaches every component that takes one."""
    client = cfg["azureml_client"]

    def wants(kind: str, entry: dict) -> bool:
        reg_name = m.registry.canonical_name(kind, entry.get("type")) if isinstance(entry.get("type"), str) else None
        if reg_name is None or "azureml_client" in entry:
            return False
        props = m.registry.get(kind, reg_name).cls.get_schema().get("properties", {})
        return "azureml_client" in props

    for name, system in _items(cfg.get("systems")):
        if wants("system", system):
            system["azureml_client"] = copy.deepcopy(client)
            m.notes.append(f"systems.{name}.azureml_client: copied from the top-level azureml_client")

    def visit(value: Any, path: str) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("config"), dict) and wants("resource", {"type": value.get("type"),
                                                                           **value["config"]}):
                value["config"]["azureml_client"] = copy.deepcopy(client)
                m.notes.append(f"{path}.config.azureml_client: copied from the top-level azureml_client")
            for key, sub in value.items():
                visit(sub, f"{path}.{key}")
        elif isinstance(value, list):
            for i, sub in enumerate(value):
                visit(sub, f"{path}[{i}]")

    visit(cfg.get("input_model"), "input_model")
    visit(cfg.get("data_configs"), "data_configs")


def lift_engine(m: Any, cfg: dict) -> None:
    """Move Olive's ``engine`` keys to the top level."""
    if "engine" not in cfg:
        return
    engine = cfg["engine"]
    if not isinstance(engine, dict):
        m.problems.append(f"engine: expected an object of engine keys (host, target, cache_dir, ...), "
                             f"got {type(engine).__name__}")
        del cfg["engine"]  # reported once: not again as an unknown top-level key
        return
    del cfg["engine"]
    for key, value in engine.items():
        if key in cfg and cfg[key] != value:
            m.problems.append(f"engine.{key}: also set at the top level with another value; keep one")
        cfg[key] = value
        m.moved(key, f"engine.{key}")
    if engine:
        m.notes.append(f"engine: {', '.join(engine)} moved to the top level")


def olive_engine_keys(m: Any, cfg: dict) -> None:
    """Olive engine keys with no effect here are dropped with a note; ones that
    change what runs, and that modelpress does not do, are problems that say what to do."""
    for key, why in DROPPED_KEYS.items():
        if key in cfg:
            del cfg[key]
            m.notes.append(f"{m.origins.original(key)}: dropped; {why}")
    for key, what in UNSUPPORTED_KEYS.items():
        if key in cfg:
            m.problems.append(f"{m.origins.original(key)}: Olive's {key} is not supported; {what}")
            del cfg[key]
    for key, section in (("host", "systems"), ("target", "systems"), ("evaluator", "evaluators")):
        inline = cfg.get(key)
        if isinstance(inline, dict) and (section == "evaluators" or "type" in inline):
            named = cfg.setdefault(section, {})
            if not isinstance(named, dict):
                continue
            name = key if key not in named else f"{key}_{section[:-1]}"
            named[name] = inline
            cfg[key] = name
            m.moved(f"{section}.{name}", key)
            m.notes.append(f"{m.origins.original(key)}: the inline {section[:-1]} moved to {section} as '{name}'")


def search_strategy(m: Any, strategy: dict) -> None:
    """Olive's search keys become ``sampler``, ``max_samples`` and ``seed``."""
    path = "search_strategy"
    if "search_algorithm" in strategy:
        if "sampler" in strategy:
            m.problems.append(f"{path}.search_algorithm: also set as 'sampler'; keep only 'sampler'")
        else:
            strategy["sampler"] = strategy.pop("search_algorithm")
            m.moved(f"{path}.sampler", f"{path}.search_algorithm")
            m.notes.append(f"{path}.search_algorithm: renamed to 'sampler'")
    algo_config = strategy.get("search_algorithm_config")
    if isinstance(algo_config, dict):
        del strategy["search_algorithm_config"]
        renamed = {SEARCH_CONFIG_KEYS.get(k, k): v for k, v in algo_config.items()}
        m.merge(strategy, renamed, f"{path}.search_algorithm_config")
        for old in algo_config:
            m.moved(f"{path}.{SEARCH_CONFIG_KEYS.get(old, old)}", f"{path}.search_algorithm_config.{old}")
        m.notes.append(f"{path}.search_algorithm_config: flattened into {path}"
                          + "".join(f"; {k} renamed to '{v}'" for k, v in SEARCH_CONFIG_KEYS.items()
                                    if k in algo_config))
    sampler = strategy.get("sampler")
    name = m.registry.canonical_name("search_strategy", sampler) if isinstance(sampler, str) else None
    if name is not None:
        schema = m.registry.get("search_strategy", name).cls.get_schema()
        m.rename(schema, strategy, path, schema)
