"""Test only: start the stand-in and point the Azure ML SDK at it."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from .guard import sitecustomize as guard
from .jobs import LocalCompute
from .service import StandIn
from .tls import self_signed

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
RESOURCE_GROUP = "rg-standin"
WORKSPACE = "ws-standin"
GUARD = Path(__file__).parent / "guard"


@pytest.fixture(autouse=True)
def loopback_only():
    """Any name lookup or connection from this process that leaves loopback fails the test."""
    violations = []

    def fail(message):
        violations.append(message)
        pytest.fail(message)  # a BaseException: SDK retry loops do not swallow it

    undo = guard.install(fail)
    yield
    undo()
    assert violations == []


class StaticToken:
    """Stands in for Microsoft Entra ID: the stand-in accepts any bearer token."""

    def get_token(self, *scopes, **kwargs):
        from azure.core.credentials import AccessToken

        return AccessToken("standin-token", 4102444800)


@contextlib.contextmanager
def standin_env(root: Path, *, computes=("cpu-cluster",), models: dict | None = None):
    """A running stand-in with the SDK and ``modelpress.plugins.azureml`` pointed at it."""
    import pytest
    from azure.ai.ml.constants import _common
    from azure.ai.ml.operations._run_history_constants import RunHistoryConstants

    from modelpress.plugins.azureml import client

    cert, key = self_signed(root / "tls")
    compute = LocalCompute(root / "compute", models=models,
                           env={"PYTHONPATH": os.pathsep.join(filter(None, [str(GUARD), os.environ.get("PYTHONPATH")]))})
    server = StandIn(cert, key, subscription_id=SUBSCRIPTION, resource_group=RESOURCE_GROUP,
                     workspace=WORKSPACE, computes=computes, run_job=compute).start()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AZUREML_DEV_URL_MFE", server.url)
        mp.setenv("REQUESTS_CA_BUNDLE", str(cert))
        mp.setenv("AZUREML_SUBSCRIPTION_ID", SUBSCRIPTION)
        mp.setenv("AZUREML_RESOURCE_GROUP", RESOURCE_GROUP)
        mp.setenv("AZUREML_WORKSPACE", WORKSPACE)
        for kind in list(_common.STORAGE_ACCOUNT_URLS):  # blob URLs: https://127.0.0.1:PORT/<account>/...
            mp.setitem(_common.STORAGE_ACCOUNT_URLS, kind, server.url + "/{}")
        mp.setattr(RunHistoryConstants, "_WAIT_COMPLETION_POLLING_INTERVAL_MIN", 1)  # poll each second
        mp.setattr(RunHistoryConstants, "_WAIT_COMPLETION_POLLING_INTERVAL_MAX", 1)
        mp.setattr(client, "credential", lambda config=None: StaticToken())
        try:
            yield server, compute
        finally:
            server.stop()
