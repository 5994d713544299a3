"""AzureML system offline: the job builder (checked by the SDK's own
``MLClient.jobs.validate``), the launcher, the resources, retries and the
credential error. The end-to-end run against a local stand-in of the service
is in test_azureml_standin.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelpress import hookimpl
from modelpress.components import ModelHandle
from modelpress.errors import UserError
from modelpress.frozen import Config
from tests.plugins.azureml_standin.fixture import loopback_only  # noqa: F401  (autouse)

DATA = Path(__file__).parent / "azureml_standin" / "data"
ZERO = "00000000-0000-0000-0000-000000000000"


class FolderModel(ModelHandle):
    """A model type with two path fields, standing in for HfModel."""

    name = "AmlTestModel"
    path_fields = ("model_path", "adapter_path")
    schema = {"type": "object"}


class TestTypes:
    @hookimpl
    def register_model_types(register):
        register(FolderModel)


@pytest.fixture
def registry(register_plugin):
    return register_plugin(TestTypes, "aml-test-types")


@pytest.fixture
def files(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    train = tmp_path / "train.jsonl"
    train.write_text('{"phrase": "hi", "tone": "joy"}\n')
    return model, train


def system_config(**extra):
    return {"aml_compute": "gpu-cluster", "instance_count": 1, "tags": {"project": "tone"},
            "aml_docker_config": {"base_image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04",
                                  "conda_file_path": str(DATA / "conda.yaml")}, **extra}


def pass_job(model_path, data_files):
    return {"kind": "pass", "step": "lora", "pass": {"type": "LoRA", "r": 8},
            "model": {"type": "AmlTestModel", "model_path": model_path, "task": "text-generation"},
            "data_configs": {"train": {"name": "train", "type": "HuggingfaceContainer",
                                       "load_dataset_config": {"data_name": "json", "data_files": data_files,
                                                               "split": "train"}}},
            "accelerator": {"device": "gpu", "execution_provider": "CUDAExecutionProvider"}, "log_level": 20}


@pytest.fixture(scope="module")
def offline_client():
    from azure.ai.ml import MLClient
    from azure.identity import DefaultAzureCredential

    return MLClient(DefaultAzureCredential(), ZERO, "rg", "ws", enable_telemetry=False)


def test_command_job_from_local_files_validates(registry, files, tmp_path, offline_client):
    from modelpress.plugins.azureml.job_builder import MARKER, build_command_job

    model, train = files
    job = pass_job(str(model), str(train))
    aml, originals = build_command_job(job, Config(system_config()), tmp_path / "code", registry)

    result = offline_client.jobs.validate(aml)
    assert result.passed, result.error_messages
    assert {n: (i.type, i.path) for n, i in aml.inputs.items()} == {
        "model_path": ("uri_folder", str(model)), "train_data_files": ("uri_file", str(train))}
    assert aml.command == ("python -m modelpress.plugins.azureml.launch job.json ${{outputs.output}} "
                           "--input model_path=${{inputs.model_path}} --input train_data_files=${{inputs.train_data_files}}")
    assert aml.outputs["output"].type == "uri_folder"
    assert aml.compute == "gpu-cluster"
    assert aml.environment.image.startswith("mcr.microsoft.com/azureml/")
    assert "modelpress[all]" in json.dumps(aml.environment.conda_file)
    assert aml.tags == {"project": "tone", "modelpress.kind": "pass", "modelpress.step": "lora"}
    # the job file in the code folder: same job, paths replaced by input markers
    remote = json.loads((tmp_path / "code" / "job.json").read_text())
    assert remote["model"] == {**job["model"], "model_path": MARKER + "model_path"}
    assert remote["data_configs"]["train"]["load_dataset_config"]["data_files"] == MARKER + "train_data_files"
    assert remote["pass"] == job["pass"] and remote["accelerator"] == job["accelerator"]
    assert list((tmp_path / "code").iterdir()) == [tmp_path / "code" / "job.json"]
    assert originals == {"model_path": str(model), "train_data_files": str(train)}


def test_validate_catches_a_broken_job(registry, files, tmp_path, offline_client):
    """The SDK's offline validation is shallow; show what it does check on our jobs."""
    import shutil

    from modelpress.plugins.azureml.job_builder import build_command_job

    model, train = files
    aml, _originals = build_command_job(pass_job(str(model), str(train)), Config(system_config()), tmp_path / "code", registry)
    shutil.rmtree(tmp_path / "code")  # the job file's folder is gone
    result = offline_client.jobs.validate(aml)
    assert not result.passed
    assert "Can't find directory or file" in result.error_messages["component.code"]


