"""The engine: runs a workflow's pass chain on the host, with the cache.

For each point (one when search is off) the engine walks the passes; each
pass's cache key covers the input model's id, the pass type and version, its
config, the content of the data files it reads and the versions of the
libraries it declares. A pass's output model id *is* its key, so the whole
chain of keys is known before anything runs (``--dry-run``).
"""
from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from ..components import Accelerator, Component, Job, ModelHandle, RunContext
from ..errors import ConfigError, PassFailed, UserError
from ..frozen import Config
from . import contracts
from .cache import Cache, library_version, stable_hash
from .cache_keys import content_identity, rebase_on_input, restore_secrets
from .resources import has_resource, materialize
from .runner import relocate

log = logging.getLogger("modelpress")
LOG_LEVELS = {0: logging.DEBUG, 1: logging.INFO, 2: logging.WARNING, 3: logging.ERROR, 4: logging.CRITICAL}


@dataclass
class PlannedStep:
    """One pass of a chain, with its cache key and whether it is cached."""

    step: str
    config: dict
    key: str
    cached: bool


@dataclass
class PointResult:
    """The outcome of one pass chain (and its evaluation)."""

    model: ModelHandle | None
    model_id: str
    footprints: list[dict] = field(default_factory=list)
    metrics: dict | None = None
    error: str | None = None
    point: dict | None = None
    trial: int | None = None
    entry_dir: Path | None = None


