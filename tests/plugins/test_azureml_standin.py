"""AzureML end to end against the local HTTPS stand-in (tests/plugins/azureml_standin).

The SDK submits real command jobs (code snapshot, anonymous environment, input
uploads), streams and downloads them over HTTPS on 127.0.0.1; the stand-in runs
each submitted command on this machine. Any connection leaving loopback fails
the test (here) or is refused (in the commands the stand-in runs).
"""
from __future__ import annotations

import re
import shutil
import socket
from pathlib import Path

import pytest

from modelpress.errors import UserError
from tests.plugins.azureml_standin.fixture import RESOURCE_GROUP, SUBSCRIPTION, WORKSPACE, standin_env
from tests.plugins.azureml_standin.lora_reference import adapter_tensors, local_adapter, workflow, write_train_data

DATA = Path(__file__).parent / "azureml_standin" / "data"
REGISTRY_MODEL = "azureml://registries/azureml-msr/models/microsoft/Phi-3-mini-4k-instruct/versions/11"


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Any connection from this process that leaves loopback fails the test."""
    real = socket.create_connection

    def guarded(address, *args, **kwargs):
        if address[0] not in ("127.0.0.1", "localhost", "::1"):
            pytest.fail(f"connection to {address} leaves loopback")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)


def mlflow_layout(model: Path, folder: Path) -> Path:
    """The tiny Phi-3 as an Azure ML registry serves Phi-3: an MLflow model folder."""
    weights, tokenizer = folder / "data" / "model", folder / "data" / "tokenizer"
    weights.mkdir(parents=True)
    tokenizer.mkdir(parents=True)
    for f in model.iterdir():
        target = tokenizer if f.name.startswith(("tokenizer", "special_tokens", "chat_template")) else weights
        shutil.copy(f, target / f.name)
    (folder / "MLmodel").write_text("flavors:\n  transformers:\n    task: text-generation\n")
    return folder


@pytest.fixture(scope="module")
def standin(tmp_path_factory, tiny_phi3):
    root = tmp_path_factory.mktemp("standin")
    models = {REGISTRY_MODEL: mlflow_layout(tiny_phi3, root / "registry" / "phi3")}
    with standin_env(root, computes=("cpu-cluster", "gpu-cluster"), models=models) as (server, compute):
        yield server, compute


def aml_system(**extra) -> dict:
    return {"type": "AzureML", "aml_compute": "cpu-cluster",
            "aml_docker_config": {"base_image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04",
                                  "conda_file_path": str(DATA / "conda.yaml")}, **extra}


def no_standin_errors(server):
    assert server.errors == []


@pytest.mark.slow
def test_lora_on_azureml_gives_the_local_adapter(standin, tiny_phi3, tmp_path):
    import torch

    import modelpress

    server, _ = standin
    data = write_train_data(tmp_path / "data")
    result = modelpress.run(workflow(tiny_phi3, str(data), work=tmp_path, host="aml", systems={"aml": aml_system()}))

    no_standin_errors(server)
    handle = result.output_model.to_json()
    assert handle["model_path"] == str(tiny_phi3)  # the uploaded input, not the compute's mount
    adapter = Path(handle["adapter_path"])
    assert adapter.is_relative_to(tmp_path / "output")
    ours, local = adapter_tensors(adapter), adapter_tensors(local_adapter(tiny_phi3))
    assert sorted(ours) == sorted(local)
    for name in local:
        assert torch.equal(ours[name], local[name]), name
    # the job went through the service: code snapshot, uploads, submission, log stream, download
    calls = [f"{m} {p}" for m, p in server.requests]
    for pattern in (r"POST .*/codes/[^/]+/versions/1/startPendingUpload",  # code snapshot
                    r"PUT /standinstore/.*/code/job\.json",
                    r"PUT .*/environments/CliV2AnonymousEnvironment/versions/\w+",
                    r"PUT /standinstore/.*/train\.jsonl",                   # the data, uploaded
                    r"PUT .*/jobs/\w+", r"GET /history/.*/runs/\w+/details",  # submitted, streamed
                    r"GET /standinstore/.*/output/model/adapter_model\.safetensors"):  # downloaded
        assert any(re.fullmatch(pattern, c) for c in calls), pattern


def test_unknown_compute_is_one_line_user_error(standin, tiny_phi3, tmp_path):
    import modelpress

    data = write_train_data(tmp_path / "data")
    config = workflow(tiny_phi3, str(data), work=tmp_path, host="aml",
                      systems={"aml": aml_system(aml_compute="cpu-clustr")})
    with pytest.raises(UserError) as info:
        modelpress.run(config)
    assert info.value.problems == [f"aml_compute: workspace '{WORKSPACE}' has no compute 'cpu-clustr'; "
                                   "did you mean 'cpu-cluster'?; create it or name one of: cpu-cluster, gpu-cluster"]


class HostOnly:
    """A plugin installed here but not in the job's environment (a common mistake)."""

    from modelpress import hookimpl
    from modelpress.components import Pass

    class Renamer(Pass):
        name = "HostOnlyRenamer"
        schema = {"type": "object", "properties": {}}

    @staticmethod
    @hookimpl
    def register_passes(register):
        register(HostOnly.Renamer)


def test_failed_job_shows_remote_error_and_log_tail(standin, tiny_phi3, tmp_path, register_plugin, caplog):
    import modelpress

    server, compute = standin
    register_plugin(HostOnly, "host-only")
    data = write_train_data(tmp_path / "data")
    config = workflow(tiny_phi3, str(data), work=tmp_path, host="aml", systems={"aml": aml_system()})
    config["passes"] = {"rename": {"type": "HostOnlyRenamer"}}
    with caplog.at_level("INFO", logger="modelpress"), pytest.raises(UserError) as info:
        modelpress.run(config)
    from modelpress.errors import ConfigError
    from modelpress.registry import Registry, new_plugin_manager

    with pytest.raises(ConfigError) as missing:  # what the compute's registry says
        Registry(new_plugin_manager(autoload=False)).get("pass", "HostOnlyRenamer")
    remote = str(missing.value)
    assert info.value.problems == [f"passes.rename: {remote}"]
    failure = next(r.getMessage() for r in caplog.records if r.levelname == "ERROR" and r.name == "modelpress.azureml")
    assert failure.startswith("Azure ML job ") and f"failed: {remote}" in failure
    assert failure.endswith(f"modelpress.runner: ConfigError: {remote}")  # the tail of the remote log
    # no cache entry for the failed pass (its downloaded output stays in the work folder)
    assert [p for p in (tmp_path / "cache").rglob("result.json") if "tmp" not in p.relative_to(tmp_path).parts] == []


def test_cancelled_job_is_one_line_user_error(standin, tiny_phi3, tmp_path):
    import modelpress

    server, compute = standin
    data = write_train_data(tmp_path / "data")
    config = workflow(tiny_phi3, str(data), work=tmp_path, host="aml", systems={"aml": aml_system()})
    config["passes"]["lora"]["r"] = 2  # a new cache key
    compute.cancel_on_start.add("lora")
    try:
        with pytest.raises(UserError) as info:
            modelpress.run(config)
    finally:
        compute.cancel_on_start.clear()
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith("Azure ML job ")
    assert info.value.problems[0].endswith("cancelled (" + info.value.problems[0].split("(")[1].split(")")[0]
                                           + "); the cache keeps the passes that finished, run again to resume")
