"""custom: a function from the user's script.

``user_config: {user_script: "metrics.py", evaluate_func: "score",
evaluate_func_kwargs: {...}}`` (Olive's names). The function is called as
``score(model, session, rows, **evaluate_func_kwargs)``: the model handle,
a zero-argument callable that opens the model (once), and the data rows (or
None without a data_config). It returns a number (for one sub type) or a
dict ``{sub type: number}``.
"""
from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

from modelpress.components import Metric
from modelpress.errors import UserError
from modelpress.frozen import thaw


def load_function(script: str, function: str, script_dir: str | None = None):
    """Import ``function`` from the Python file ``script``."""
    path = Path(script)
    if not path.is_file():
        raise UserError(f"custom.user_script: {script} is not a file; give the path of a .py file "
                        f"(relative to the config file)")
    if script_dir and script_dir not in sys.path:
        sys.path.insert(0, script_dir)  # the script may import its neighbours
    # A name unique to the file, so two scripts called metrics.py do not collide.
    name = "modelpress_user_metric_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's code: say whose it is
        raise UserError(f"custom.user_script: importing {script} failed: {type(exc).__name__}: {exc}; "
                        f"fix the script") from exc
    fn = getattr(module, function, None)
    if not callable(fn):
        found = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
                       and getattr(v, "__module__", None) == name)
        raise UserError(f"custom.evaluate_func: {script} has no function {function!r}; "
                        f"it defines {', '.join(found) or 'no function'}")
    return fn


class Custom(Metric):
    """A metric computed by a function in the user's script; its sub types are the user's names."""

    name = "custom"
    schema = "modelpress.plugins.metrics:schemas/custom.json"
    sub_types = {}  # any name: the function decides what it returns
    needs_data = False

    def evaluate(self, model, session, data, sub_types: Sequence[str]) -> dict[str, float]:
        cfg = self.config
        fn = load_function(cfg["user_script"], cfg["evaluate_func"], cfg.get("script_dir"))
        rows = list(data.rows()) if data is not None else None
        result = fn(model, session, rows, **thaw(cfg.get("evaluate_func_kwargs") or {}))
        if isinstance(result, dict):
            return result
        if len(sub_types) != 1:
            raise UserError(f"custom.evaluate_func: {cfg['evaluate_func']} returned one value for "
                            f"{len(sub_types)} sub types ({', '.join(sub_types)}); return a dict keyed by sub type")
        return {sub_types[0]: result}
