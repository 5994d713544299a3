"""size_on_disk: bytes of the files a model handle points at."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from modelpress.components import Metric
from modelpress.errors import UserError


def model_files(model) -> set[Path]:
    """Every file under the handle's local path fields (folders walked, links resolved once)."""
    roots = list(model.local_paths())
    for field in model.path_fields:  # path fields may map names to paths (ONNX adapters)
        value = model.config.get(field)
        if isinstance(value, Mapping):
            roots.extend(Path(v) for v in value.values() if isinstance(v, str) and Path(v).exists())
    files = set()
    for root in roots:
        if root.is_file():
            files.add(root.resolve())
        elif root.is_dir():
            files.update(p.resolve() for p in root.rglob("*") if p.is_file())
    return files


class SizeOnDisk(Metric):
    """Total size in bytes of the model's files (base, adapter, ONNX data); loads nothing."""

    name = "size_on_disk"
    schema = "modelpress.plugins.metrics:schemas/size_on_disk.json"
    sub_types = {"bytes": False, "megabytes": False}
    needs_data = False

    def evaluate(self, model, session, data, sub_types: Sequence[str]) -> dict[str, float]:
        files = model_files(model)
        if not files:
            raise UserError(f"size_on_disk: the {model.name} model has no local files "
                            f"(fields {', '.join(model.path_fields) or 'none'}); evaluate a local model")
        total = sum(f.stat().st_size for f in files)
        self.details = {"files": len(files)}
        return {"bytes": float(total), "megabytes": total / 1e6}
