"""The component base classes every plugin builds on (see :mod:`.base`).

``from modelpress.components import Pass, ModelHandle, ...``: the classes
live in :mod:`.base` (Component, Accelerator), :mod:`.models` (model handles,
inference sessions, the run context) and :mod:`.kinds` (every other kind,
and :data:`KINDS`, the one declaration of the component kinds).
"""
from __future__ import annotations

from .base import DEFAULT_PROVIDER, Accelerator, Component, parse_accelerators
from .kinds import KINDS, DataContainer, Kind, Metric, Pass, Resource, SearchStrategy, SubMetric, System
from .models import InferenceSession, ModelHandle, RunContext
from .wire import Job, JobError, JobResult, Trial

__all__ = ["DEFAULT_PROVIDER", "KINDS", "Accelerator", "Component", "DataContainer", "InferenceSession", "Job", "JobError", "JobResult", "Kind",
           "Metric", "ModelHandle", "Pass", "Resource", "RunContext", "SearchStrategy", "SubMetric", "System", "Trial",
           "parse_accelerators"]
