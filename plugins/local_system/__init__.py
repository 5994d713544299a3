"""LocalSystem: runs passes and evaluations in this process."""
from __future__ import annotations

from pathlib import Path

from modelpress import hookimpl
from modelpress.components import Accelerator, System
from modelpress.runner import run_job

DEVICE_PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "gpu": ["CUDAExecutionProvider", "DmlExecutionProvider", "WebGpuExecutionProvider"],
    "npu": ["QNNExecutionProvider"],
}


def accelerators_from_config(config) -> list[Accelerator]:
    """Olive's ``accelerators`` forms: ``["gpu"]`` or ``[{device, execution_providers}]``."""
    found = []
    for item in config.get("accelerators") or [{"device": "cpu"}]:
        if isinstance(item, str):
            item = {"device": item}
        device = item.get("device", "cpu").lower()
        providers = item.get("execution_providers") or DEVICE_PROVIDERS.get(device, ["CPUExecutionProvider"])[:1]
        found.extend(Accelerator(device, ep) for ep in providers)
    return found


class LocalSystem(System):
    """This machine, in this Python process."""

    name = "LocalSystem"
    schema = "systems/LocalSystem.json"

    def accelerators(self) -> list[Accelerator]:
        return accelerators_from_config(self.config)

    def run_job(self, job: dict, output_dir: Path) -> dict:
        return run_job(job, output_dir, self.context.registry)


@hookimpl
def register_systems(register):
    register(LocalSystem)
