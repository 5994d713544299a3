"""The validated workflow: what the engine runs.

Search values stay in pass configs as ``{"$search": spec}``;
:meth:`Workflow.search_params` lists them and :meth:`Workflow.resolve` turns
one point of the search space into the concrete chain of pass configs.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .dotted import SEARCH, pop_field, searched_fields, set_field
from .search_values import SearchParam, case_for

__all__ = ["SEARCH", "SearchParam", "Step", "Workflow"]
_UNSET = object()


@dataclass
class Step:
    """One entry of ``passes``: usually one config, several for a choice."""

    name: str
    alternatives: list[dict]  # each {"type": ..., **config with defaults}


@dataclass
class Workflow:
    """A validated config: components checked, defaults filled, paths resolved."""

    canonical: dict
    notes: list[str]
    source: Path | None
    base_dir: Path
    input_model: dict
    systems: dict[str, dict]
    data_configs: dict[str, dict]
    evaluators: dict[str, dict]
    passes: list[Step]
    host: str
    target: str
    evaluator: str | None
    evaluate_input_model: bool
    search_strategy: dict | None
    execution_providers: list[str] | None
    cache_dir: Path
    output_dir: Path
    clean_cache: bool
    log_severity_level: int
    #: (step, alternative, field) -> the value a null candidate stands for
    unset_values: dict = field(default_factory=dict, repr=False)
    #: one line per deliberate difference from Olive (each pass's ``config_notes``), keys as written
    config_notes: list[str] = field(default_factory=list)

    def search_params(self) -> list[SearchParam]:
        """Every searchable value, in pass order (alternative choices first)."""
        params = []
        for step in self.passes:
            several = len(step.alternatives) > 1
            if several:
                params.append(SearchParam(step.name, step.name, None,
                                          {"choices": list(range(len(step.alternatives)))}))
            for index, config in enumerate(step.alternatives):
                for name, spec in searched_fields(config):  # nested: "training_args.learning_rate"
                    params.append(SearchParam(f"{step.name}.{name}", step.name, name,
                                              copy.deepcopy(spec), index if several else None))
        return params

    def resolve(self, point: dict[str, Any]) -> list[tuple[str, dict]]:
        """The concrete ``(step name, pass config)`` chain for one point.

        ``point`` maps :attr:`SearchParam.key` to a value; with no search it
        is ``{}``. A missing value of an active parameter is an error.
        """
        chain = []
        for step in self.passes:
            index = 0
            if len(step.alternatives) > 1:
                index = self._value(point, step.name)
                if not isinstance(index, int) or not 0 <= index < len(step.alternatives):
                    raise ConfigError(f"passes.{step.name}: {index!r} is not an alternative index "
                                      f"(0..{len(step.alternatives) - 1})")
            config = copy.deepcopy(step.alternatives[index])
            searched = dict(searched_fields(config))
            # plain search values first: a depends_on value needs its parent's
            for name in sorted(searched, key=lambda k: "depends_on" in searched[k]):
                spec = searched[name]
                key = f"{step.name}.{name}"
                if "depends_on" in spec and case_for(spec, config.get(spec["depends_on"])) is None:
                    value = None  # no case for the parent's value: the field is inactive
                else:
                    value = self._value(point, key)
                if value is None:
                    default = self.unset_values.get((step.name, index, name), _UNSET)
                    if default is _UNSET:
                        pop_field(config, name)
                    else:
                        set_field(config, name, copy.deepcopy(default))
                else:
                    set_field(config, name, value)
            chain.append((step.name, config))
        return chain

    @staticmethod
    def _value(point: dict[str, Any], key: str) -> Any:
        if key not in point:
            raise ConfigError(f"passes.{key}: the search point has no value for this parameter; "
                              f"give one (keys: Workflow.search_params())")
        return point[key]
