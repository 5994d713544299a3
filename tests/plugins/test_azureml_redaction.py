"""The Azure ML job file never holds a secret from the model's load arguments."""
from __future__ import annotations

from modelpress.frozen import Config
from tests.plugins.azureml_standin.fixture import loopback_only  # noqa: F401  (autouse)
from tests.plugins.test_azureml import files, pass_job, registry, system_config  # noqa: F401 (fixtures)

TOKEN = "hf_" + "Z" * 30


def test_job_json_is_redacted(registry, files, tmp_path):  # noqa: F811
    from modelpress.plugins.azureml.job_builder import build_command_job

    model, train = files
    job = pass_job(str(model), str(train))
    job["model"]["load_kwargs"] = {"token": TOKEN, "revision": "main"}
    build_command_job(job, Config(system_config()), tmp_path / "code", registry)
    text = (tmp_path / "code" / "job.json").read_text()
    assert TOKEN not in text
    assert '"token": "***"' in text and '"revision": "main"' in text
