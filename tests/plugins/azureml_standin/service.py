"""Test only: the Azure ML management answers of the stand-in (ARM paths under
``/subscriptions/...`` for computes, datastores, codes, environments and jobs,
and the run-history calls ``jobs.stream`` polls).
"""
from __future__ import annotations

import json
import re
import threading
import uuid

from .server import ACCOUNT, CONTAINER, StandInServer

WS = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces/{ws}"


def not_found(what: str):
    return 404, {}, json.dumps({"error": {"code": "UserError", "message": f"{what} not found",
                                          "details": [{"code": "NotFound", "message": f"{what} not found"}]}})


class StandIn(StandInServer):
    """A workspace ``ws`` with the given computes, one blob datastore and a job runner."""

    def __init__(self, cert, key, *, subscription_id: str, resource_group: str, workspace: str,
                 computes=("cpu-cluster",), run_job=None):
        super().__init__(cert, key)
        self.sub, self.rg, self.ws = subscription_id, resource_group, workspace
        self.ws_path = WS.format(sub=subscription_id, rg=resource_group, ws=workspace)
        self.computes = list(computes)
        self.assets: dict[str, dict] = {}   # ARM path -> resource body (codes, environments)
        self.jobs: dict[str, dict] = {}
        self.run_details: dict[str, dict] = {}
        self.run_job = run_job
        self.hf_token = "hf_standin_secret_value"
        self.vault_auth: list[str] = []
        self.lock = threading.Lock()

    def arm_id(self, rel: str) -> str:
        return f"{self.ws_path}/{rel}"

    def route(self, method, path, query, body, headers):
        if path == "/secrets/hf-token":  # a Key Vault holding the Hugging Face token
            self.vault_auth.append(headers.get("Authorization", ""))
            return 200, {}, json.dumps({"value": self.hf_token, "id": f"{self.url}/secrets/hf-token/1"})
        if path == "/discovery":  # every data-plane service of the workspace is this server
            return 200, {}, json.dumps({k: self.url for k in ("api", "catalog", "experimentation", "history",
                                                              "modelmanagement", "pipelines", "studio")})
        m = re.fullmatch(r"/history/v1\.0" + re.escape(self.ws_path) + r"/runs/([^/]+)/details", path)
        if m:
            if m.group(1) not in self.run_details:
                return not_found(f"run {m.group(1)}")
            return 200, {}, json.dumps(self.run_details[m.group(1)])
        if path == f"/history/v1.0{self.ws_path}/rundata":  # no registered outputs: the SDK then
            run_id = json.loads(body)["runId"]                  # looks in azureml/<job>/<output>/
            return 200, {}, json.dumps({"runMetadata": {"runId": run_id, "outputs": {}}})
        if path.startswith(self.ws_path):
            rel = path[len(self.ws_path):].strip("/")
            return self.workspace(method, rel, query, json.loads(body) if body else None)
        return super().route(method, path, query, body, headers)

    def workspace(self, method, rel, query, body):
        if rel == "":
            return 200, {}, json.dumps({"id": self.ws_path, "name": self.ws, "location": "westeurope",
                                        "properties": {"keyVault": f"/subscriptions/{self.sub}/resourceGroups/{self.rg}"
                                                       "/providers/Microsoft.KeyVault/vaults/kv-standin",
                                                       "discoveryUrl": f"{self.url}/discovery"}})
        m = re.fullmatch(r"computes/([^/]+)", rel)
        if m:
            if m.group(1) not in self.computes:
                return not_found(f"compute {m.group(1)}")
            return 200, {}, json.dumps(self.compute(m.group(1)))
        if rel == "computes":
            return 200, {}, json.dumps({"value": [self.compute(c) for c in self.computes]})
        m = re.fullmatch(r"(codes|environments|data|models)/([^/]+)/versions(?:/([^/]+))?(/startPendingUpload)?", rel)
        if m:
            return self.asset(method, rel, m.groups(), body)
        m = re.fullmatch(r"jobs/([^/]+)(?:/(cancel))?", rel)
        if m:
            return self.job_route(method, m.group(1), m.group(2), body)
        m = re.fullmatch(r"datastores(?:/([^/]+))?(/listSecrets)?", rel)
        if m:
            return self.datastore(m.group(1), bool(m.group(2)), body)
        self.errors.append(f"unhandled workspace call {method} {rel}")
        return not_found(rel)

    def compute(self, name: str) -> dict:
        return {"id": self.arm_id(f"computes/{name}"), "name": name, "type": "Microsoft.MachineLearningServices/workspaces/computes",
                "location": "westeurope",
                "properties": {"computeType": "AmlCompute", "provisioningState": "Succeeded",
                               "properties": {"vmSize": "STANDARD_DS3_V2", "scaleSettings": {"maxNodeCount": 1, "minNodeCount": 0}}}}

    # -- versioned assets (code snapshots, anonymous environments)

    def asset(self, method, rel, groups, body):
        kind, name, version, pending = groups
        if pending:  # where the SDK uploads the snapshot: a "SAS" blob URL here
            blob = f"{self.url}/{ACCOUNT}/{CONTAINER}/LocalUpload/{uuid.uuid4().hex}/{name}"
            return 200, {}, json.dumps({"blobReferenceForConsumption": {
                "blobUri": blob, "storageAccountArmId": f"/subscriptions/{self.sub}/storageAccounts/{ACCOUNT}",
                "credential": {"credentialType": "SAS", "sasUri": blob + "?sv=standin&sig=standin"}},
                "pendingUploadId": uuid.uuid4().hex, "pendingUploadType": "TemporaryBlobReference"})
        if version is None:  # list: never report an existing snapshot, so every upload is seen
            return 200, {}, json.dumps({"value": []})
        key = f"{kind}/{name}/versions/{version}"
        if method == "PUT":
            resource = {**body, "id": self.arm_id(key), "name": version, "type": kind,
                        "systemData": {"createdAt": "2026-01-01T00:00:00Z"}}
            self.assets[key] = resource
            return 201, {}, json.dumps(resource)
        if key not in self.assets:
            return not_found(key)
        return 200, {}, json.dumps(self.assets[key])

    # -- the workspace's default blob datastore

    def datastore(self, name, secrets, body=None):
        if secrets:
            # as the service: asked for an expirable secret (every azure-ai-ml since 1.18), it
            # answers with a SAS token; older clients get the account key
            if (json.loads(body) if isinstance(body, (str, bytes)) else body or {}).get("expirableSecret"):
                return 200, {}, json.dumps({"secretsType": "Sas", "sasToken": "sv=2024-01-01&sig=standin"})
            return 200, {}, json.dumps({"secretsType": "AccountKey", "key": "c3RhbmRpbg=="})
        # the job outputs' store and the artifact (log) store share one container here
        stores = {n: {"id": self.arm_id(f"datastores/{n}"), "name": n,
                      "properties": {"datastoreType": "AzureBlob", "accountName": ACCOUNT, "containerName": CONTAINER,
                                     "endpoint": "core.windows.net", "protocol": "https",
                                     "isDefault": n == "workspaceblobstore",
                                     "credentials": {"credentialsType": "AccountKey"}}}
                  for n in ("workspaceblobstore", "workspaceartifactstore")}
        if name is None:
            return 200, {}, json.dumps({"value": [stores["workspaceblobstore"]]})
        if name not in stores:
            return not_found(f"datastore {name}")
        return 200, {}, json.dumps(stores[name])

    # -- jobs

    def job_route(self, method, name, action, body):
        if method == "PUT":
            job = {**body, "id": self.arm_id(f"jobs/{name}"), "name": name, "type": "Microsoft.MachineLearningServices/workspaces/jobs",
                   "systemData": {"createdAt": "2026-01-01T00:00:00Z"}}
            props = job["properties"]
            props["status"] = "Starting"
            props["services"] = {"Studio": {"endpoint": f"{self.url}/studio/{name}", "jobServiceType": "Studio"}}
            with self.lock:
                self.jobs[name] = job
                self.run_details[name] = {"runId": name, "status": "Starting", "logFiles": {}, "warnings": []}
            threading.Thread(target=self.run_job, args=(self, name), daemon=True).start()
            return 201, {}, json.dumps(job)
        if name not in self.jobs:
            return not_found(f"jobs/{name}")
        if action == "cancel":
            self.set_status(name, "Canceled")
            proc = getattr(self.run_job, "processes", {}).get(name)
            if proc is not None and proc.poll() is None:
                proc.kill()
            return 202, {}, ""
        return 200, {}, json.dumps(self.jobs[name])

    def set_status(self, name: str, status: str, error: str | None = None) -> None:
        """Move a job on (a cancelled or finished job stays as it is)."""
        with self.lock:
            props = self.jobs[name]["properties"]
            if props["status"] in ("Completed", "Failed", "Canceled"):
                return
            props["status"] = status
            self.run_details[name]["status"] = status
            if error:
                self.run_details[name]["error"] = {"error": {"code": "UserError", "message": error}}
