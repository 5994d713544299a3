"""Turns a modelpress job into an Azure ML command job.

The job JSON travels in the command job's ``code`` folder. Every local path
and every Azure resource the job names (the model handle's path fields, data
files) becomes a job input (``uri_folder``, ``uri_file``, ``custom_model``,
``mlflow_model``); in the JSON it is replaced by a marker that the launcher
(:mod:`.launch`) swaps for the input's mount path on the compute. The output
folder is the named output ``output``.
"""
from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelpress.errors import UserError
from modelpress.frozen import Config, thaw
from modelpress.redact import redact

OUTPUT_NAME = "output"
MARKER = "@modelpress-input:"
VAULT_ENV = "MODELPRESS_HF_TOKEN_VAULT"
JOB_FILE = "job.json"


def resource_input(value: Mapping[str, Any], registry: Any, where: str) -> dict:
    """``{"type", "path"}`` of the job input for an Azure resource dict."""
    cls = registry.get("resource", value.get("type"), where).cls
    config = value.get("config") or {k: v for k, v in value.items() if k != "type"}
    return cls(Config(config)).aml_input()


def path_input(value: str) -> dict:
    """``{"type", "path"}`` of the job input that uploads a local file or folder."""
    path = Path(value)
    return {"type": "uri_folder" if path.is_dir() else "uri_file", "path": str(path.resolve())}


