"""Validation of a canonical config into a :class:`Workflow`.

First the workflow's own keys (schemas/workflow.json), then every component
with the schema of its registered type, each pass's own checks
(``check_config``: training_args, ...), the named references between them,
the local files that must exist and the accelerators this host can provide.
Each pass's ``config_notes`` (deliberate differences from Olive) are kept in
:attr:`Workflow.config_notes`.
Every problem found is reported at once, one line each: a broken entry only
skips the checks that need that entry, never the rest of the config.
"""
from __future__ import annotations

import contextlib
import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..components import Accelerator, Component, RunContext
from ..errors import ConfigError, did_you_mean
from ..frozen import Config
from .checker import Checker
from .component_schemas import component_schema_of
from .depends import case_problems, cycle_problems
from .host import host_problems
from .messages import error_lines
from .partial import own_checks_despite_errors
from .schema import closed, fill_defaults, validator_for, workflow_skeleton
from .workflow import Step, Workflow

LOCAL = "local"


def _search_hint() -> str:
    """What to set to turn the search on (the sampler: the schema's default)."""
    sampler = workflow_skeleton()["$defs"]["search_strategy"]["properties"]["sampler"]["default"]
    return f'set "search_strategy": {{"sampler": "{sampler}"}} (or another sampler)'
_sampler_schemas: dict[type, dict] = {}


def validate(canonical: Mapping[str, Any], registry: Any, base_dir: Path,
             source: Path | None = None) -> Workflow:
    """Check a canonical config; defaults filled, paths resolved. Raises ConfigError."""
    base_dir = Path(base_dir).resolve()
    cfg = copy.deepcopy(dict(canonical))
    cfg.pop("$schema", None)
    checker = Checker(registry, base_dir)
    skeleton = workflow_skeleton()
    validator = validator_for(skeleton, "schemas/workflow.json")
    lines = error_lines(validator, cfg, "", checker._unknown_key_hook(None, "workflow", skeleton))
    checker.problems.extend(lines)
    broken = [re.split(r": ", line, maxsplit=1)[0] for line in lines]
    fill_defaults(skeleton, cfg, skeleton, validator)

    def ok(path: str) -> bool:
        """No skeleton problem at or above ``path`` (a section whose shape is right)."""
        return not any(b == path or path.startswith((b + ".", b + "[")) for b in broken)

    def clean(path: str) -> bool:
        """No skeleton problem at, above or inside ``path`` (an entry that can be checked)."""
        return ok(path) and not any(b.startswith((path + ".", path + "[")) for b in broken)

    data_configs = _data_configs(cfg, checker, clean) if ok("data_configs") else {}
    checker.data_names = _data_names(cfg) if isinstance(cfg.get("data_configs"), list) else None
    checker.walk(skeleton, cfg, "", skeleton)  # cache/output folders, metrics' data_config
    systems = _systems(cfg, checker, registry, clean) if ok("systems") else {}
    input_model = (_input_model(cfg["input_model"], checker, registry)
                   if "input_model" in cfg and clean("input_model") else {})
    evaluators = _evaluators(cfg, checker, registry, clean) if ok("evaluators") else {}
    for key, names in (("host", systems), ("target", systems), ("evaluator", evaluators)):
        value = cfg.get(key)
        where = "evaluators" if key == "evaluator" else "systems"
        if ok(key) and isinstance(cfg.get(where, {}), dict) and isinstance(value, str) and value not in names:
            have = f"{where} has {', '.join(names)}" if names else f"{where} is empty"
            checker.problems.append(f"{key}: no {where[:-1]} named '{value}'{did_you_mean(value, names)} ({have})")
    search = _search_strategy(cfg, checker, registry) if ok("search_strategy") else None
    if search is not None and not cfg.get("evaluator"):
        checker.problems.append("search_strategy: a search needs an evaluator to rank its points; "
                                "set \"evaluator\" to one of evaluators, or set \"search_strategy\": false")
    accelerator = _accelerator(systems.get(cfg.get("target") or ""), cfg.get("execution_providers"), registry)
    checker.problems.extend(host_problems(cfg, systems, registry))
    unset: dict = {}
    notes: list[str] = []
    steps = (_passes(cfg, checker, registry, search is not None, accelerator, unset, clean, notes)
             if ok("passes") else [])
    if checker.problems:
        raise ConfigError(list(dict.fromkeys(checker.problems)))

    canonical_out: dict[str, Any] = {
        "input_model": input_model, "systems": systems, "data_configs": list(data_configs.values()),
        "evaluators": evaluators,
        "passes": {s.name: (s.alternatives[0] if len(s.alternatives) == 1 else s.alternatives) for s in steps},
        **{k: cfg[k] for k in ("workflow_id", "azureml_client") if k in cfg},
        "host": cfg["host"], "target": cfg["target"], "evaluator": cfg["evaluator"],
        "evaluate_input_model": cfg["evaluate_input_model"],
        "search_strategy": search if search is not None else False,
        "execution_providers": cfg["execution_providers"], "cache_dir": cfg["cache_dir"],
        "output_dir": cfg["output_dir"], "clean_cache": cfg["clean_cache"],
        "log_severity_level": cfg["log_severity_level"],
    }
    return Workflow(
        canonical=canonical_out, notes=[], source=Path(source) if source else None, base_dir=base_dir,
        input_model=input_model, systems=systems, data_configs=data_configs, evaluators=evaluators,
        passes=steps, host=cfg["host"], target=cfg["target"], evaluator=cfg["evaluator"],
        evaluate_input_model=cfg["evaluate_input_model"], search_strategy=search,
        execution_providers=cfg["execution_providers"], cache_dir=Path(cfg["cache_dir"]),
        output_dir=Path(cfg["output_dir"]), clean_cache=cfg["clean_cache"],
        log_severity_level=cfg["log_severity_level"], unset_values=unset, config_notes=notes,
    )


