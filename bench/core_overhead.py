"""Framework overhead: CLI start-up and a warm-cache rerun of a three-pass workflow.

Prints `modelpress --help` wall time next to `python -c pass` (median of 7),
and the wall time of rerunning a three-pass workflow whose passes are all
cached, run in a fresh process as a user would (`modelpress run CONFIG`).
Targets: help under 0.3 s, warm rerun under 2 s.

    .venv/bin/python bench/core_overhead.py
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd: list[str], env: dict | None = None, repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    py = sys.executable
    base = timed([py, "-c", "pass"])
    helps = timed([py, "-m", "modelpress", "--help"])
    print(f"python -c pass           {base:6.3f} s")
    print(f"modelpress --help        {helps:6.3f} s   (target < 0.3 s; overhead {helps - base:.3f} s)")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "base.txt").write_text("base")
        (tmp / "data.txt").write_text("abc\n")
        cfg = {
            "input_model": {"type": "TextModel", "model_path": "base.txt"},
            "data_configs": [{"name": "extra", "type": "TextFile", "path": "data.txt"}],
            "passes": {"one": {"type": "AppendText"},
                       "two": {"type": "AppendText", "suffix": "?", "data_config": "extra"},
                       "three": {"type": "AppendText", "repeat": 2}},
        }
        (tmp / "workflow.json").write_text(json.dumps(cfg))
        script = tmp / "run.py"
        script.write_text(
            "import sys\n"
            f"sys.path.insert(0, {str(ROOT)!r})\n"
            "from tests.core import engine_plugin\n"
            "engine_plugin.install()\n"
            "from modelpress.cli import main\n"
            "sys.exit(main(['run', sys.argv[1]]))\n")
        env = {**os.environ, "MODELPRESS_DISABLE_PLUGIN_AUTOLOAD": "1"}
        cold = timed([py, str(script), str(tmp / "workflow.json")], env, repeat=1)
        warm = timed([py, str(script), str(tmp / "workflow.json")], env, repeat=5)
        print(f"three-pass run, cold     {cold:6.3f} s")
        print(f"three-pass rerun, warm   {warm:6.3f} s   (target < 2 s)")


if __name__ == "__main__":
    main()
