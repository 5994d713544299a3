"""The component kinds: passes, data containers, metrics, systems, search strategies, resources.

:data:`KINDS` declares every kind once: its base class, the hook that
registers it (``register_<plural>``) and the words the docs and messages use.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ..frozen import Config, thaw
from .base import Accelerator, Component, parse_accelerators
from .models import InferenceSession, ModelHandle, RunContext
from .wire import Job, JobResult, Trial


class Pass(Component):
    """A model transformation: ``run(model, output_dir) -> model``.

    ``version`` and the installed versions of ``libraries`` (distribution
    names) are part of every cache key: bump ``version`` when the output of
    the same input and config changes.
    """

    kind = "pass"
    version: ClassVar[str] = "1"
    libraries: ClassVar[tuple[str, ...]] = ()
    #: model type names this pass accepts; empty means any (the engine checks it)
    accepts: ClassVar[tuple[str, ...]] = ()
    #: model type names this pass may return; empty means not declared (the engine checks it)
    produces: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Config, context: RunContext):
        self.config = config
        self.context = context

    @classmethod
    def check_config(cls, config: Mapping[str, Any], accelerator: Accelerator) -> list[str]:
        """Problems the schema cannot express, as ``"field: message"`` lines."""
        return []

    @classmethod
    def config_notes(cls, config: Mapping[str, Any], accelerator: Accelerator) -> list[str]:
        """Where this config runs differently from Olive on purpose, as ``"field: what; how to opt in/out"``.

        Printed as ``note:`` lines by ``modelpress validate`` and ``run``; none by default.
        """
        return []

    def run(self, model: ModelHandle, output_dir: Path) -> ModelHandle:
        """Transform ``model``, writing any new files under ``output_dir``."""
        raise NotImplementedError


# -------------------------------------------------------------------- data


class DataContainer(Component):
    """Loads a dataset and prepares it for training or evaluation."""

    kind = "data_container"

    def __init__(self, config: Config, context: RunContext):
        self.config = config
        self.context = context

    def files(self) -> list[Path]:
        """Local files this container reads (their content enters cache keys)."""
        return []

    def rows(self) -> list[dict]:
        """The selected split's rows, before tokenization."""
        raise NotImplementedError

    def format(self, row: Mapping[str, Any]) -> str:
        """The text of one row (template applied)."""
        raise NotImplementedError

    def token_blocks(self, tokenizer: Any) -> list[dict]:
        """Training examples: dicts with ``input_ids`` (and ``attention_mask``, ``labels``)."""
        raise NotImplementedError


# ----------------------------------------------------------------- metrics


@dataclass(frozen=True)
class SubMetric:
    """One value a metric reports, with its direction and optional goal."""

    name: str
    higher_is_better: bool = True
    priority: int = -1
    goal: Mapping[str, Any] | None = None


class Metric(Component):
    """Measures a model; ``evaluate`` returns ``{sub_type: value}``."""

    kind = "metric"
    #: sub type name -> higher is better
    sub_types: ClassVar[Mapping[str, bool]] = {}
    #: whether the metric needs a ``data_config``
    needs_data: ClassVar[bool] = True
    #: the unit the report shows after its values ("ms"); empty: none
    unit: ClassVar[str] = ""

    def __init__(self, config: Config, context: RunContext):
        self.config = config
        self.context = context

    def evaluate(self, model: ModelHandle, session: Callable[[], InferenceSession],
                 data: DataContainer | None, sub_types: Sequence[str]) -> dict[str, float]:
        """Measure ``model``. ``session()`` opens it (lazily, once)."""
        raise NotImplementedError


# ------------------------------------------------------------------ systems


