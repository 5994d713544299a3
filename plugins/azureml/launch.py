"""Runs a modelpress job inside an Azure ML command job (on the compute).

``python -m modelpress.plugins.azureml.launch job.json OUTPUT --input NAME=PATH ...``
replaces the job's input markers by the mount paths Azure ML gives, reads the
Hugging Face token from the Key Vault when the job asks for it, and then does
exactly what ``python -m modelpress.engine.runner job.json OUTPUT`` does.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from modelpress.engine.runner import RESULT_FILE, exit_code, run_job

from .job_builder import MARKER, VAULT_ENV

HF_TOKEN_SECRET = "hf-token"


def substitute(value: Any, inputs: dict[str, str]) -> Any:
    """Replace every input marker in a job by the input's mount path.

    A model input is the asset's folder as registered; an MLflow layout
    (``data/model``) is the model type's business (``model_file_format``).
    """
    if isinstance(value, dict):
        return {k: substitute(v, inputs) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, inputs) for v in value]
    if isinstance(value, str) and value.startswith(MARKER):
        name = value[len(MARKER):]
        if name not in inputs:
            raise SystemExit(f"launch: the job names input '{name}' but the command gave none")
        return inputs[name]
    return value


def unmount(handle: dict, inputs: dict[str, str]) -> dict:
    """A result handle with input mount paths put back as markers: the host
    restores what the job named (a local folder, a registry model), since a
    mount path means nothing outside this job."""
    out = dict(handle)
    for field, value in handle.items():
        if not isinstance(value, str):
            continue
        for name, mount in inputs.items():
            mount = mount.rstrip("/")
            if value == mount or value.startswith(mount + "/"):
                out[field] = MARKER + name + value[len(mount):]
                break
    return out


def fetch_hf_token(vault_url: str) -> None:
    """Put the Key Vault secret ``hf-token`` into ``HF_TOKEN`` (never printed)."""
    import urllib.request

    from azure.identity import DefaultAzureCredential

    token = DefaultAzureCredential(exclude_interactive_browser_credential=True).get_token(
        "https://vault.azure.net/.default").token
    request = urllib.request.Request(f"{vault_url.rstrip('/')}/secrets/{HF_TOKEN_SECRET}?api-version=7.4",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        os.environ["HF_TOKEN"] = json.loads(answer.read())["value"]


def main(argv: list[str] | None = None) -> int:
    """Entry point on the compute; exit codes as ``modelpress.engine.runner``."""
    parser = argparse.ArgumentParser(prog="modelpress.plugins.azureml.launch")
    parser.add_argument("job")
    parser.add_argument("output_dir")
    parser.add_argument("--input", action="append", default=[], metavar="NAME=PATH")
    args = parser.parse_args(argv)
    inputs = dict(item.split("=", 1) for item in args.input)
    job = substitute(json.loads(Path(args.job).read_text(encoding="utf-8")), inputs)
    logging.basicConfig(level=job.get("log_level", logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if os.environ.get(VAULT_ENV):
        try:
            fetch_hf_token(os.environ[VAULT_ENV])
        except Exception as exc:  # the job can still run models that need no token
            logging.getLogger("modelpress").warning(
                "hf_token: could not read secret '%s' from %s (%s); give the compute's identity "
                "'get' permission on secrets", HF_TOKEN_SECRET, os.environ[VAULT_ENV], type(exc).__name__)
    result = run_job(job, Path(args.output_dir))
    if "model" in result:
        result["model"] = unmount(result["model"], inputs)
        (Path(args.output_dir) / RESULT_FILE).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return exit_code(result)


if __name__ == "__main__":
    sys.exit(main())
