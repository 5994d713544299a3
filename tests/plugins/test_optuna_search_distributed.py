"""Two ``modelpress search-worker`` processes on one study: a journal file, then PostgreSQL.

The study is prepared once (as ``modelpress run`` does), then two workers run
the CLI command on the same config. Every grid point must be run exactly
once, by one of the workers, both workers must take part, and the output
folder must show every trial.
"""
from __future__ import annotations

import glob
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from modelpress import config as config_mod
from modelpress.search.study import prepare_study
from tests.plugins import test_optuna_search_support as toy

ROOT = Path(__file__).resolve().parents[2]
XS, YS = [1, 2, 3, 4], [0.0, 0.5, 1.0]

# Each worker registers the toy plugin, waits for the other (so both start
# together), then runs the real CLI command.
WORKER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from modelpress import registry as reg
    from tests.plugins import test_optuna_search_support as toy
    pm = reg.new_plugin_manager(autoload=False)
    pm.register(toy, name="toy_search_plugin")
    reg.set_registry(reg.Registry(pm))
    config, barrier, name = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    (barrier / name).write_text("ready")
    deadline = time.monotonic() + 60
    while len(list(barrier.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    from modelpress.cli import main
    sys.exit(main(["search-worker", config]))
""")


@pytest.fixture
def registry(register_plugin):
    return register_plugin(toy, name="toy_search_plugin")


def run_two_workers(tmp_path: Path, registry, storage: str, sampler: dict) -> tuple[Path, list[dict]]:
    ws = tmp_path / "ws"
    ws.mkdir()
    passes = {"q": {"type": "Quadratic", "x": XS, "y": YS, "sleep": 0.15}}
    cfg = toy.toy_config(ws, passes, {**sampler, "storage": storage, "study_name": "two-workers"})
    path = ws / "config.json"
    path.write_text(json.dumps(cfg))
    prepare_study(config_mod.load(path, registry), registry)  # what `modelpress run` does first

    (tmp_path / "barrier").mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(path), str(tmp_path / "barrier"), f"w{i}"],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(2)]
    outputs = [p.communicate(timeout=240)[0] for p in procs]
    for p, out in zip(procs, outputs, strict=False):
        assert p.returncode == 0, out[-3000:]

    import optuna

    study = optuna.load_study(study_name="two-workers", storage=_storage_for(ws, storage))
    trials = [{"number": t.number, "state": t.state.name, **t.user_attrs.get("modelpress", {})}
              for t in study.get_trials() if not t.user_attrs.get("modelpress:surplus")]
    return ws, trials


def _storage_for(ws: Path, storage: str):
    from modelpress.plugins.optuna_search.storage import open_storage

    return open_storage(storage if "://" in storage else str(ws / storage))


def check_every_trial_once(ws: Path, trials: list[dict]) -> None:
    grid = sorted(itertools.product(XS, YS))
    assert sorted(t["number"] for t in trials) == list(range(len(grid)))
    assert all(t["state"] == "COMPLETE" for t in trials)
    points = sorted((t["point"]["q.x"], t["point"]["q.y"]) for t in trials)
    assert points == grid  # every point once: none duplicated, none missing
    workers = {t["worker"] for t in trials}
    assert len(workers) == 2, f"one worker ran everything: {workers}"

    out = ws / "output"
    nodes = json.loads((out / "footprints.json").read_text())["nodes"]
    assert {n["trial"] for n in nodes} == set(range(len(grid)))
    pareto = json.loads((out / "pareto.json").read_text())
    assert [(p["params"]["q.x"], p["params"]["q.y"]) for p in pareto["points"]] == [(3, 0.5)]
    assert json.loads((out / "metrics.json").read_text()) == {"toy-score": 0.0}


def test_two_workers_share_a_journal_file(tmp_path, registry):
    ws, trials = run_two_workers(tmp_path, registry, "study.journal", {"sampler": "exhaustive"})
    check_every_trial_once(ws, trials)


def test_worker_without_a_prepared_study_says_what_to_do(tmp_path, registry):
    from modelpress.errors import UserError
    from modelpress.search.driver import run_search
    from tests.plugins.test_optuna_search_support import FakeEngine, FakeWorkflow

    wf = FakeWorkflow(tmp_path, {"q.x": {"choices": XS}},
                      {"sampler": "random", "storage": "none.journal", "study_name": "missing", "wait_s": 0})
    with pytest.raises(UserError, match="study 'missing' does not exist .* run 'modelpress run CONFIG' once"):
        run_search(FakeEngine(wf, registry), worker=True)


# ------------------------------------------------------------- PostgreSQL


def _postgres_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    # Debian keeps the server binaries off PATH, one folder per major version.
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                      key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres_url():
    """A throw-away PostgreSQL server in a temporary folder; yields its URL."""
    pytest.importorskip("psycopg2", reason="psycopg2 is needed for a PostgreSQL storage: "
                                           "pip install psycopg2-binary")
    bin_dir = _postgres_bin()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's "
                    "'postgresql' package (apt-get install postgresql) to run this test")
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="modelpress-pg-"))
    if os.geteuid() == 0:  # the server refuses to run as root
        import pwd

        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and no 'postgres' user to start the server as")
        os.chown(folder, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()
    subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", "mp", "--auth=trust",
                    "-E", "UTF8"], check=True, capture_output=True)
    start = [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w",
             # a throw-away server: durability is not worth its fsyncs here
             "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off",
             "start"]
    subprocess.run(start, check=True, capture_output=True)
    try:
        yield f"postgresql://mp@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def test_two_workers_share_a_postgresql_study(tmp_path, registry, postgres_url):
    ws, trials = run_two_workers(tmp_path, registry, postgres_url, {"sampler": "exhaustive"})
    check_every_trial_once(ws, trials)
