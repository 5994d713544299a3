"""Test only: a local HTTPS stand-in for the Azure ML REST endpoints.

Used by tests/plugins/test_azureml_standin.py; not part of modelpress. It
answers the calls ``MLClient`` makes for ``compute.get``, ``jobs.create_or_update``
(code snapshot, anonymous environment, input uploads), ``jobs.stream``,
``jobs.download`` and datastore downloads, and runs each submitted command on
this machine (:mod:`.jobs`). The SDK reaches it through ``AZUREML_DEV_URL_MFE``
and a patched ``STORAGE_ACCOUNT_URLS``; see :func:`.fixture.standin_env`.
"""
