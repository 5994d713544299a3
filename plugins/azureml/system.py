"""AzureML: runs each pass or evaluation as an Azure ML command job.

For every job: build the command job (:mod:`.job_builder`), submit it, stream
its log into ours, download the named output ``output`` into the engine's
output folder and move the returned model handle there
(:func:`modelpress.engine.runner.relocate`). Errors a user can act on (credentials,
compute, cancelled job) are one-line UserErrors; a failed job returns the
runner's error with the tail of the remote log, as the other systems do.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
import tempfile
from pathlib import Path

from modelpress.components import System
from modelpress.engine.runner import RESULT_FILE, relocate
from modelpress.errors import UserError, did_you_mean

from .client import call, ml_client
from .job_builder import OUTPUT_NAME, build_command_job, restore
from .resources import REQUIRES

log = logging.getLogger("modelpress.azureml")
TAIL_LINES = 40


class LogLines(io.TextIOBase):
    """A text stream that forwards whole lines to our log (the SDK prints the job's log)."""

    def __init__(self, prefix: str):
        self.prefix, self._buffer = prefix, ""

    def write(self, text: str) -> int:
        self._buffer += text
        *lines, self._buffer = self._buffer.split("\n")
        for line in lines:
            if line.strip():
                log.info("%s| %s", self.prefix, line)
        return len(text)


class AzureML(System):
    """An Azure Machine Learning compute (cluster or instance) of a workspace."""

    name = "AzureML"
    schema = "modelpress.plugins.azureml:schemas/AzureML.json"
    requires = REQUIRES
    #: Azure ML resources become job inputs: the engine need not download them
    mounts_resources = True

    _client = None
    _compute_checked = False

    @property
    def client_config(self) -> dict:
        """The system's ``azureml_client`` block ({} when absent: environment or config.json)."""
        return dict(self.config.get("azureml_client") or {})

    @property
    def client(self):
        """The workspace's ``MLClient`` (made once)."""
        if self._client is None:
            self._client = ml_client(self.client_config)
        return self._client

    def _call(self, what, fn):
        return call(what, fn, self.client_config)

    def check_compute(self) -> None:
        """Fail early, in one line, when the compute does not exist."""
        if self._compute_checked:
            return
        from azure.core.exceptions import ResourceNotFoundError

        name = self.config["aml_compute"]
        try:
            self._call("compute", lambda: self.client.compute.get(name))
        except ResourceNotFoundError:
            known = [c.name for c in self._call("computes", lambda: list(self.client.compute.list()))]
            raise UserError(f"aml_compute: workspace '{self.client.workspace_name}' has no compute "
                            f"'{name}'{did_you_mean(name, known)}; create it or name one of: "
                            f"{', '.join(known) or 'none'}") from None
        self._compute_checked = True

    def vault_url(self) -> str | None:
        """The Key Vault holding the ``hf-token`` secret (only when ``hf_token`` is on)."""
        if not self.config.get("hf_token"):
            return None
        name = self.client_config.get("keyvault_name")
        if not name:
            ws = self._call("workspace", lambda: self.client.workspaces.get(self.client.workspace_name))
            name = (ws.key_vault or "").rstrip("/").split("/")[-1]
        return f"https://{name}.vault.azure.net" if name else None

    def run_job(self, job: dict, output_dir: Path) -> dict:
        """Submit ``job`` as a command job; the runner's result, paths under ``output_dir``."""
        from azure.ai.ml.exceptions import JobException

        output_dir = Path(output_dir).resolve()
        self.check_compute()
        with tempfile.TemporaryDirectory(prefix="modelpress-aml-") as tmp:
            tmp = Path(tmp)
            aml_job, originals = build_command_job(job, self.config, tmp / "code", self.context.registry,
                                                   vault_url=self.vault_url())
            submitted = self._call("submit", lambda: self.client.jobs.create_or_update(aml_job))
            name = submitted.name
            log.info("Azure ML job %s submitted to '%s' (%s)", name, self.config["aml_compute"],
                     submitted.studio_url)
            try:
                with contextlib.redirect_stdout(LogLines(f"[{name}] ")):
                    self.client.jobs.stream(name)
            except JobException:
                pass  # a failed job: its status and logs are read below
            except KeyboardInterrupt:
                self.client.jobs.begin_cancel(name)
                raise
            final = self._call("status", lambda: self.client.jobs.get(name))
            status = str(getattr(final.status, "value", final.status))
            if status in ("Canceled", "CancelRequested"):
                raise UserError(f"Azure ML job {name}: cancelled ({final.studio_url}); the cache keeps "
                                "the passes that finished, run again to resume")
            result = self._fetch_output(name, tmp / "download", output_dir)
            if status != "Completed" or "error" in result:
                return self._failure(name, status, final, result, tmp / "logs")
        remote_root = result.get("output_dir")
        if "model" in result and remote_root:
            result["model"] = relocate(restore(result["model"], originals), remote_root, output_dir,
                                       self.context.registry)
        result["output_dir"] = str(output_dir)
        result["aml_job"] = name
        # what the engine (and a cache entry) reads back is the handle as seen from here
        (output_dir / RESULT_FILE).write_text(json.dumps(result, indent=2), encoding="utf-8")
        return result

    def _fetch_output(self, name: str, download: Path, output_dir: Path) -> dict:
        """Download the named output into ``output_dir``; its result.json (or {})."""
        try:
            self._call("download", lambda: self.client.jobs.download(
                name, download_path=str(download), output_name=OUTPUT_NAME))
        except Exception as exc:  # a failed job may have written nothing; the caller reports it
            log.debug("no output for %s: %s", name, exc)
            return {}
        files = download / "named-outputs" / OUTPUT_NAME
        if not (files / RESULT_FILE).is_file():
            return {}
        output_dir.mkdir(parents=True, exist_ok=True)
        for item in files.iterdir():
            target = output_dir / item.name
            if target.is_dir():
                shutil.rmtree(target)
            shutil.move(str(item), str(target))
        return json.loads((output_dir / RESULT_FILE).read_text(encoding="utf-8"))

    def _failure(self, name: str, status: str, final, result: dict, logs: Path) -> dict:
        """The error result of a failed job, with the tail of its log."""
        error = dict(result.get("error") or {})
        if not error and status == "Completed":
            error = {"type": "AzureMLJobFailed", "user_error": False,
                     "message": f"Azure ML job {name} completed but its output '{OUTPUT_NAME}' holds no "
                                f"{RESULT_FILE} (was the command changed?); see {final.studio_url}"}
        if not error:
            detail = ""
            err = getattr(final, "error", None) or (getattr(final, "properties", None) or {}).get("error")
            if err:
                detail = f": {getattr(err, 'message', err)}"
            error = {"type": "AzureMLJobFailed", "user_error": False,
                     "message": f"Azure ML job {name} ended {status}{detail}; see {final.studio_url}"}
        error["aml_job"] = name
        error["log_tail"] = self._log_tail(name, logs)
        log.error("Azure ML job %s failed: %s\n%s", name, error["message"], error["log_tail"])
        return {"error": error}

    def _log_tail(self, name: str, logs: Path) -> str:
        """The last lines of the job's user log (std_log.txt), or ''."""
        try:
            self._call("logs", lambda: self.client.jobs.download(name, download_path=str(logs)))
        except Exception as exc:
            return f"(logs of {name} unavailable: {str(exc).splitlines()[0][:200]})"
        found = sorted(logs.rglob("std_log*.txt")) or sorted(logs.rglob("*.txt"))
        if not found:
            return ""
        lines = found[0].read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(lines[-TAIL_LINES:])