def _data_names(cfg: dict) -> list[str]:
    """The names of the data configs (also of the ones with problems)."""
    return [e["name"] for e in cfg["data_configs"] if isinstance(e, dict) and isinstance(e.get("name"), str)]


def _data_configs(cfg: dict, checker: Checker, ok) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for i, entry in enumerate(cfg.get("data_configs") or []):
        path = f"data_configs[{i}]"
        if not ok(path):
            continue
        if entry["name"] in out:
            checker.problems.append(f"{path}.name: '{entry['name']}' is used by another data config; "
                                    f"give each its own name")
            continue
        checked, _ = checker.entry("data_container", entry, path, head=("name", "type"))
        out[entry["name"]] = checked if checked is not None else dict(entry)
    return out


def _systems(cfg: dict, checker: Checker, registry: Any, ok) -> dict[str, dict]:
    out = {}
    for name, entry in (cfg.get("systems") or {}).items():
        if not ok(f"systems.{name}"):
            out[name] = entry
            continue
        checked, _ = checker.entry("system", entry, f"systems.{name}")
        out[name] = checked if checked is not None else dict(entry)
    if LOCAL not in out and LOCAL in (cfg.get("host"), cfg.get("target")):
        # the implicit local system (the plugin whose system stands for it), with its defaults
        implicit = next((r.name for r in registry.all("system") if r.cls.stands_for == LOCAL), None)
        if implicit is not None:
            out[LOCAL] = checker.entry("system", {"type": implicit}, f"systems.{LOCAL}")[0] or {"type": implicit}
    return out


def _input_model(entry: dict, checker: Checker, registry: Any) -> dict:
    checked, _ = checker.entry("model_type", entry, "input_model")
    if checked is None:
        return dict(entry)
    cls = registry.get("model_type", checked["type"]).cls
    for name in cls.path_fields:  # model folders that exist next to the config
        value = checked.get(name)
        if isinstance(value, str) and not cls_marks_path(cls, name):  # x-path ones are resolved already
            checked[name] = checker.resolve(value, f"input_model.{name}", True)
        elif isinstance(value, dict) and "type" in value and not cls_marks_path(cls, name):
            checker.resource(value, f"input_model.{name}")
    return checked


def cls_marks_path(cls: type[Component], name: str) -> bool:
    """Whether the schema marks field ``name`` with ``x-path`` (then it is checked already)."""
    prop = (cls.get_schema().get("properties") or {}).get(name)
    return isinstance(prop, dict) and bool(prop.get("x-path"))


def _evaluators(cfg: dict, checker: Checker, registry: Any, ok) -> dict[str, dict]:
    from ..evaluate.goals import goal_config_problems

    out = {}
    for name, evaluator in (cfg.get("evaluators") or {}).items():
        if not ok(f"evaluators.{name}"):
            out[name] = evaluator
            continue
        seen: set[str] = set()
        for i, metric in enumerate(evaluator["metrics"]):
            path = f"evaluators.{name}.metrics[{i}]"
            if metric["name"] in seen:
                checker.problems.append(f"{path}.name: '{metric['name']}' is used by another metric of this "
                                        f"evaluator; give each its own name")
            seen.add(metric["name"])
            _metric(metric, path, checker, registry)
        checker.problems.extend(goal_config_problems(evaluator["metrics"], f"evaluators.{name}.metrics"))
        out[name] = evaluator
    return out