class Engine:
    """Runs a validated :class:`modelpress.config.Workflow`."""

    def __init__(self, workflow: Any, registry: Any = None):
        from ..registry import get_registry

        self.workflow = workflow
        self.registry = registry or get_registry()
        self.cache = Cache(workflow.cache_dir)
        self.host = self._system(workflow.host)
        self.target = self._system(workflow.target)
        self.target_accelerator = self._accelerator(self.target)
        # Passes compute on the host's device and optimize for the target's
        # execution provider (a CPU host can build a CUDA model).
        self.accelerator = Accelerator(self._accelerator(self.host).device,
                                       self.target_accelerator.execution_provider)
        self.context = RunContext(self.registry, self.accelerator, workflow.data_configs, self.cache.root)
        self._input_model = self.registry.model_handle(workflow.input_model)
        self._input_id: str | None = None

    # -- set-up ---------------------------------------------------------------

    def _system(self, name: str):
        config = self.workflow.systems[name]
        return self.registry.create_system(config, RunContext(self.registry, Accelerator(),
                                                              self.workflow.data_configs))

    def _accelerator(self, system) -> Accelerator:
        accelerators = system.accelerators()
        wanted = self.workflow.execution_providers
        if wanted:
            for acc in accelerators:
                if acc.execution_provider in wanted:
                    return acc
            device = accelerators[0].device if accelerators else "cpu"
            return Accelerator(device, wanted[0])
        return accelerators[0] if accelerators else Accelerator()

    @property
    def host_mounts_resources(self) -> bool:
        return bool(getattr(self.host, "mounts_resources", False))

    # -- identities -----------------------------------------------------------

    def input_model(self) -> ModelHandle:
        """The input model, with remote resources downloaded unless the host mounts them."""
        if not self.host_mounts_resources:
            self._input_model = self.registry.model_handle(
                self.materialize(self._input_model.to_json()))
        return self._input_model

    def model_id(self, model: ModelHandle) -> str:
        """Content fingerprint of a model given by the user."""
        digests = self.cache.paths_digest(model.local_paths())
        return stable_hash({"identity": content_identity(model.identity()), "content": digests})

    def input_model_id(self) -> str:
        if self._input_id is None:
            self._input_id = self.model_id(self.input_model())
        return self._input_id

    def data_digests(self, config: dict, cls: type[Component]) -> list:
        """Digests of the data files every data config named by the pass reads."""
        names = sorted(_data_config_refs(config, cls.get_schema()))
        out = []
        for name in names:
            out.append(self.data_digest(name))
        return out

    def data_digest(self, name: str) -> list:
        """[name, config hash, content digests] of one data config.

        A host that mounts remote resources needs no download to key them:
        the resource's identity (in the config) names its content.
        """
        data_config = self.workflow.data_configs[name]
        if self.host_mounts_resources and has_resource(data_config, self.registry):
            return [name, stable_hash(content_identity(data_config)), []]
        data_config = self.materialize(data_config)
        container = self.registry.create_data_container(data_config, self.context)
        # The data files count by content only (the digests), never by where they are.
        files = container.files()
        return [name, stable_hash(content_identity(data_config, files)), self.cache.paths_digest(files)]

    def pass_key(self, input_id: str, config: dict) -> str:
        reg = self.registry.get("pass", config["type"])
        cls = reg.cls
        return stable_hash({
            "input": input_id, "pass": cls.name, "version": cls.version, "config": content_identity(config),
            "distribution": list(reg.distribution), "data": self.data_digests(config, cls),
            "libraries": {lib: library_version(lib) for lib in cls.libraries},
            "accelerator": self.accelerator.to_json(),
        })

    def plan(self, point: dict | None = None) -> list[PlannedStep]:
        """The chain for ``point`` with cache keys and hits, without running anything."""
        steps, current = [], self.input_model_id()
        for step, config in self.workflow.resolve(point or {}):
            current = self.pass_key(current, config)
            steps.append(PlannedStep(step, config, current, self.cache.get_pass(current) is not None))
        return steps

    # -- running --------------------------------------------------------------

    def materialize(self, data: Any) -> Any:
        """Replace registered remote resources inside ``data`` by local paths."""
        return materialize(data, self.registry, self.cache)

    def _job(self, kind: str, model: ModelHandle, **extra: Any) -> Job:
        data_configs = self.workflow.data_configs
        if not self.host_mounts_resources:
            data_configs = {n: self.materialize(c) for n, c in data_configs.items()}
        job = {"kind": kind, "model": model.to_json(), "data_configs": data_configs,
               "log_level": LOG_LEVELS.get(self.workflow.log_severity_level, logging.INFO), **extra}
        return cast(Job, job)

    def run_pass(self, step: str, config: dict, model: ModelHandle, input_id: str) -> tuple[ModelHandle, str, dict]:
        """Run one pass (or take it from the cache); returns (model, id, footprint)."""
        key = self.pass_key(input_id, config)
        node = {"step": step, "pass": config["type"], "input_model_id": input_id,
                "output_model_id": key, "config": config}
        contracts.check_input(step, self.registry.get("pass", config["type"]).cls, model.name, self.registry)
        self.registry.pm.hook.before_pass(step=step, model=model, context=self.context)
        start = time.perf_counter()
        with self.cache.lock(key):
            result = self.cache.get_pass(key)
            hit = result is not None
            if not hit:
                log.info("running pass %s (%s)", step, config["type"])
                work = self.cache.begin_pass(key)
                job = self._job("pass", model, step=step, accelerator=self.accelerator.to_json(), **{"pass": config})
                result = self.host.run_job(job, work)
                if "error" in result:
                    node.update(status="failed", error=result["error"]["message"],
                                duration_s=round(time.perf_counter() - start, 3), cache_hit=False)
                    if result["error"].get("user_error"):
                        shutil.rmtree(work, ignore_errors=True)
                        raise UserError(f"passes.{step}: {result['error']['message']}")
                    shutil.rmtree(work, ignore_errors=True)  # nothing of a failed pass is kept
                    raise PassFailed(step, result["error"]["message"], _log_tail(result["error"]))
                entry = self.cache.commit_pass(key, work, {"input_model": model.to_json()})
                result = self.cache.get_pass(key) or {**result, "entry_dir": str(entry)}
            else:
                log.info("pass %s (%s): cache hit", step, config["type"])
        assert result is not None  # a cache hit, or the entry just committed
        handle = self._cached_handle(result, model)
        output = self.registry.model_handle(handle)
        contracts.check_output(step, self.registry.get("pass", config["type"]).cls, output.name, self.registry)
        node.update(status="ok", cache_hit=hit, output_model=handle, entry_dir=result["entry_dir"],
                    duration_s=round(time.perf_counter() - start, 3),
                    pass_duration_s=round(result.get("duration_s", 0.0), 3))
        self.registry.pm.hook.after_pass(step=step, model=model, result=output, context=self.context)
        return output, key, node

    def _cached_handle(self, result: dict, model: ModelHandle) -> dict:
        """The output handle of a cache entry, valid for this run's input ``model``.

        Paths are moved from the work folder to the entry, fields that lay in
        the input model follow it to where it is now, and secrets redacted
        from the entry come back from the input handle.
        """
        handle = relocate(result["model"], result["output_dir"], result["entry_dir"], self.registry)
        fields = self.registry.get("model_type", model.name, "model.type").cls.path_fields
        handle = rebase_on_input(handle, result.get("input_model"), model.to_json(), fields)
        return restore_secrets(handle, model.to_json())

    def evaluate(self, model: ModelHandle, model_id: str) -> dict | None:
        """Metrics of ``model`` with the workflow's evaluator (cached), or None."""
        wf = self.workflow
        if not wf.evaluator:
            return None
        metrics = wf.evaluators[wf.evaluator]["metrics"]
        data_names = sorted({m["data_config"] for m in metrics if m.get("data_config")})
        data = [self.data_digest(name) for name in data_names]
        key = stable_hash({"model": model_id, "metrics": metrics, "data": data,
                           "accelerator": self.target_accelerator.to_json()})
        with self.cache.lock(f"eval-{key}"):
            found = self.cache.get_evaluation(key)
            if found is not None:
                log.info("evaluation: cache hit")
                return found
            work = self.cache.begin_pass(f"eval-{key}")
            try:
                job = self._job("evaluation", model, metrics=metrics,
                                accelerator=self.target_accelerator.to_json())
                result = self.target.run_job(job, work)
                if "error" in result:
                    if result["error"].get("user_error"):
                        raise UserError(f"evaluators.{wf.evaluator}: {result['error']['message']}")
                    raise PassFailed("evaluation", result["error"]["message"], _log_tail(result["error"]))
                self.cache.put_evaluation(key, result["metrics"])
                return result["metrics"]
            finally:  # the result lives in the evaluation entry; the work folder goes
                shutil.rmtree(work, ignore_errors=True)

    def run_point(self, point: dict | None = None, trial: int | None = None) -> PointResult:
        """Run the chain for ``point`` and evaluate its output; errors are recorded."""
        model, model_id, nodes = self.input_model(), self.input_model_id(), []
        entry = None
        try:
            chain = self.workflow.resolve(point or {})
            if point:  # candidates were validated one by one; check each combination too
                self.check_chain(chain)
            contracts.check_chain(chain, model.name, self.registry)  # before the first pass runs
            for step, config in chain:
                model, model_id, node = self.run_pass(step, config, model, model_id)
                entry = Path(node["entry_dir"])
                nodes.append({**node, "trial": trial} if trial is not None else node)
            metrics = self.evaluate(model, model_id)
        except (PassFailed, UserError) as exc:
            if point is None:
                raise
            return PointResult(None, model_id, nodes, None, str(exc), point, trial)
        finally:
            self.cache.save_digests()
        return PointResult(model, model_id, nodes, metrics, None, point, trial, entry)

    def check_chain(self, chain: list[tuple[str, dict]]) -> None:
        """Run each pass's own config checks on a resolved chain (search points)."""
        problems = []
        for step, config in chain:
            cls = self.registry.get("pass", config["type"]).cls
            body = {k: v for k, v in config.items() if k != "type"}
            problems += [f"passes.{step}.{line}" for line in cls.check_config(Config(body), self.accelerator)]
        if problems:
            raise ConfigError(problems)


def _log_tail(error: dict) -> str:
    """What a remote system logged before failing, else the local traceback."""
    return error.get("log_tail") or error.get("traceback", "")


def _data_config_refs(config: dict, schema: dict) -> set[str]:
    """Names of data configs a component config refers to (``x-data-config`` fields)."""
    found: set[str] = set()
    props = schema.get("properties", {})
    for key, value in config.items():
        sub = props.get(key, {})
        if sub.get("x-data-config") and isinstance(value, str):
            found.add(value)
        elif isinstance(value, dict) and sub.get("type") == "object":
            found |= _data_config_refs(value, sub)
    return found
