"""Run one LoRA pass from a JSON file ``{"config", "data_configs", "model_path", "out"}``.

Launched plainly or by ``torchrun --nproc_per_node N``: every process runs the
pass, Trainer makes them one data-parallel job (gloo on CPU), rank 0 saves.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def main(spec_path: str) -> None:
    """Train the adapter the spec describes."""
    from modelpress.components import Accelerator, RunContext
    from modelpress.registry import Registry, new_plugin_manager

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    registry = Registry(new_plugin_manager(autoload=False))
    context = RunContext(registry=registry, accelerator=Accelerator(), data_configs=spec["data_configs"])
    model = registry.model_handle({"type": "HfModel", "model_path": spec["model_path"]})
    registry.create_pass(spec["config"], context).run(model, Path(spec["out"]))


if __name__ == "__main__":
    main(sys.argv[1])
