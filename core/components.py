"""The component base classes every plugin builds on.

A component is a class with a ``name``, optional ``aliases``, a JSON Schema
for its config (``schema``: a dict, or ``"file.json"`` inside
``modelpress.schemas``, or ``"package:path/file.json"``) and the import names
of the optional libraries it ``requires``. The core never imports a concrete
component: plugins hand their classes to ``register`` callbacks.
"""
from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator, Mapping, Sequence

from .frozen import Config, thaw


def _importable(name: str) -> bool:
    """Whether ``name`` (possibly dotted) can be imported, without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ModuleNotFoundError, ValueError):  # the parent package of a dotted name is missing
        return False


class Component:
    """Base of every pluggable component."""

    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    schema: ClassVar[dict | str] = {"type": "object", "properties": {}}
    #: import name -> install hint, e.g. {"bitsandbytes": "pip install 'modelpress[qlora]'"}
    requires: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def get_schema(cls) -> dict:
        """The component's JSON Schema (without the ``type`` key)."""
        cached = cls.__dict__.get("_schema_cache")
        if cached is not None:
            return cached
        spec = cls.schema
        if isinstance(spec, str):
            package, _, rel = spec.rpartition(":")
            root = resources.files(package or "modelpress.schemas")
            spec = json.loads(root.joinpath(rel).read_text(encoding="utf-8"))
        cls._schema_cache = spec
        return spec

    @classmethod
    def missing_requirements(cls) -> list[str]:
        """Install hints for required libraries that are not importable."""
        return [
            f"{cls.name} needs {mod}: {hint}"
            for mod, hint in cls.requires.items()
            if not _importable(mod)
        ]


@dataclass(frozen=True)
class Accelerator:
    """Where work runs: a device and one ONNX Runtime execution provider."""

    device: str = "cpu"
    execution_provider: str = "CPUExecutionProvider"

    def to_json(self) -> dict:
        return {"device": self.device, "execution_provider": self.execution_provider}


#: the execution provider a device gets when a config names none
DEFAULT_PROVIDER = {"cpu": "CPUExecutionProvider", "gpu": "CUDAExecutionProvider", "npu": "QNNExecutionProvider"}


def parse_accelerators(items: Sequence[Any] | None) -> list[Accelerator]:
    """Olive's ``accelerators`` forms: ``["gpu"]`` or ``[{"device", "execution_providers"}]``."""
    found = []
    for item in items or [{"device": "cpu"}]:
        item = {"device": item} if isinstance(item, str) else item
        device = str(item.get("device", "cpu")).lower()
        providers = item.get("execution_providers") or [DEFAULT_PROVIDER.get(device, "CPUExecutionProvider")]
        found.extend(Accelerator(device, ep) for ep in providers)
    return found


# ----------------------------------------------------------------- models


