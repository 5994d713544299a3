"""Model handles, the inference sessions they open, and the context a component runs in."""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..frozen import Config, thaw
from .base import Accelerator, Component

if TYPE_CHECKING:
    from .kinds import DataContainer


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

    def replace(self, **changes: Any) -> ModelHandle:
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


@dataclass
class RunContext:
    """What a pass, metric or data container may ask of the run it is part of."""

    registry: Any
    accelerator: Accelerator = field(default_factory=Accelerator)
    data_configs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    work_dir: Path | None = None

    def data(self, name: str) -> DataContainer:
        """The data container named ``name`` in the workflow's ``data_configs``."""
        if name not in self.data_configs:
            from ..errors import ConfigError, did_you_mean
            raise ConfigError(f"data_configs: no data config named '{name}'"
                              f"{did_you_mean(name, self.data_configs)}")
        return self.registry.create_data_container(self.data_configs[name], self)

    def model(self, type_name: str, **config: Any) -> ModelHandle:
        """Create a model handle of a registered model type."""
        return self.registry.model_handle({"type": type_name, **config})