class System(Component):
    """Where passes and evaluations run: ``run_job(job, output_dir) -> result``.

    Every system shares one wire format: a job dict (see
    :mod:`modelpress.engine.runner`) in, a result dict out.
    """

    kind = "system"
    #: True when jobs may carry remote resources (the system mounts them);
    #: otherwise the engine downloads them into the cache first.
    mounts_resources: ClassVar[bool] = False
    #: True when jobs run on this machine: validation then refuses an
    #: accelerator this host cannot provide (a CUDA provider without CUDA).
    runs_here: ClassVar[bool] = False
    #: a system name a config may use as ``host``/``target`` without defining
    #: it under ``systems`` (the local system plugin stands for ``"local"``)
    stands_for: ClassVar[str] = ""

    def __init__(self, config: Config, context: RunContext):
        self.config = config
        self.context = context

    def accelerators(self) -> list[Accelerator]:
        """The accelerators this system offers, from Olive's ``accelerators`` key."""
        return parse_accelerators(self.config.get("accelerators"))

    def run_job(self, job: Job, output_dir: Path) -> JobResult:
        """Run a pass or evaluation job; files go under ``output_dir``."""
        raise NotImplementedError


# ------------------------------------------------------------------- search


class SearchStrategy(Component):
    """Proposes points of a search space and learns from their results.

    ``ask()`` returns a trial (``{"number": int, "params": {...}}``) or None
    when the search is over; ``tell(trial, values, error)`` reports the
    objective values (None and an error message for a failed trial). Before
    ``tell`` the search driver fills ``trial["state"]`` ("complete", "fail",
    "pruned"), ``trial["metrics"]``, ``trial["point"]``, ``trial["footprints"]``
    and ``trial["worker"]``.

    Optional extras the driver uses when present: a classmethod
    ``prepare(config, space, objectives)`` (create shared state once, before
    any worker), ``stop()`` / ``stopped()``, ``trials()`` (every trial of a
    shared study, for distributed runs), ``wait(timeout_s)`` (until other
    workers' trials finish) and ``needs_objectives`` (refuse to run without
    an evaluator).
    """

    kind = "search_strategy"

    def __init__(self, config: Config, space: Any, objectives: Sequence[SubMetric]):
        self.config = config
        self.space = space
        self.objectives = list(objectives)

    def ask(self) -> Trial | None:
        raise NotImplementedError

    def tell(self, trial: Trial, values: Sequence[float] | None, error: str | None = None) -> None:
        raise NotImplementedError


# ---------------------------------------------------------------- resources


class Resource(Component):
    """A remote file or folder named in a config (``{"type": ..., "config": {...}}``).

    Where a path is expected (a model path, ``data_files``), a config may give
    a resource instead. Systems that can mount it (Azure ML) pass it through;
    everywhere else the engine calls :meth:`materialize` to download it into
    the cache first.
    """

    kind = "resource"

    def __init__(self, config: Config):
        self.config = config

    def identity(self) -> dict:
        """What names the resource's content (enters cache keys)."""
        return {"type": self.name, **thaw(self.config)}

    def materialize(self, cache_dir: Path) -> Path:
        """Download the resource under ``cache_dir``; return the local path."""
        raise NotImplementedError


@dataclass(frozen=True)
class Kind:
    """One component kind: ``name`` (``"data_container"``), its base class,
    ``plural`` (the hook is ``register_<plural>``, the reference page
    ``<plural>.md``) and the one line that introduces it in the docs."""

    name: str
    base: type[Component]
    plural: str
    intro: str

    @property
    def word(self) -> str:
        """The kind in a sentence: ``"data container"``."""
        return self.name.replace("_", " ")

    @property
    def hook(self) -> str:
        """The hook that registers components of this kind."""
        return f"register_{self.plural}"

    @property
    def title(self) -> str:
        """The kind as a heading: ``"Data containers"``."""
        return self.plural.replace("_", " ").capitalize()


#: every component kind, in the order the docs list them
KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("pass", Pass, "passes", "Passes transform a model: `run(model, output_dir) -> model`."),
    Kind("data_container", DataContainer, "data_containers",
         "Data containers load a dataset and turn it into text and token blocks."),
    Kind("system", System, "systems", "Systems are where passes and evaluations run (`host`, `target`)."),
    Kind("search_strategy", SearchStrategy, "search_strategies",
         "Search strategies propose points of the search space (`search_strategy`)."),
    Kind("metric", Metric, "metrics", "Metrics measure a model; evaluators list them under `metrics`."),
    Kind("model_type", ModelHandle, "model_types",
         "Model types are the handles of `input_model` and of every pass output."),
    Kind("resource", Resource, "resources",
         "Resources stand for remote files where a path is expected (`{\"type\": ..., \"config\": {...}}`)."),
)}
