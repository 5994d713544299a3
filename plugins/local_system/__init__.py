"""LocalSystem: runs passes and evaluations in this process."""
from __future__ import annotations

from pathlib import Path

from modelpress import hookimpl
from modelpress.components import System
from modelpress.engine.runner import run_job


class LocalSystem(System):
    """This machine, in this Python process."""

    name = "LocalSystem"
    schema = "modelpress.plugins.local_system:schemas/LocalSystem.json"
    runs_here = True
    stands_for = "local"  # host/target "local" needs no systems entry

    def run_job(self, job: dict, output_dir: Path) -> dict:
        return run_job(job, output_dir, self.context.registry)


@hookimpl
def register_systems(register):
    register(LocalSystem)
