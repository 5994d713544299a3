"""Azure ML resources a config may give where a path is expected.

``azureml_registry_model`` and ``azureml_model`` name a model asset (an input
model's ``model_path``); ``azureml_datastore`` names a file or folder in a
workspace datastore (``data_files``). On an AzureML system they become job
inputs (:meth:`aml_input`); anywhere else :meth:`materialize` downloads them
into the cache once (written to a temporary folder, then renamed into place).
"""
from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

from modelpress.components import Resource
from modelpress.errors import UserError
from modelpress.frozen import thaw

from .client import call, ml_client

INSTALL = "pip install 'modelpress[azureml]'"
REQUIRES = {"azure.ai.ml": INSTALL, "azure.identity": INSTALL}


class AzureResource(Resource):
    """Shared download-once logic of the Azure ML resources."""

    requires = REQUIRES

    def identity(self) -> dict:
        """The resource's config and workspace; client settings (timeouts, auth) are left out."""
        data = thaw(self.config)
        client = data.pop("azureml_client", None) or {}
        where = {k: client[k] for k in ("subscription_id", "resource_group", "workspace_name") if client.get(k)}
        return {"type": self.name, **data, **({"workspace": where} if where else {})}

    def aml_input(self) -> dict:
        """``{"type", "path"}`` of the Azure ML job input that mounts this resource."""
        raise NotImplementedError

    def download(self, destination: Path) -> Path:
        """Download into the empty folder ``destination``; return the path to use."""
        raise NotImplementedError

    def materialize(self, cache_dir: Path) -> Path:
        """Download once under ``cache_dir`` (atomically); later calls return the same path."""
        digest = hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()[:16]
        root = Path(cache_dir) / "resources" / f"{self.name}-{digest}"
        done = root / "resource.json"
        if done.is_file():
            return root / json.loads(done.read_text(encoding="utf-8"))["path"]
        root.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
        try:
            found = self.download(tmp / "files")
            rel = found.relative_to(tmp)
            (tmp / "resource.json").write_text(json.dumps({"path": str(rel), "identity": self.identity()}),
                                               encoding="utf-8")
            try:
                tmp.rename(root)
            except OSError:  # another run finished the same download first
                shutil.rmtree(tmp, ignore_errors=True)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return root / rel


def _model_folder(destination: Path, name: str) -> Path:
    """The model folder ``models.download`` made: ``<destination>/<name>/<folder name>``
    (as registered: an MLflow layout is the model type's ``model_file_format``)."""
    folder = destination / name
    if not folder.exists():
        return destination
    entries = list(folder.iterdir()) if folder.is_dir() else []
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else folder


class AzureMLRegistryModel(AzureResource):
    """A model in an Azure ML registry: ``{name, registry_name, version}``."""

    name = "azureml_registry_model"
    schema = "modelpress.plugins.azureml:schemas/azureml_registry_model.json"

    def aml_input(self) -> dict:
        c = self.config
        return {"type": "custom_model",
                "path": f"azureml://registries/{c['registry_name']}/models/{c['name']}/versions/{c['version']}"}

    def download(self, destination: Path) -> Path:
        c = self.config
        client = ml_client(c.get("azureml_client"), registry_name=c["registry_name"])
        call(f"registry model {c['name']}", lambda: client.models.download(
            name=c["name"], version=str(c["version"]), download_path=str(destination)), c.get("azureml_client"))
        return _model_folder(destination, c["name"])


class AzureMLModel(AzureResource):
    """A model registered in a workspace: ``{azureml_client, name, version}``."""

    name = "azureml_model"
    schema = "modelpress.plugins.azureml:schemas/azureml_model.json"

    def aml_input(self) -> dict:
        return {"type": "custom_model", "path": f"azureml:{self.config['name']}:{self.config['version']}"}

    def download(self, destination: Path) -> Path:
        c = self.config
        client = ml_client(c.get("azureml_client"))
        call(f"model {c['name']}", lambda: client.models.download(
            name=c["name"], version=str(c["version"]), download_path=str(destination)), c.get("azureml_client"))
        return _model_folder(destination, c["name"])


class AzureMLDatastore(AzureResource):
    """A file or folder in a workspace datastore: ``{azureml_client, datastore_name, relative_path}``."""

    name = "azureml_datastore"
    schema = "modelpress.plugins.azureml:schemas/azureml_datastore.json"

    @property
    def is_file(self) -> bool:
        """A relative path with a suffix (``train.json``) names a file, otherwise a folder."""
        return bool(Path(self.config["relative_path"]).suffix)

    def uri(self) -> str:
        """The ``azureml://`` URI (long form when the workspace is known)."""
        c = self.config
        ws = dict(c.get("azureml_client") or {})
        rel = str(c["relative_path"]).strip("/")
        if all(ws.get(k) for k in ("subscription_id", "resource_group", "workspace_name")):
            return (f"azureml://subscriptions/{ws['subscription_id']}/resourcegroups/{ws['resource_group']}"
                    f"/workspaces/{ws['workspace_name']}/datastores/{c['datastore_name']}/paths/{rel}")
        return f"azureml://datastores/{c['datastore_name']}/paths/{rel}"

    def aml_input(self) -> dict:
        return {"type": "uri_file" if self.is_file else "uri_folder", "path": self.uri()}

    def download(self, destination: Path) -> Path:
        from azure.ai.ml._artifacts._artifact_utilities import download_artifact

        c = self.config
        client = ml_client(c.get("azureml_client"))
        rel = str(c["relative_path"]).strip("/")
        destination.mkdir(parents=True, exist_ok=True)
        call(f"datastore {c['datastore_name']}", lambda: download_artifact(
            starts_with=rel, destination=str(destination), datastore_operation=client.datastores,
            datastore_name=c["datastore_name"]), c.get("azureml_client"))
        found = destination / Path(rel).name if self.is_file else destination
        if not found.exists() or (found.is_dir() and not any(found.iterdir())):
            raise UserError(f"azureml_datastore: nothing found at '{rel}' in datastore "
                            f"'{c['datastore_name']}'; check relative_path")
        return found
