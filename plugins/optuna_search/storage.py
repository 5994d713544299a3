"""Optuna storages and studies from the ``search_strategy`` config.

``storage`` is an Optuna URL (``sqlite:///``, ``postgresql://``,
``mysql://``; handled by :class:`optuna.storages.RDBStorage`), a journal file
path (:class:`optuna.storages.JournalStorage` over a
:class:`~optuna.storages.journal.JournalFileBackend`: no server, a shared
file system is enough), or absent (in memory: one process).
"""
from __future__ import annotations

import logging
import time
from typing import Any

from modelpress.errors import UserError

log = logging.getLogger("modelpress")
DRIVERS = {"postgresql": ("psycopg", "pip install 'psycopg[binary]' (or psycopg2-binary)"),
           "mysql": ("pymysql", "pip install pymysql")}


def open_storage(storage: str | None) -> Any:
    """The Optuna storage object for a storage URL or journal file path."""
    import optuna

    if not storage:
        return optuna.storages.InMemoryStorage()
    if "://" not in storage:
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(storage))
    storage = _with_driver(storage)
    scheme = storage.split("://", 1)[0].split("+", 1)[0]
    try:
        return optuna.storages.RDBStorage(storage, engine_kwargs=_engine_kwargs(scheme))
    except ImportError as exc:  # the database driver
        module, hint = DRIVERS.get(scheme, (getattr(exc, "name", "a driver"), "install the database driver"))
        raise UserError(f"search_strategy.storage: a {scheme} storage needs {module}: {hint}") from exc
    except Exception as exc:
        from sqlalchemy.exc import SQLAlchemyError

        if isinstance(exc, (SQLAlchemyError, ValueError)):
            raise UserError(f"search_strategy.storage: cannot open {_redact(storage)}: "
                            f"{str(exc).splitlines()[0]}; check the URL and that the server is running") from exc
        raise


def _with_driver(url: str) -> str:
    """Name an installed driver where the URL names none.

    SQLAlchemy 2.1 reads ``postgresql://`` as psycopg 3 and ``mysql://`` as
    mysqlclient; psycopg2 and PyMySQL are as common, so use them when the
    default is missing rather than fail.
    """
    import importlib.util

    scheme, rest = url.split("://", 1)
    fallbacks = {"postgresql": ("psycopg", "psycopg2"), "postgres": ("psycopg", "psycopg2"),
                 "mysql": ("MySQLdb", "pymysql")}
    if scheme in fallbacks:
        default, other = fallbacks[scheme]
        if importlib.util.find_spec(default) is None and importlib.util.find_spec(other) is not None:
            return f"{'postgresql' if scheme == 'postgres' else scheme}+{other}://{rest}"
    return url


def _engine_kwargs(scheme: str) -> dict:
    # Long searches outlive idle database connections; ping before reuse.
    return {} if scheme == "sqlite" else {"pool_pre_ping": True}


def _redact(url: str) -> str:
    """The URL without its password (for messages)."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"


def create_study(storage: Any, name: str, directions: list[str], sampler: Any) -> tuple[Any, bool]:
    """Create the study (or load it if it exists); returns ``(study, created)``."""
    import optuna

    before = {s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)}
    study = optuna.create_study(storage=storage, study_name=name, directions=directions,
                                sampler=sampler, load_if_exists=True)
    if list(study.directions) and [d.name.lower() for d in study.directions] != directions:
        raise UserError(f"search_strategy.study_name: study '{name}' exists with directions "
                        f"{[d.name.lower() for d in study.directions]}, not {directions}; "
                        f"choose another study_name")
    return study, name not in before


def load_study(storage: Any, name: str, sampler: Any, wait_s: float, where: str) -> Any:
    """Load an existing study, waiting up to ``wait_s`` for it to be created."""
    import optuna

    deadline = time.monotonic() + wait_s
    while True:
        try:
            return optuna.load_study(study_name=name, storage=storage, sampler=sampler)
        except KeyError:
            if time.monotonic() >= deadline:
                raise UserError(f"search_strategy.study_name: study '{name}' does not exist in {where}; "
                                f"run 'modelpress run CONFIG' once (it creates the study), "
                                f"then start the workers") from None
            log.info("waiting for study '%s' to be created", name)
            time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))