class InferenceSession:
    """A loaded model that can generate and score text (metrics use this).

    Model types return one from :meth:`ModelHandle.open_session`.
    """

    def generate_stream(self, prompt: str, *, max_new_tokens: int = 64,
                        apply_chat_template: bool = False) -> Iterator[str]:
        """Yield the decoded text pieces of a greedy generation."""
        raise NotImplementedError

    def generate(self, prompts: Sequence[str], *, max_new_tokens: int = 64,
                 apply_chat_template: bool = False) -> list[str]:
        """Greedy generations for several prompts (default: one at a time)."""
        return ["".join(self.generate_stream(p, max_new_tokens=max_new_tokens,
                                             apply_chat_template=apply_chat_template))
                for p in prompts]

    def negative_log_likelihood(self, texts: Sequence[str], max_length: int = 1024) -> list[tuple[float, int]]:
        """For each text: (sum of token NLL in nats, number of predicted tokens)."""
        raise NotImplementedError

    def count_tokens(self, text: str) -> int:
        """Number of tokens the model's tokenizer makes of ``text``."""
        raise NotImplementedError

    def close(self) -> None:
        """Free the model."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ModelHandle(Component):
    """A small JSON-serialisable record of where a model lives.

    Never holds loaded weights: passes load, transform and save. ``config``
    is the validated, read-only record; ``path_fields`` name the fields that
    hold file-system paths (rewritten when a handle moves between machines or
    into the cache).
    """

    kind = "model_type"
    path_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Mapping[str, Any]):
        self.config = config if isinstance(config, Config) else Config(config)

    def to_json(self) -> dict:
        """``{"type": name, **config}``: the canonical config form."""
        return {"type": self.name, **thaw(self.config)}

    def replace(self, **changes: Any) -> "ModelHandle":
        """A new handle of the same type with some fields changed (None removes)."""
        data = thaw(self.config)
        for key, value in changes.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        return type(self)(data)

    def local_paths(self) -> list[Path]:
        """Existing local files or folders this handle points at."""
        paths = []
        for f in self.path_fields:
            value = self.config.get(f)
            if isinstance(value, str) and Path(value).exists():
                paths.append(Path(value))
        return paths

    def identity(self) -> dict:
        """What, besides the content of :meth:`local_paths`, defines the model."""
        data = thaw(self.config)
        for f in self.path_fields:
            if isinstance(data.get(f), str) and Path(data[f]).exists():
                data[f] = "<local>"
        return {"type": self.name, **data}

    def open_session(self, accelerator: Accelerator) -> InferenceSession:
        """Load the model for inference on ``accelerator``."""
        raise NotImplementedError(f"{self.name} models cannot be opened for inference")

    @classmethod
    def detect(cls, folder: Path) -> dict | None:
        """If ``folder`` holds a model of this type, the handle config for it."""
        return None


# ------------------------------------------------------------------ passes


@dataclass
class RunContext:
    """What a pass, metric or data container may ask of the run it is part of."""

    registry: Any
    accelerator: Accelerator = field(default_factory=Accelerator)
    data_configs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    work_dir: Path | None = None

    def data(self, name: str) -> "DataContainer":
        """The data container named ``name`` in the workflow's ``data_configs``."""
        if name not in self.data_configs:
            from .errors import ConfigError, did_you_mean
            raise ConfigError(f"data_configs: no data config named '{name}'"
                              f"{did_you_mean(name, self.data_configs)}")
        return self.registry.create_data_container(self.data_configs[name], self)

    def model(self, type_name: str, **config: Any) -> ModelHandle:
        """Create a model handle of a registered model type."""
        return self.registry.model_handle({"type": type_name, **config})


class Pass(Component):
    """A model transformation: ``run(model, output_dir) -> model``.

    ``version`` and the installed versions of ``libraries`` (distribution
    names) are part of every cache key: bump ``version`` when the output of
    the same input and config changes.
    """

    kind = "pass"
    version: ClassVar[str] = "1"
    libraries: ClassVar[tuple[str, ...]] = ()
    #: model type names this pass accepts; empty means any
    accepts: ClassVar[tuple[str, ...]] = ()

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
    :mod:`modelpress.runner`) in, a result dict out.
    """

    kind = "system"
    #: True when jobs may carry remote resources (the system mounts them);
    #: otherwise the engine downloads them into the cache first.
    mounts_resources: ClassVar[bool] = False
    #: True when jobs run on this machine: validation then refuses an
    #: accelerator this host cannot provide (a CUDA provider without CUDA).
    runs_here: ClassVar[bool] = False

    def __init__(self, config: Config, context: RunContext):
        self.config = config
        self.context = context

    def accelerators(self) -> list[Accelerator]:
        """The accelerators this system offers, from Olive's ``accelerators`` key."""
        return parse_accelerators(self.config.get("accelerators"))

    def run_job(self, job: dict, output_dir: Path) -> dict:
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

    def ask(self) -> dict | None:
        raise NotImplementedError

    def tell(self, trial: dict, values: Sequence[float] | None, error: str | None = None) -> None:
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


BASES: dict[str, type[Component]] = {
    "pass": Pass,
    "data_container": DataContainer,
    "system": System,
    "search_strategy": SearchStrategy,
    "metric": Metric,
    "model_type": ModelHandle,
    "resource": Resource,
}