def test_azure_resources_become_job_inputs(registry, tmp_path, offline_client):
    from modelpress.plugins.azureml.job_builder import build_command_job

    seed = json.loads((DATA / "seed-azureml.json").read_text())
    model_path = seed["input_model"]["config"]["model_path"]
    data_files = seed["data_configs"][0]["load_dataset_config"]["params"]["data_files"]
    data_files["config"]["relative_path"] = "tone/train.json"
    aml, _originals = build_command_job(pass_job(model_path, data_files), Config(system_config(hf_token=True)),
                            tmp_path / "code", registry, vault_url="https://kv-ws.vault.azure.net")
    assert offline_client.jobs.validate(aml).passed
    client = data_files["config"]["azureml_client"]
    assert {n: (i.type, i.path) for n, i in aml.inputs.items()} == {
        "model_path": ("custom_model",
                       "azureml://registries/azureml-msr/models/microsoft/Phi-3-mini-4k-instruct/versions/11"),
        "train_data_files": ("uri_file",
                             f"azureml://subscriptions/{client['subscription_id']}/resourcegroups/"
                             f"{client['resource_group']}/workspaces/{client['workspace_name']}"
                             "/datastores/workspaceblobstore/paths/tone/train.json")}
    # hf_token: only the vault's address travels with the job, never a token
    assert aml.environment_variables == {"PYTHONUNBUFFERED": "1",
                                         "MODELPRESS_HF_TOKEN_VAULT": "https://kv-ws.vault.azure.net"}


def test_environment_forms(registry, files, tmp_path):
    from modelpress.plugins.azureml.job_builder import build_command_job, environment

    assert environment({"aml_environment_config": {"name": "mp-env", "version": "3"}}) == "azureml:mp-env:3"
    assert environment({"aml_environment_config": {"name": "mp-env", "label": "latest"}}) == "azureml:mp-env@latest"
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM python:3.11\nRUN pip install modelpress[all]\n")
    env = environment({"aml_docker_config": {"dockerfile": "Dockerfile", "build_context_path": str(tmp_path / "ctx")}})
    assert env.build.path == str(tmp_path / "ctx") and env.build.dockerfile_path == "Dockerfile"
    with pytest.raises(UserError, match=r"^aml_docker_config: an AzureML system needs aml_docker_config or "):
        environment({"aml_compute": "x"})
    with pytest.raises(UserError, match=r"^aml_docker_config.build_context_path: a dockerfile needs"):
        environment({"aml_docker_config": {"dockerfile": "Dockerfile"}})
    with pytest.raises(UserError, match=r"^aml_docker_config.conda_file_path: .*nope.yaml does not exist"):
        environment({"aml_docker_config": {"base_image": "img", "conda_file_path": str(tmp_path / "nope.yaml")}})
    model, train = files
    with pytest.raises(UserError, match=r"^hf_token: the workspace Key Vault is unknown"):
        build_command_job(pass_job(str(model), str(train)), Config(system_config(hf_token=True)),
                          tmp_path / "code", registry)


def test_launcher_substitutes_input_mounts():
    from modelpress.plugins.azureml.launch import substitute

    job = {"model": {"model_path": "@modelpress-input:model_path", "model_file_format": "PyTorch.MLflow"},
           "data_configs": {"t": {"files": ["@modelpress-input:t_files_0", "keep"]}}}
    out = substitute(job, {"model_path": "/mnt/model", "t_files_0": "/mnt/data/train.json"})
    assert out == {"model": {"model_path": "/mnt/model", "model_file_format": "PyTorch.MLflow"},
                   "data_configs": {"t": {"files": ["/mnt/data/train.json", "keep"]}}}
    with pytest.raises(SystemExit, match="names input 'model_path' but the command gave none"):
        substitute(job, {})


