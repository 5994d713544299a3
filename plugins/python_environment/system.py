"""PythonEnvironment: runs each job in another Python interpreter.

The other environment runs the same runner as every system
(``python -m modelpress.engine.runner JOB OUTPUT_DIR``); this process writes the job
file, streams the runner's output into our log and reads ``result.json``.
Paths in the job and the result are valid on both sides (same machine).

The job reaches the runner on its standard input; ``job.json`` beside it is
the redacted record (no token or environment value lies on disk). The runner
is started in its own process group and stopped with it when this process
is interrupted or terminated.
"""
from __future__ import annotations

import collections
import json
import logging
import os
import signal
import subprocess
from pathlib import Path

from modelpress.components import System
from modelpress.errors import UserError
from modelpress.redact import redact, redact_text

log = logging.getLogger("modelpress.python_environment")

JOB_FILE = "job.json"
LOG_FILE = "runner.log"
TAIL_LINES = 40
INSTALL_HINT = "pip install 'modelpress[all]'"


def find_interpreter(path: str | Path) -> Path:
    """The Python executable of a venv/conda folder, or ``path`` itself if it is one."""
    path = Path(path).expanduser()
    if path.is_dir():
        for rel in ("bin/python", "bin/python3", "Scripts/python.exe", "python.exe", "python"):
            if (path / rel).is_file():
                return path / rel
        raise UserError(f"python_environment_path: {path} holds no Python interpreter "
                        "(looked for bin/python and Scripts/python.exe); give a venv or conda "
                        "folder or the interpreter itself")
    if not path.exists():
        raise UserError(f"python_environment_path: {path} does not exist; give a venv or conda "
                        "folder or a Python executable")
    if not os.access(path, os.X_OK):
        raise UserError(f"python_environment_path: {path} is not executable; give a Python executable")
    return path


class PythonEnvironment(System):
    """Another Python environment on this machine (a venv, conda env or interpreter)."""

    name = "PythonEnvironment"
    schema = "modelpress.plugins.python_environment:schemas/PythonEnvironment.json"

    #: interpreters already checked in this process (the check costs an interpreter start)
    _checked: dict[str, str] = {}

    @property
    def python(self) -> Path:
        """The interpreter that runs the jobs."""
        return find_interpreter(self.config["python_environment_path"])

    def environment(self) -> dict[str, str]:
        """This process's environment with the configured variables and PATH entries."""
        env = dict(os.environ)
        # The runner must not inherit our interpreter's module search path.
        env.pop("PYTHONHOME", None)
        env.update({k: str(v) for k, v in (self.config.get("environment_variables") or {}).items()})
        prepend = [str(Path(p).expanduser()) for p in self.config.get("prepend_to_path") or ()]
        if prepend:
            env["PATH"] = os.pathsep.join([*prepend, env.get("PATH", "")])
        env["PYTHONUNBUFFERED"] = "1"  # stream the runner's log line by line
        return env

    def check(self) -> str:
        """Check once that modelpress is importable there; return its version."""
        python = self.python
        key = f"{python}\0{json.dumps(self.environment().get('PYTHONPATH', ''))}"
        if key in self._checked:
            return self._checked[key]
        probe = "import modelpress, modelpress.engine.runner; print(modelpress.__version__)"
        try:
            proc = subprocess.run([str(python), "-c", probe], env=self.environment(),
                                  capture_output=True, text=True, timeout=120)
        except OSError as exc:
            raise UserError(f"python_environment_path: cannot start {python}: {exc.strerror}; "
                            "give a working Python executable") from exc
        if proc.returncode != 0:
            reason = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise UserError(f"python_environment_path: modelpress is not importable by {python} "
                            f"({reason}); install it there: {python} -m {INSTALL_HINT}")
        version = proc.stdout.strip()
        from modelpress import __version__
        if version != __version__:
            log.warning("%s has modelpress %s, this process %s: results may differ",
                        python, version, __version__)
        self._checked[key] = version
        return version

    def run_job(self, job: dict, output_dir: Path) -> dict:
        """Run the job with the other interpreter; the result dict (errors included).

        A failed job's error carries ``log_tail``: the last lines the runner printed.
        """
        self.check()
        output_dir = Path(output_dir).resolve()
        output_dir.mkdir(parents=True, exist_ok=True)
        job_file = output_dir / JOB_FILE
        job_file.write_text(json.dumps(redact(job), indent=2), encoding="utf-8")
        result_file = output_dir / "result.json"
        result_file.unlink(missing_ok=True)  # never read a stale result
        cmd = [str(self.python), "-m", "modelpress.engine.runner", "-", str(output_dir)]
        log.info("running %s job '%s' in %s", job.get("kind"), job.get("step", ""), self.python)
        tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        with open(output_dir / LOG_FILE, "w", encoding="utf-8") as log_file:
            proc = subprocess.Popen(cmd, env=self.environment(), stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    errors="replace", start_new_session=True)
            try:
                proc.stdin.write(json.dumps(job))
                proc.stdin.close()
                for line in proc.stdout:
                    line = redact_text(line.rstrip("\n"))
                    log_file.write(line + "\n")
                    tail.append(line)
                    log.info("| %s", line)
                rc = proc.wait()
            except BaseException:  # Ctrl-C or SIGTERM: do not leave the runner (or its children) behind
                _stop(proc)
                raise
        if result_file.is_file():
            result = json.loads(result_file.read_text(encoding="utf-8"))
        else:
            result = {"error": {"type": "RunnerExited", "user_error": False,
                                "message": f"{self.python} -m modelpress.engine.runner exited with code {rc} "
                                           f"without writing a result; see {output_dir / LOG_FILE}"}}
        if "error" in result:
            result["error"]["log_tail"] = "\n".join(tail)
            log.error("job '%s' failed in %s: %s\n%s", job.get("step", job.get("kind")), self.python,
                      result["error"]["message"], result["error"]["log_tail"])
        return result


def _stop(proc: subprocess.Popen) -> None:
    """Stop the runner's whole process group: politely, then for good."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
