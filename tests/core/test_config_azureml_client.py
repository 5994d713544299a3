"""Olive's top-level ``azureml_client`` reaches systems and resources that take one."""
import json
from pathlib import Path

from modelpress.config import migrate

DATA = Path(__file__).parent.parent / "data"


def test_top_level_client_is_copied_where_it_is_accepted(plugin_registry):
    cfg = json.loads((DATA / "seed-azureml.json").read_text())
    files = cfg["data_configs"][0]["load_dataset_config"]["params"]["data_files"]["config"]
    cfg["azureml_client"] = files.pop("azureml_client")
    canonical, notes = migrate(cfg, plugin_registry)
    assert canonical["systems"]["aml"]["azureml_client"] == cfg["azureml_client"]
    assert canonical["input_model"]["model_path"]["config"]["azureml_client"] == cfg["azureml_client"]
    data_files = canonical["data_configs"][0]["load_dataset_config"]["data_files"]
    assert data_files["config"]["azureml_client"] == cfg["azureml_client"]
    assert "systems.aml.azureml_client: copied from the top-level azureml_client" in notes


def test_a_component_own_client_wins(plugin_registry):
    cfg = json.loads((DATA / "seed-azureml.json").read_text())
    own = cfg["data_configs"][0]["load_dataset_config"]["params"]["data_files"]["config"]["azureml_client"]
    cfg["azureml_client"] = {"subscription_id": "other", "resource_group": "rg", "workspace_name": "ws"}
    canonical, _ = migrate(cfg, plugin_registry)
    assert canonical["data_configs"][0]["load_dataset_config"]["data_files"]["config"]["azureml_client"] == own