def test_result_handle_gets_back_what_the_job_named():
    """A mount path in a result means nothing on the host: the registry model
    (or the uploaded folder) the job named is put back."""
    from modelpress.plugins.azureml.job_builder import restore
    from modelpress.plugins.azureml.launch import unmount

    mounts = {"model_path": "/mnt/inputs/model_path/", "adapter_path": "/mnt/inputs/adapter"}
    remote = {"type": "HfModel", "model_path": "/mnt/inputs/model_path", "adapter_path": "/mnt/out/model",
              "gguf_file": "/mnt/inputs/adapter/x.gguf", "task": "text-generation"}
    marked = unmount(remote, mounts)
    assert marked == {"type": "HfModel", "model_path": "@modelpress-input:model_path", "adapter_path": "/mnt/out/model",
                      "gguf_file": "@modelpress-input:adapter_path/x.gguf", "task": "text-generation"}
    registry_model = {"type": "azureml_registry_model", "config": {"name": "m", "registry_name": "r", "version": "1"}}
    assert restore(marked, {"model_path": registry_model, "adapter_path": "/home/me/adapter"}) == {
        **remote, "model_path": registry_model, "gguf_file": "/home/me/adapter/x.gguf"}


def test_resources_identity_and_inputs(plugin_registry):
    from modelpress.plugins.azureml.resources import AzureMLDatastore, AzureMLModel, AzureMLRegistryModel

    client = {"subscription_id": ZERO, "resource_group": "rg", "workspace_name": "ws", "read_timeout": 30}
    ds = AzureMLDatastore(Config({"azureml_client": client, "datastore_name": "workspaceblobstore",
                                  "relative_path": "data/"}))
    assert ds.aml_input() == {"type": "uri_folder", "path": f"azureml://subscriptions/{ZERO}/resourcegroups/rg"
                                                            "/workspaces/ws/datastores/workspaceblobstore/paths/data"}
    # the workspace names the data; client settings such as timeouts do not
    assert ds.identity() == {"type": "azureml_datastore", "datastore_name": "workspaceblobstore",
                             "relative_path": "data/",
                             "workspace": {"subscription_id": ZERO, "resource_group": "rg", "workspace_name": "ws"}}
    assert AzureMLModel(Config({"name": "tone", "version": 2})).aml_input() == {
        "type": "custom_model", "path": "azureml:tone:2"}
    assert AzureMLRegistryModel(Config({"name": "m", "registry_name": "r", "version": "1"})).identity() == {
        "type": "azureml_registry_model", "name": "m", "registry_name": "r", "version": "1"}
    assert plugin_registry.names("resource") == ["azureml_datastore", "azureml_model", "azureml_registry_model"]


def test_transient_errors_are_retried_with_backoff(monkeypatch):
    from azure.core.exceptions import HttpResponseError, ServiceRequestError

    from modelpress.plugins.azureml import client

    sleeps = []
    monkeypatch.setattr(client.time, "sleep", sleeps.append)
    answers = [ServiceRequestError("connection reset"), HttpResponseError("busy"), "ok"]
    answers[1].status_code = 503

    def flaky():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert client.call("get job", flaky, {"operation_retry_interval": 2}) == "ok"
    assert sleeps == [2.0, 4.0]
    bad = HttpResponseError("bad request")
    bad.status_code = 400
    with pytest.raises(HttpResponseError):
        client.call("get job", lambda: (_ for _ in ()).throw(bad), {})
    assert sleeps == [2.0, 4.0]  # a 400 is not retried


def test_no_credentials_is_one_line_user_error(plugin_registry, monkeypatch, tmp_path):
    from modelpress.plugins.azureml.system import AzureML

    for var in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE",
                "IDENTITY_ENDPOINT", "MSI_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no 'az', 'azd' or PowerShell to ask
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path))
    client = {"subscription_id": ZERO, "resource_group": "rg", "workspace_name": "ws",
              "max_operation_retries": 0,
              # managed identity would probe the instance metadata service off this machine
              "default_auth_params": {"exclude_managed_identity_credential": True,
                                      "exclude_shared_token_cache_credential": True}}
    system = AzureML(Config(system_config(azureml_client=client)), context=None)
    with pytest.raises(UserError) as info:
        system.check_compute()
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith("azureml_client: no usable Azure credentials (")
    assert info.value.problems[0].endswith("run 'az login', or set AZURE_TENANT_ID, AZURE_CLIENT_ID and "
                                           "AZURE_CLIENT_SECRET, or run on a machine with a managed identity")


def test_incomplete_workspace_is_a_user_error():
    from modelpress.plugins.azureml.client import workspace_of

    with pytest.raises(UserError, match=r"^azureml_client: resource_group, workspace_name missing; give"):
        workspace_of({"subscription_id": ZERO})
    assert workspace_of({"aml_config_path": "c.json"}) == {"config_path": "c.json"}
