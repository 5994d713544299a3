"""Built-in plugin: the AzureML system and the Azure ML resources (extra ``azureml``)."""
from __future__ import annotations

from modelpress import hookimpl


@hookimpl
def register_systems(register):
    """Register :class:`AzureML`."""
    from .system import AzureML

    register(AzureML)


@hookimpl
def register_resources(register):
    """Register the ``azureml_registry_model``, ``azureml_model`` and ``azureml_datastore`` resources."""
    from .resources import AzureMLDatastore, AzureMLModel, AzureMLRegistryModel

    for cls in (AzureMLRegistryModel, AzureMLModel, AzureMLDatastore):
        register(cls)
