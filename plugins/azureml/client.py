"""The Azure ML client of a config's ``azureml_client`` block, and retries.

``azureml_client`` names a workspace (``subscription_id``, ``resource_group``,
``workspace_name``) or a ``config.json`` (``aml_config_path``, the file the
Azure ML studio offers for download). Without one, the ``AZUREML_SUBSCRIPTION_ID``,
``AZUREML_RESOURCE_GROUP`` and ``AZUREML_WORKSPACE`` environment variables are
used, then a ``config.json`` found from the working folder upwards.

Authentication is ``DefaultAzureCredential`` (environment, workload or managed
identity, Azure CLI, ...) and never an interactive browser.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from modelpress.errors import UserError

log = logging.getLogger("modelpress.azureml")
T = TypeVar("T")
ENV_VARS = ("AZUREML_SUBSCRIPTION_ID", "AZUREML_RESOURCE_GROUP", "AZUREML_WORKSPACE")
TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}
NO_CREDENTIALS_FIX = ("run 'az login', or set AZURE_TENANT_ID, AZURE_CLIENT_ID and "
                      "AZURE_CLIENT_SECRET, or run on a machine with a managed identity")


def credential(client_config: Mapping[str, Any] | None = None):
    """``DefaultAzureCredential`` without interactive sign-in (``default_auth_params`` apply)."""
    from azure.identity import DefaultAzureCredential

    params = dict((client_config or {}).get("default_auth_params") or {})
    params["exclude_interactive_browser_credential"] = True  # never open a browser
    return DefaultAzureCredential(**params)


def workspace_of(client_config: Mapping[str, Any] | None) -> dict:
    """``{subscription_id, resource_group, workspace_name}`` or ``{config_path}`` to use."""
    cfg = dict(client_config or {})
    if cfg.get("aml_config_path"):
        return {"config_path": str(cfg["aml_config_path"])}
    if cfg.get("subscription_id") or cfg.get("workspace_name"):
        missing = [k for k in ("subscription_id", "resource_group", "workspace_name") if not cfg.get(k)]
        if missing:
            raise UserError(f"azureml_client: {', '.join(missing)} missing; give subscription_id, "
                            "resource_group and workspace_name, or aml_config_path")
        return {k: cfg[k] for k in ("subscription_id", "resource_group", "workspace_name")}
    if all(os.environ.get(v) for v in ENV_VARS):
        return dict(zip(("subscription_id", "resource_group", "workspace_name"),
                        (os.environ[v] for v in ENV_VARS), strict=False))
    return {"config_path": None}  # MLClient.from_config searches from the working folder


def ml_client(client_config: Mapping[str, Any] | None = None, *, registry_name: str | None = None):
    """An ``MLClient`` for the workspace (or the registry) the config names."""
    from azure.ai.ml import MLClient

    cfg = dict(client_config or {})
    kwargs: dict[str, Any] = {"show_progress": False, "enable_telemetry": False}
    if cfg.get("read_timeout"):
        kwargs["read_timeout"] = cfg["read_timeout"]
    cred = credential(cfg)
    if registry_name:
        return MLClient(credential=cred, registry_name=registry_name,
                        subscription_id=cfg.get("subscription_id"), **kwargs)
    where = workspace_of(cfg)
    if "config_path" in where:
        try:
            return MLClient.from_config(credential=cred, path=where["config_path"], **kwargs)
        except Exception as exc:  # the SDK raises its own ValidationException type
            raise UserError("azureml_client: no workspace given and no usable config.json "
                            f"({str(exc).splitlines()[0]}); set subscription_id, resource_group and "
                            "workspace_name, or aml_config_path") from exc
    return MLClient(credential=cred, subscription_id=where["subscription_id"],
                    resource_group_name=where["resource_group"], workspace_name=where["workspace_name"], **kwargs)


def is_transient(exc: BaseException) -> bool:
    """Network failures and 408/429/5xx answers are worth retrying."""
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return True
    return isinstance(exc, HttpResponseError) and getattr(exc, "status_code", None) in TRANSIENT_STATUS


def auth_problem(exc: BaseException) -> UserError | None:
    """A one-line UserError for a missing or refused credential, else None."""
    from azure.core.exceptions import ClientAuthenticationError

    if isinstance(exc, ClientAuthenticationError):
        first = (str(exc).strip().splitlines() or ["refused"])[0]
        return UserError(f"azureml_client: no usable Azure credentials ({first[:200]}); {NO_CREDENTIALS_FIX}")
    return None


def call(what: str, fn: Callable[[], T], client_config: Mapping[str, Any] | None = None) -> T:
    """Run ``fn`` with retries on transient errors (``max_operation_retries``,
    exponential backoff from ``operation_retry_interval`` seconds)."""
    cfg = client_config or {}
    retries = int(cfg.get("max_operation_retries", 3))
    delay = float(cfg.get("operation_retry_interval", 5))
    for attempt in range(retries + 1):
        try:
            return fn()
        except Exception as exc:
            problem = auth_problem(exc)
            if problem is not None:
                raise problem from exc
            if attempt == retries or not is_transient(exc):
                raise
            log.warning("%s: transient error (%s); retry %d/%d in %.0f s",
                        what, str(exc).splitlines()[0][:120], attempt + 1, retries, delay)
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")