class InputCollector:
    """Replaces paths and resources in a job by markers; collects the inputs."""

    def __init__(self, registry: Any):
        self.registry = registry
        self.inputs: dict[str, dict] = {}
        self.originals: dict[str, Any] = {}  # input name -> what the job named (path or resource)
        self._resource_types = set(registry.names("resource"))

    def add(self, name: str, spec: dict, original: Any) -> str:
        """Declare an input (a unique, valid name); return the marker that stands for it."""
        name = re.sub(r"[^A-Za-z0-9_]", "_", name)[:60] or "input"
        base, n = name, 1
        while name in self.inputs and self.inputs[name] != spec:
            n += 1
            name = f"{base}_{n}"
        self.inputs[name] = spec
        self.originals[name] = original
        return MARKER + name

    def is_resource(self, value: Any) -> bool:
        """Whether ``value`` is a registered resource dict (``{"type": ..., "config": ...}``)."""
        return isinstance(value, Mapping) and value.get("type") in self._resource_types

    def model(self, handle: dict) -> dict:
        """The model handle with its path fields turned into inputs."""
        cls = self.registry.get("model_type", handle.get("type"), "model.type").cls
        out = dict(handle)
        for field in cls.path_fields:
            value = out.get(field)
            if self.is_resource(value):
                out[field] = self.add(field, resource_input(value, self.registry, f"model.{field}"), value)
            elif isinstance(value, str) and Path(value).is_absolute() and Path(value).exists():
                out[field] = self.add(field, path_input(value), value)
        return out

    def data(self, value: Any, name: str, key: str = "") -> Any:
        """A data config with its local paths and resources turned into inputs
        (named ``<data config>_<key>``, e.g. ``train_data_files``)."""
        where = f"{name}_{key}" if key else name
        if self.is_resource(value):
            return self.add(where, resource_input(value, self.registry, f"data_configs.{name}.{key}"), value)
        if isinstance(value, Mapping):
            return {k: self.data(v, name, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.data(v, name, f"{key}_{i}") for i, v in enumerate(value)]
        if isinstance(value, str) and Path(value).is_absolute() and Path(value).exists():
            return self.add(where, path_input(value), value)
        return value


def environment(config: Mapping[str, Any]):
    """The job's environment: a registered one, or built from ``aml_docker_config``."""
    from azure.ai.ml.entities import BuildContext, Environment

    named = config.get("aml_environment_config")
    if named:
        ref = f"azureml:{named['name']}"
        return ref + (f"@{named['label']}" if named.get("label") else f":{named['version']}")
    docker = config.get("aml_docker_config")
    if not docker:
        raise UserError("aml_docker_config: an AzureML system needs aml_docker_config or "
                        "aml_environment_config; add one of them")
    extra = {k: docker[k] for k in ("name", "version") if docker.get(k)}
    if docker.get("dockerfile"):
        if not docker.get("build_context_path"):
            raise UserError("aml_docker_config.build_context_path: a dockerfile needs its build "
                            "context folder; set build_context_path")
        return Environment(build=BuildContext(path=str(docker["build_context_path"]),
                                              dockerfile_path=docker["dockerfile"]), **extra)
    if not docker.get("base_image"):
        raise UserError("aml_docker_config: give base_image (with conda_file_path) or dockerfile "
                        "and build_context_path")
    conda = docker.get("conda_file_path")
    if conda and not Path(conda).is_file():
        raise UserError(f"aml_docker_config.conda_file_path: {conda} does not exist; "
                        "give the conda.yaml that installs modelpress")
    return Environment(image=docker["base_image"], conda_file=str(conda) if conda else None, **extra)


def command_line(inputs: Mapping[str, dict]) -> str:
    """The launcher invocation, with one ``--input name=${{inputs.name}}`` per input."""
    parts = ["python", "-m", "modelpress.plugins.azureml.launch", JOB_FILE, f"${{{{outputs.{OUTPUT_NAME}}}}}"]
    for name in inputs:
        parts += ["--input", f"{name}=${{{{inputs.{name}}}}}"]
    return " ".join(shlex.quote(p) if not p.startswith("${{") and "=${{" not in p else p for p in parts)


def restore(handle: dict, originals: Mapping[str, Any]) -> dict:
    """Put back what a job named where its result handle holds an input marker."""
    out = dict(handle)
    for field, value in handle.items():
        if isinstance(value, str) and value.startswith(MARKER):
            name, _, rest = value[len(MARKER):].partition("/")
            original = originals.get(name)
            if original is not None:
                out[field] = original if not rest or not isinstance(original, str) else f"{original}/{rest}"
    return out


def build_command_job(job: dict, config: Mapping[str, Any], code_dir: Path, registry: Any,
                      *, vault_url: str | None = None):
    """An ``azure.ai.ml`` command job running ``job`` on the configured compute,
    and the original value of each of its inputs (see :func:`restore`).

    ``code_dir`` (an empty folder) receives the rewritten job JSON and is
    uploaded as the job's code. ``vault_url`` names the Key Vault the launcher
    reads the Hugging Face token from (only its address enters the job).
    """
    from azure.ai.ml import Input, Output, command
    from azure.ai.ml.entities import JobResourceConfiguration

    config = thaw(config) if isinstance(config, Config) else dict(config)
    collect = InputCollector(registry)
    remote = dict(job)
    remote["model"] = collect.model(job["model"])
    remote["data_configs"] = {name: collect.data(dc, name)
                              for name, dc in (job.get("data_configs") or {}).items()}
    code_dir = Path(code_dir)
    code_dir.mkdir(parents=True, exist_ok=True)
    # The remote job reads a token from the Key Vault (hf_token), never from this file.
    (code_dir / JOB_FILE).write_text(json.dumps(redact(remote), indent=2), encoding="utf-8")

    env_vars = {"PYTHONUNBUFFERED": "1"}
    if config.get("hf_token"):
        if not vault_url:
            raise UserError("hf_token: the workspace Key Vault is unknown; set azureml_client.keyvault_name")
        env_vars[VAULT_ENV] = vault_url
    tags = {**(config.get("tags") or {}), "modelpress.kind": str(job.get("kind")),
            "modelpress.step": str(job.get("step", ""))}
    resources = config.get("resources")
    step = job.get("step") or job.get("kind")
    aml_job = command(
        code=str(code_dir),
        command=command_line(collect.inputs),
        inputs={name: Input(**spec) for name, spec in collect.inputs.items()},
        outputs={OUTPUT_NAME: Output(type="uri_folder", mode="rw_mount")},
        environment=environment(config),
        compute=config["aml_compute"],
        instance_count=config.get("instance_count") or None,
        resources=JobResourceConfiguration(**resources) if resources else None,
        environment_variables=env_vars,
        tags=tags,
        display_name=f"modelpress {job.get('kind')} {step}",
        experiment_name=config.get("experiment_name") or "modelpress",
    )
    return aml_job, collect.originals
