"""AzureML end to end against the local HTTPS stand-in (tests/plugins/azureml_standin).

The SDK submits real command jobs (code snapshot, anonymous environment, input
uploads), streams and downloads them over HTTPS on 127.0.0.1; the stand-in runs
each submitted command on this machine. Any connection leaving loopback fails
the test (here) or is refused (in the commands the stand-in runs).
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from modelpress.errors import UserError
from tests.plugins.azureml_standin.fixture import (
    RESOURCE_GROUP,
    SUBSCRIPTION,
    WORKSPACE,
    loopback_only,  # noqa: F401  (autouse)
    standin_env,
)
from tests.plugins.azureml_standin.lora_reference import (
    adapter_tensors,
    local_adapter,
    mlflow_layout,
    upload_train_data,
    workflow,
    write_train_data,
)

DATA = Path(__file__).parent / "azureml_standin" / "data"
REGISTRY_MODEL = "azureml://registries/azureml-msr/models/microsoft/Phi-3-mini-4k-instruct/versions/11"


@pytest.fixture(scope="module")
def standin(tmp_path_factory, tiny_phi3):
    root = tmp_path_factory.mktemp("standin")
    models = {REGISTRY_MODEL: mlflow_layout(tiny_phi3, root / "registry" / "phi3")}
    with standin_env(root, computes=("cpu-cluster", "gpu-cluster"), models=models) as (server, compute):
        yield server, compute


@pytest.fixture(scope="module")
def aml_work(tmp_path_factory) -> dict:
    """Training data and a cache shared by the tests that chain onto the LoRA run."""
    root = tmp_path_factory.mktemp("aml-work")
    return {"data": write_train_data(root / "data"), "cache": root / "cache"}


def aml_system(**extra) -> dict:
    return {"type": "AzureML", "aml_compute": "cpu-cluster",
            "aml_docker_config": {"base_image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04",
                                  "conda_file_path": str(DATA / "conda.yaml")}, **extra}


def no_standin_errors(server):
    assert server.errors == []


@pytest.mark.slow
def test_lora_on_azureml_gives_the_local_adapter(standin, aml_work, tiny_phi3, tmp_path):
    import torch

    import modelpress

    server, _ = standin
    config = workflow(tiny_phi3, str(aml_work["data"]), work=tmp_path, host="aml", systems={"aml": aml_system()})
    config["cache_dir"] = str(aml_work["cache"])
    result = modelpress.run(config)

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

    _server, _compute = standin
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
    assert failure.endswith(f"modelpress.engine.runner: ConfigError: {remote}")  # the tail of the remote log
    # no cache entry for the failed pass (its downloaded output stays in the work folder)
    assert [p for p in (tmp_path / "cache").rglob("result.json") if "tmp" not in p.relative_to(tmp_path).parts] == []


def test_cancelled_job_is_one_line_user_error_and_cache_keeps_finished_passes(standin, aml_work, tiny_phi3,
                                                                              tmp_path):
    import modelpress

    server, compute = standin
    config = workflow(tiny_phi3, str(aml_work["data"]), work=tmp_path, host="aml", systems={"aml": aml_system()})
    config["cache_dir"] = str(aml_work["cache"])
    modelpress.run(config)  # the LoRA pass: a cache hit when the LoRA test ran before
    config["passes"]["merge"] = {"type": "MergeAdapterWeights"}
    before = set(server.jobs)
    compute.cancel_on_start.add("merge")  # someone cancels the merge job in the studio
    try:
        with pytest.raises(UserError) as info:
            modelpress.run(config)
    finally:
        compute.cancel_on_start.clear()
    (line,) = info.value.problems
    assert re.fullmatch(r"Azure ML job \w+: cancelled \(https://127\.0\.0\.1:\d+/studio/\w+\); the cache keeps "
                        r"the passes that finished, run again to resume", line), line
    # only the merge was submitted: the finished LoRA pass came from the cache, and is still there
    assert [server.jobs[n]["properties"]["tags"]["modelpress.step"] for n in set(server.jobs) - before] == ["merge"]
    assert list(Path(aml_work["cache"]).rglob("adapter_model.safetensors"))


def seed_workflow(folder: Path, standin_url: str) -> Path:
    """The brief's seed-azureml.json with its placeholders filled for the stand-in.

    Changed, and only these: the "Your ..." placeholders (compute, image,
    workspace, data path); the device (this machine has no GPU: cpu and the
    CPU execution provider); training shortened to 2 steps of 256-token blocks.
    """
    seed = json.loads((DATA / "seed-azureml.json").read_text())
    for system in seed["systems"].values():
        system["config"].update(aml_compute="gpu-cluster", accelerators=["cpu"])
        system["config"]["aml_docker_config"]["base_image"] = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04"
    files = seed["data_configs"][0]["load_dataset_config"]["params"]["data_files"]["config"]
    files["azureml_client"] = {"subscription_id": SUBSCRIPTION, "resource_group": RESOURCE_GROUP,
                               "workspace_name": WORKSPACE}
    files["relative_path"] = "phi3/train_data.json"
    seed["data_configs"][0]["pre_process_data_config"]["params"]["source_max_len"] = 256
    seed["passes"]["lora"]["config"]["training_args"]["max_steps"] = 2
    seed["engine"]["execution_providers"] = ["CPUExecutionProvider"]
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(DATA / "conda.yaml", folder / "conda.yaml")
    path = folder / "seed-azureml.json"
    path.write_text(json.dumps(seed, indent=2))
    return path


@pytest.mark.slow
def test_brief_seed_config_runs_on_the_standin(standin, tmp_path, caplog):
    import modelpress

    server, _compute = standin
    upload_train_data(server.url)
    config = seed_workflow(tmp_path / "configs", server.url)
    with caplog.at_level("INFO", logger="modelpress"):
        result = modelpress.run(str(config))

    no_standin_errors(server)
    seed_jobs = [j["properties"] for j in server.jobs.values()
                 if j["properties"]["computeId"].endswith("/computes/gpu-cluster")]
    assert [j["tags"]["modelpress.step"] for j in seed_jobs] == ["lora", "merge_adapter_weights", "builder"]
    assert all(j["status"] == "Completed" for j in seed_jobs)
    # the registry model and the datastore file were job inputs, never downloaded by the host
    lora = seed_jobs[0]
    assert (lora["inputs"]["model_path"]["jobInputType"], lora["inputs"]["model_path"]["uri"]) == (
        "custom_model", REGISTRY_MODEL)
    assert lora["inputs"]["dataset_default_train_data_files"]["uri"].endswith(
        "/datastores/workspaceblobstore/paths/phi3/train_data.json")
    # hf_token: only the vault's address reached the job; no token was written anywhere
    assert lora["environmentVariables"]["MODELPRESS_HF_TOKEN_VAULT"] == "https://kv-standin.vault.azure.net"
    # on the stand-in compute the vault is out of reach: the job warns and goes on
    streamed = "\n".join(r.getMessage() for r in caplog.records)
    assert "hf_token: could not read secret 'hf-token' from https://kv-standin.vault.azure.net" in streamed
    out = Path(result.output_dir)
    assert result.output_model.name == "ONNXModel"
    assert (Path(result.output_model.config["model_path"]) / "genai_config.json").is_file()
    assert Path(result.output_model.config["model_path"]).is_relative_to(tmp_path)
    assert out.is_relative_to(tmp_path)


def test_hf_token_is_read_from_the_vault_and_never_printed(standin, monkeypatch, capsys, caplog):
    import azure.identity

    from modelpress.plugins.azureml import launch
    from tests.plugins.azureml_standin.fixture import StaticToken

    server, _ = standin
    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", lambda **kw: StaticToken())
    monkeypatch.setenv("SSL_CERT_FILE", str(server.cert))  # urllib trusts the stand-in
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with caplog.at_level("DEBUG"):
        launch.fetch_hf_token(server.url)
    assert os.environ["HF_TOKEN"] == server.hf_token
    assert server.vault_auth[-1] == "Bearer standin-token"
    captured = capsys.readouterr()
    assert server.hf_token not in captured.out + captured.err + caplog.text


def test_evaluation_on_azureml_target(standin, tiny_phi3, tmp_path):
    """``target: <AzureML system>``: the evaluation runs as a job on the compute too."""
    import modelpress

    server, _ = standin
    before = set(server.jobs)
    config = {"input_model": {"type": "HfModel", "model_path": str(tiny_phi3)},
              "systems": {"aml": aml_system()}, "target": "aml", "passes": {},
              "evaluators": {"size": {"metrics": [{"name": "size", "type": "size_on_disk",
                                                   "sub_types": [{"name": "bytes"}]}]}},
              "evaluator": "size", "evaluate_input_model": True,
              "cache_dir": str(tmp_path / "cache"), "output_dir": str(tmp_path / "output")}
    result = modelpress.run(config)
    (job,) = [server.jobs[n]["properties"] for n in set(server.jobs) - before]
    assert job["tags"]["modelpress.kind"] == "evaluation" and job["status"] == "Completed"
    assert job["inputs"]["model_path"]["jobInputType"] == "uri_folder"  # the local model, uploaded
    expected = sum(p.stat().st_size for p in tiny_phi3.rglob("*") if p.is_file())
    assert result.input_metrics == {"size-bytes": float(expected)}


def test_resources_download_once_into_the_cache(standin, tmp_path):
    """Where the host does not mount them, resources are downloaded through the SDK, once."""
    from modelpress.plugins.azureml.resources import AzureMLDatastore, AzureMLModel
    from tests.plugins.azureml_standin.server import CONTAINER

    server, _ = standin
    rows = upload_train_data(server.url)
    client = {"subscription_id": SUBSCRIPTION, "resource_group": RESOURCE_GROUP, "workspace_name": WORKSPACE}
    data = AzureMLDatastore({"azureml_client": client, "datastore_name": "workspaceblobstore",
                             "relative_path": "phi3/train_data.json"})
    path = data.materialize(tmp_path / "cache")
    assert path.name == "train_data.json"
    assert [json.loads(line) for line in path.read_text().splitlines()] == rows
    seen = len(server.requests)
    assert data.materialize(tmp_path / "cache") == path and len(server.requests) == seen  # no second download

    # a workspace model: its asset names a datastore folder
    server.blobs.put(CONTAINER, "models/tone/3/config.json", b'{"model_type": "phi3"}')
    server.assets["models/tone/versions/3"] = {
        "id": server.arm_id("models/tone/versions/3"), "name": "3", "systemData": {"createdAt": "2026-01-01T00:00:00Z"},
        "properties": {"modelUri": f"azureml://subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/workspaces/"
                                   f"{WORKSPACE}/datastores/workspaceblobstore/paths/models/tone/3",
                       "modelType": "custom_model", "flavors": {}}}
    model = AzureMLModel({"azureml_client": client, "name": "tone", "version": 3}).materialize(tmp_path / "cache")
    assert json.loads((model / "config.json").read_text()) == {"model_type": "phi3"}
