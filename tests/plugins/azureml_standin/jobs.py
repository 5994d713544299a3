"""Test only: runs a command job submitted to the stand-in on this machine.

The code snapshot and the uploaded inputs are copied out of the stand-in's
blob store into a work folder, ``${{inputs.x}}``/``${{outputs.output}}`` are
replaced by local paths (as Azure ML mounts them), the command runs with this
interpreter first on PATH, and its output is written to the user log
(``user_logs/std_log.txt``) that run history serves to ``jobs.stream``. When the
command ends the output folder is stored as blobs and the job's named output
points at them, as on a real compute.
"""
from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from .server import CONTAINER

DATASTORE_PATH = re.compile(r"azureml://(?:subscriptions/.+?/workspaces/[^/]+/)?datastores/([^/]+)/paths/(.+)")


class LocalCompute:
    """``run_job`` callable of :class:`.service.StandIn`: one process per job."""

    def __init__(self, root: Path, models: dict[str, Path] | None = None, env: dict[str, str] | None = None):
        self.root = Path(root)
        self.models = dict(models or {})  # "azureml://registries/..." or "azureml:name:version" -> folder
        self.env = dict(env or {})
        self.processes: dict[str, subprocess.Popen] = {}
        self.cancel_on_start: set[str] = set()  # step tags whose jobs a user cancels at once

    def fetch(self, standin, uri: str, target: Path) -> Path:
        """Materialize a job input the way a mount would."""
        if uri in self.models:
            return self.models[uri]
        m = DATASTORE_PATH.fullmatch(uri)
        if not m:
            raise ValueError(f"stand-in cannot mount {uri}")
        return standin.blobs.get_tree(CONTAINER, m.group(2).rstrip("/"), target)

    def __call__(self, standin, name: str) -> None:
        job = standin.jobs[name]["properties"]
        work = self.root / name
        log_name = "user_logs/std_log.txt"
        log_blob = f"ExperimentRun/dcid.{name}/{log_name}"
        try:
            code_uri = standin.assets[job["codeId"].split("/workspaces/")[1].split("/", 1)[1]]["properties"]["codeUri"]
            code = standin.blobs.get_tree(CONTAINER, code_uri.split(f"/{CONTAINER}/", 1)[1], work / "code")
            values = {f"inputs.{k}": str(self.fetch(standin, v["uri"], work / "inputs" / k))
                      for k, v in (job.get("inputs") or {}).items()}
            output = work / "outputs" / "output"
            output.mkdir(parents=True)
            values["outputs.output"] = str(output)
            command = re.sub(r"\$\{\{\s*([\w.]+)\s*\}\}", lambda m: values[m.group(1)], job["command"])
            env = {**os.environ, **self.env, **(job.get("environmentVariables") or {})}
            env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
            standin.run_details[name]["logFiles"] = {log_name: f"{standin.url}/standinstore/{CONTAINER}/{log_blob}"}
            if job.get("tags", {}).get("modelpress.step") in self.cancel_on_start:
                standin.set_status(name, "Canceled")
                return
            standin.set_status(name, "Running")
            with open(work / "std_log.txt", "wb") as log:
                proc = subprocess.Popen(shlex.split(command), cwd=code, env=env, stdout=log, stderr=subprocess.STDOUT)
                self.processes[name] = proc
                while proc.poll() is None:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(timeout=0.2)
                    standin.blobs.put(CONTAINER, log_blob, (work / "std_log.txt").read_bytes())
            standin.blobs.put(CONTAINER, log_blob, (work / "std_log.txt").read_bytes())
            prefix = f"azureml/{name}/output"
            standin.blobs.put_tree(CONTAINER, prefix, output)
            job["outputs"]["output"]["uri"] = f"azureml://datastores/workspaceblobstore/paths/{prefix}/"
            standin.set_status(name, "Completed" if proc.returncode == 0 else "Failed",
                               error=None if proc.returncode == 0 else f"command exited with code {proc.returncode}")
        except Exception as exc:  # a stand-in problem must be visible in the test
            standin.errors.append(f"job {name}: {exc!r}")
            standin.set_status(name, "Failed", error=repr(exc))
