"""Live smoke test against a real Azure ML workspace (skipped unless configured).

Runs only when AZUREML_SUBSCRIPTION_ID, AZUREML_RESOURCE_GROUP and
AZUREML_WORKSPACE are set, with credentials DefaultAzureCredential finds
(``az login``, or AZURE_TENANT_ID / AZURE_CLIENT_ID / AZURE_CLIENT_SECRET).
Optional: AZUREML_COMPUTE (default ``cpu-cluster``) and AZUREML_ENVIRONMENT
(``name:version`` of a registered environment with this modelpress installed;
default: the image below with azureml_standin/data/conda.yaml, which installs
``modelpress[all]`` from the package index). It trains the tiny LoRA of the
offline tests on the compute and checks the adapter came back::

    AZUREML_SUBSCRIPTION_ID=... AZUREML_RESOURCE_GROUP=... AZUREML_WORKSPACE=... \\
        pytest -q tests/plugins/test_azureml_live.py
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.plugins.azureml_standin.lora_reference import workflow, write_train_data

LIVE = all(os.environ.get(v) for v in ("AZUREML_SUBSCRIPTION_ID", "AZUREML_RESOURCE_GROUP", "AZUREML_WORKSPACE"))
DATA = Path(__file__).parent / "azureml_standin" / "data"

pytestmark = pytest.mark.skipif(not LIVE, reason="live Azure ML smoke test: set AZUREML_SUBSCRIPTION_ID, "
                                                 "AZUREML_RESOURCE_GROUP and AZUREML_WORKSPACE")


def live_system() -> dict:
    system = {"type": "AzureML", "aml_compute": os.environ.get("AZUREML_COMPUTE", "cpu-cluster"),
              "tags": {"purpose": "modelpress smoke test"}}
    env = os.environ.get("AZUREML_ENVIRONMENT")
    if env:
        name, _, version = env.partition(":")
        system["aml_environment_config"] = {"name": name, "version": version or "1"}
    else:
        system["aml_docker_config"] = {"base_image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04",
                                       "conda_file_path": str(DATA / "conda.yaml")}
    return system


def test_lora_job_on_a_real_workspace(tiny_phi3, tmp_path):
    import modelpress

    data = write_train_data(tmp_path / "data")
    result = modelpress.run(workflow(tiny_phi3, str(data), work=tmp_path, host="aml",
                                     systems={"aml": live_system()}))
    adapter = Path(result.output_model.config["adapter_path"])
    assert (adapter / "adapter_model.safetensors").is_file()
    assert adapter.is_relative_to(tmp_path)
