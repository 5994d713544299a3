"""ONNXModel: a handle on an ONNX Runtime GenAI model folder."""
from __future__ import annotations

from pathlib import Path

from modelpress.components import Accelerator, InferenceSession, ModelHandle
from modelpress.errors import UserError, did_you_mean

GENAI_CONFIG = "genai_config.json"
ADAPTER_SUFFIX = ".onnx_adapter"
INSTALL = "pip install 'modelpress[onnx]'"


class ONNXModel(ModelHandle):
    """A folder with ``genai_config.json``, the ONNX model and its tokenizer files.

    ``adapters`` maps names to ``.onnx_adapter`` files exported for this model;
    ``active_adapter`` names the one switched on when the model is opened.
    """

    name = "ONNXModel"
    schema = "modelpress.plugins.onnx_genai:schemas/ONNXModel.json"
    requires = {"onnxruntime_genai": INSTALL}
    path_fields = ("model_path", "adapters")

    @classmethod
    def detect(cls, folder: Path) -> dict | None:
        """A folder with ``genai_config.json`` is an ONNXModel; its adapter files come along."""
        folder = Path(folder)
        if not (folder / GENAI_CONFIG).is_file():
            return None
        config: dict = {"model_path": str(folder.resolve())}
        adapters = {p.name[: -len(ADAPTER_SUFFIX)]: str(p.resolve())
                    for p in sorted(folder.glob(f"*{ADAPTER_SUFFIX}"))}
        if adapters:
            config["adapters"] = adapters
        return config

    def local_paths(self) -> list[Path]:
        """The model folder and every adapter file (their content defines the model)."""
        paths = super().local_paths()
        for path in (self.config.get("adapters") or {}).values():
            if Path(path).exists() and Path(path) not in paths:
                paths.append(Path(path))
        return paths

    def identity(self) -> dict:
        data = super().identity()
        if data.get("adapters"):
            data["adapters"] = {k: "<local>" if Path(v).exists() else v for k, v in data["adapters"].items()}
        return data

    def adapter_file(self) -> tuple[str, str] | None:
        """(name, path) of the active adapter, or None; unknown names are user errors."""
        name = self.config.get("active_adapter")
        if not name:
            return None
        adapters = dict(self.config.get("adapters") or {})
        if name not in adapters:
            known = ", ".join(sorted(adapters)) or "none"
            raise UserError(f"model.active_adapter: no adapter named '{name}'{did_you_mean(name, adapters)} "
                            f"(this model has: {known}); pick one of its adapters or leave it out")
        if not Path(adapters[name]).is_file():
            raise UserError(f"model.adapters.{name}: file {adapters[name]} does not exist; "
                            "rebuild the model with export_adapter or fix the path")
        return name, adapters[name]

    def open_session(self, accelerator: Accelerator) -> InferenceSession:
        """Load the model with onnxruntime-genai on ``accelerator``."""
        missing = self.missing_requirements()
        if missing:
            from modelpress.errors import MissingDependencyError
            raise MissingDependencyError(missing)
        folder = Path(self.config["model_path"])
        if not (folder / GENAI_CONFIG).is_file():
            raise UserError(f"model.model_path: {folder} has no {GENAI_CONFIG}; "
                            "point it at a folder written by the ModelBuilder pass")
        from .session import GenaiSession

        return GenaiSession(folder, accelerator, adapter=self.adapter_file())
