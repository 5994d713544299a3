"""The commands behind ``modelpress COMMAND`` (argument parsing is in :mod:`cli`)."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from ..errors import UserError

log = logging.getLogger("modelpress")


def cmd_validate(args) -> int:
    from ..config import load

    workflow = load(config_path(args))
    for note in workflow.notes:
        print(f"migrated: {note}")
    for note in workflow.config_notes:
        print(f"note: {note}")
    steps = ", ".join(f"{s.name} ({'|'.join(a['type'] for a in s.alternatives)})" for s in workflow.passes)
    print(f"{config_path(args)}: valid; passes: {steps or 'none'}")
    return 0


def cmd_migrate(args) -> int:
    from ..config import check, load_raw
    from ..errors import ConfigError
    from ..registry import get_registry

    path = config_path(args)
    canonical, _, notes, problems = check(load_raw(path), get_registry(), path.parent.resolve(), path)
    for note in notes:
        print(f"# {note}", file=sys.stderr)
    if args.format == "yaml":
        import yaml
        sys.stdout.write(yaml.safe_dump(canonical, sort_keys=False))
    else:
        print_json(canonical)
    if problems:  # the canonical form is printed, but it would not run: never exit 0 on it
        sys.stdout.flush()
        raise ConfigError(problems)
    return 0


def cmd_plugins(args) -> int:
    from ..components import KINDS
    from ..registry import get_registry

    rows: list[dict[str, Any]] = []
    registry = get_registry()
    for reg in registry.all():
        missing = reg.missing
        rows.append({"kind": KINDS[reg.kind].word, "name": reg.name, "aliases": list(reg.cls.aliases),
                     "plugin": reg.plugin, "distribution": " ".join(reg.distribution).strip() or "-",
                     "status": "; ".join(missing) if missing else "available"})
    for plugin, why in registry.broken.items():  # listed, so its author can see why
        rows.append({"kind": "plugin", "name": plugin, "aliases": [], "plugin": plugin,
                     "distribution": "-", "status": f"broken: {why}"})
    if args.json:
        print_json(rows)
        return 0
    for r in rows:
        r["label"] = r["name"] + (f" (alias {', '.join(r['aliases'])})" if r["aliases"] else "")
    header = {"kind": "KIND", "label": "NAME", "plugin": "PLUGIN", "distribution": "DISTRIBUTION"}
    widths = {k: max(len(r[k]) for r in [header, *rows]) for k in header}
    for r in [{**header, "status": "STATUS"}, *rows]:
        print("  ".join(f"{r[k]:<{widths[k]}}" for k in header) + "  " + r["status"])
    return 0


def cmd_schema(args) -> int:
    from ..components import KINDS
    from ..config import component_schema, workflow_schema
    from ..registry import get_registry

    registry = get_registry()
    if not args.component:
        print_json(workflow_schema(registry))
        return 0
    for kind in KINDS:
        if registry.canonical_name(kind, args.component):
            print_json(component_schema(registry, kind, args.component))
            return 0
    registry.get("pass", args.component, where="schema")  # raises with did-you-mean
    return 2


def cmd_run(args) -> int:
    from ..api import run_workflow
    from ..engine.chain import Engine

    workflow = _load_with_overrides(config_path(args), args.overrides)
    if args.severity is not None:  # -v/-q win over the config's log_severity_level
        workflow.log_severity_level = args.severity
    for note in workflow.notes:
        print(f"migrated: {note}", file=sys.stderr)
    for note in workflow.config_notes:
        print(f"note: {note}", file=sys.stderr)
    overrides = {k: v for k, v in (("output_dir", args.output_dir), ("cache_dir", args.cache_dir)) if v}
    if args.clean_cache:
        overrides["clean_cache"] = True
    if args.dry_run:
        for key, value in overrides.items():
            setattr(workflow, key, Path(value).resolve() if key.endswith("_dir") else value)
        engine = Engine(workflow)
        print(f"input model {engine.input_model_id()}")
        points: list[dict | None] = [None] if not workflow.search_strategy else []
        if not points:
            print(f"search over {len(workflow.search_params())} parameter(s); first point shown")
            from ..search.space import space_from_workflow

            points = [space_from_workflow(workflow).default_point()]
        for step in engine.plan(points[0]):
            print(f"  {step.step:<24} {step.config['type']:<22} {step.key[:12]}  "
                  f"{'cached' if step.cached else 'to run'}")
        return 0
    result = run_workflow(workflow, **overrides)
    print(f"output model: {result.output_dir / 'model'}")
    if result.metrics:
        for name, value in result.metrics.items():
            print(f"  {name}: {value}")
    return 0


def _load_with_overrides(path: Path, items: list[str]):
    """Load a config with ``--set`` overrides applied to the file's raw dict."""
    from ..config import check, load, load_raw, overrides
    from ..errors import ConfigError
    from ..registry import get_registry

    if not items:
        return load(path)
    pairs = overrides.parse(items)
    raw = overrides.apply(load_raw(path), pairs)
    # the same one pass as without --set: every problem, keys named as the file writes them
    _, workflow, notes, problems = check(raw, get_registry(), path.parent.resolve(), path)
    if problems:
        raise ConfigError(problems)
    workflow.notes = notes
    for key, value in pairs:
        log.info("override: %s = %s", key, json.dumps(value))
    return workflow


def cmd_generate(args) -> int:
    from ..components import Accelerator
    from ..registry import get_registry

    registry = get_registry()
    folder = Path(args.model)
    if (folder / "model.json").is_file() and (folder / "model").is_dir():  # a run's output folder
        handle = registry.model_handle(json.loads((folder / "model.json").read_text()))
    else:
        handle = _detect(registry, folder)
    if args.adapter:
        adapters = handle.config.get("adapters") or {}
        if args.adapter not in adapters:
            raise UserError(f"--adapter {args.adapter}: the model has no such adapter; "
                            f"it has: {', '.join(adapters) or 'none'}")
        handle = handle.replace(active_adapter=args.adapter)
    accelerator = Accelerator("gpu", "CUDAExecutionProvider") if args.device == "gpu" else Accelerator()
    with handle.open_session(accelerator) as session:
        for piece in session.generate_stream(args.prompt, max_new_tokens=args.max_tokens,
                                             apply_chat_template=not args.raw):
            sys.stdout.write(piece)
            sys.stdout.flush()
    sys.stdout.write("\n")
    return 0


def cmd_report(args) -> int:
    from ..evaluate.report import main

    return main(args.output_dir)


def cmd_search_worker(args) -> int:
    from ..api import search_worker_main

    return search_worker_main(str(config_path(args)), max_trials=args.max_trials)


def print_json(data) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def config_path(args) -> Path:
    """The config named by a positional argument or ``--config``."""
    path = getattr(args, "config_flag", None) or getattr(args, "config_path", None)
    if not path:
        raise UserError("run: no config given; use 'modelpress run CONFIG' or 'modelpress run --config CONFIG'")
    return Path(path)


def _detect(registry: Any, folder: Path) -> Any:
    """The model handle of the first model type that recognises ``folder``."""
    if not folder.is_dir():
        raise UserError(f"--model {folder}: no such folder; give a model folder or a run's output folder")
    for reg in registry.all("model_type"):
        found = reg.cls.detect(folder)
        if found is not None:
            return reg.cls(found)
    raise UserError(f"--model {folder}: no model type recognises this folder "
                    "(expected genai_config.json for ONNX or config.json for Hugging Face)")