def _metric(metric: dict, path: str, checker: Checker, registry: Any) -> None:
    try:
        reg = registry.get("metric", metric["type"], f"{path}.type")
    except ConfigError as exc:
        checker.problems.extend(exc.problems)
        return
    cls, metric["type"] = reg.cls, reg.name
    checker.config(cls.get_schema(), metric["user_config"], f"{path}.user_config",
                   f"metric {reg.name} (plugin '{reg.plugin}')")
    known = dict(cls.sub_types)
    if "sub_types" not in metric and known:
        first = next(iter(known))
        metric["sub_types"] = [{"name": first, "priority": -1}]
    for j, sub in enumerate(metric.get("sub_types") or []):
        if known and sub["name"] not in known:
            checker.problems.append(f"{path}.sub_types[{j}].name: metric type '{reg.name}' has no sub type "
                                    f"'{sub['name']}'"
                                    f"{did_you_mean(sub['name'], known) or '; its sub types: ' + ', '.join(known)}")
        elif sub["name"] in known:
            sub.setdefault("higher_is_better", bool(known[sub["name"]]))
    if cls.needs_data and not metric.get("data_config"):
        checker.problems.append(f"{path}.data_config: metric type '{reg.name}' reads data; "
                                f"name one of data_configs")


def _search_strategy(cfg: dict, checker: Checker, registry: Any) -> dict | None:
    value = cfg.get("search_strategy")
    if value is False or value is None:
        return None
    strategy = {} if value is True else value
    skeleton = workflow_skeleton()
    common = skeleton["$defs"]["search_strategy"]
    fill_defaults(common, strategy, skeleton, validator_for(skeleton, "schemas/workflow.json"))
    try:
        reg = registry.get("search_strategy", strategy["sampler"], "search_strategy.sampler")
    except ConfigError as exc:
        checker.problems.extend(exc.problems)
        return strategy
    strategy["sampler"] = reg.name
    if reg.cls not in _sampler_schemas:
        own = closed(reg.cls.get_schema())
        _sampler_schemas[reg.cls] = {**own, "properties": {**common["properties"], **(own.get("properties") or {})}}
    checker.config(_sampler_schemas[reg.cls], strategy, "search_strategy",
                   f"search strategy {reg.name} (plugin '{reg.plugin}')")
    return strategy


def _accelerator(system: dict | None, providers: list[str] | None, registry: Any) -> Accelerator:
    """The accelerator passes are checked for: the target system's first (or the
    first offering one of ``execution_providers``)."""
    found = [Accelerator()]
    if system is not None and registry.canonical_name("system", system.get("type")):
        reg = registry.get("system", system["type"])
        if not reg.missing:
            body = {k: v for k, v in system.items() if k != "type"}
            with contextlib.suppress(Exception):
                found = reg.cls(Config(body), RunContext(registry)).accelerators() or found
    if providers:
        matching = [a for a in found if a.execution_provider in providers]
        return matching[0] if matching else Accelerator(found[0].device, providers[0])
    return found[0]


def _passes(cfg: dict, checker: Checker, registry: Any, searching: bool, accelerator: Accelerator,
            unset: dict, ok, notes: list[str]) -> list[Step]:
    steps = []
    for name, value in (cfg.get("passes") or {}).items():
        if not ok(f"passes.{name}"):
            continue
        entries = value if isinstance(value, list) else [value]
        if len(entries) > 1 and not searching:
            checker.problems.append(f"passes.{name}: a list of {len(entries)} alternative passes needs a "
                                    f"search; {_search_hint()}, or keep one")
        alternatives = []
        for i, entry in enumerate(entries):
            path = f"passes.{name}" + (f"[{i}]" if isinstance(value, list) else "")
            checked, specs = checker.entry("pass", entry, path, search=True)
            if specs and not searching:
                for key in specs:
                    checker.problems.append(f"{path}.{key}: a search value needs a search; {_search_hint()}, "
                                            f"or give one value")
            if checked is None:
                # schema problems: the pass's own checks still run on the rest
                checker.problems.extend(own_checks_despite_errors(entry, path, checker, registry, accelerator))
                alternatives.append(dict(entry))
                continue
            checker.problems.extend(cycle_problems(specs, path))
            cls = registry.get("pass", checked["type"]).cls
            schema = component_schema_of(cls)
            for key, spec in specs.items():
                default = (schema.get("properties") or {}).get(key, {}).get("default", _NO_DEFAULT)
                if default is not _NO_DEFAULT:
                    unset[(name, i, key)] = default
                if "depends_on" in spec:
                    checker.problems.extend(case_problems(checked, key, spec, path))
            if not specs:
                config = {k: v for k, v in checked.items() if k != "type"}
                checker.problems.extend(f"{path}.{line}" for line in cls.check_config(Config(config), accelerator))
                notes.extend(f"{path}.{line}" for line in cls.config_notes(Config(config), accelerator))
            alternatives.append(checked)
        steps.append(Step(name, alternatives))
    return steps


_NO_DEFAULT = object()
