"""PythonEnvironment: jobs run by another interpreter through ``python -m modelpress.engine.runner``.

The second environment is a real venv made with ``python -m venv --without-pip``
(about a second). It sees the project's packages through one ``.pth`` line
that calls ``site.addsitedir`` on this venv's site-packages: that also runs the
editable-install hook there, so the other interpreter imports this working
tree's modelpress, exactly as if it had been installed into it, without a
wheel build or a package download. It is still a separate interpreter with
its own ``sys.prefix``, which the tests check.

The test pass lives in a tiny distribution written into a temporary folder
(a module and a ``.dist-info`` with its entry point), put on the runner's
PYTHONPATH through the system's ``environment_variables``: the runner finds it
through the same entry-point group as any third-party plugin.
"""
from __future__ import annotations

import json
import site
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from modelpress.errors import UserError
from modelpress.frozen import Config
from modelpress.plugins.python_environment.system import PythonEnvironment, find_interpreter

PLUGIN = textwrap.dedent('''
    """Test-only plugin: a folder model type and a pass that records where it ran."""
    import json, logging, os, sys
    from pathlib import Path
    from modelpress import hookimpl
    from modelpress.components import ModelHandle, Pass
    from modelpress.errors import UserError

    class FolderModel(ModelHandle):
        name = "EnvTestFolder"
        path_fields = ("model_path",)
        schema = {"type": "object", "properties": {"model_path": {"type": "string"}}}

    class WhereAmI(Pass):
        name = "EnvTestWhereAmI"
        schema = {"type": "object", "properties": {"fail": {"type": "boolean"}, "crash": {"type": "boolean"}}}

        def run(self, model, output_dir):
            logging.getLogger("modelpress.envtest").info("pass running in %s", sys.prefix)
            if self.config.get("fail"):
                raise UserError("passes.where.fail: asked to fail; set fail to false")
            if self.config.get("crash"):
                print("about to die", flush=True)
                os._exit(3)  # like a killed or crashed interpreter: no result.json
            output_dir.mkdir(parents=True, exist_ok=True)
            source = Path(model.config["model_path"]) / "weights.txt"
            (output_dir / "weights.txt").write_text(source.read_text() + "+pass")
            (output_dir / "where.json").write_text(json.dumps({
                "prefix": sys.prefix, "flag": os.environ.get("ENVTEST_FLAG"),
                "path0": os.environ["PATH"].split(os.pathsep)[0]}))
            return model.replace(model_path=str(output_dir))

    @hookimpl
    def register_model_types(register):
        register(FolderModel)

    @hookimpl
    def register_passes(register):
        register(WhereAmI)
''')


@pytest.fixture(scope="module")
def second_env(tmp_path_factory) -> Path:
    """A separate venv that sees this project's packages through one .pth line."""
    root = tmp_path_factory.mktemp("second-env")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    ours = next(p for p in site.getsitepackages() if p.endswith("site-packages"))
    inner = next((venv / "lib").glob("python*/site-packages"))
    (inner / "modelpress_parent.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    return venv


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory) -> Path:
    """A folder holding a test-only plugin distribution (module + entry point)."""
    folder = tmp_path_factory.mktemp("envtest-plugin")
    (folder / "mp_envtest.py").write_text(PLUGIN)
    dist = folder / "mp_envtest-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mp-envtest\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[modelpress]\nenvtest = mp_envtest\n")
    return folder


def system(path, **extra) -> PythonEnvironment:
    return PythonEnvironment(Config({"python_environment_path": str(path), **extra}), context=None)


def folder_model(tmp_path: Path) -> dict:
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.txt").write_text("w0")
    return {"type": "EnvTestFolder", "model_path": str(model)}


def test_interpreter_found_in_venv_folder_or_given_directly(second_env):
    assert find_interpreter(second_env) == second_env / "bin" / "python"
    assert find_interpreter(second_env / "bin" / "python") == second_env / "bin" / "python"


def test_missing_environment_is_a_one_line_user_error(tmp_path):
    with pytest.raises(UserError, match=r"^python_environment_path: .*missing does not exist; give"):
        system(tmp_path / "missing").check()
    with pytest.raises(UserError, match=r"holds no Python interpreter"):
        system(tmp_path).check()


def test_environment_without_modelpress_names_interpreter_and_fix(tmp_path):
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    with pytest.raises(UserError) as info:
        system(bare).check()
    message = str(info.value)
    assert len(info.value.problems) == 1
    assert str(bare / "bin" / "python") in message
    assert "No module named 'modelpress'" in message
    assert "-m pip install 'modelpress[all]'" in message


def test_pass_job_runs_in_the_other_interpreter(second_env, plugin_dir, tmp_path):
    env_sys = system(second_env, environment_variables={
        "PYTHONPATH": str(plugin_dir), "MODELPRESS_DISABLE_PLUGIN_AUTOLOAD": "0", "ENVTEST_FLAG": "on"},
        prepend_to_path=[str(tmp_path / "tools")])
    job = {"kind": "pass", "step": "where", "pass": {"type": "EnvTestWhereAmI"},
           "model": folder_model(tmp_path), "data_configs": {}, "log_level": 20}
    out = tmp_path / "out"
    result = env_sys.run_job(job, out)

    assert "error" not in result, result
    assert result["model"] == {"type": "EnvTestFolder", "model_path": str(out / "model")}
    assert (out / "model" / "weights.txt").read_text() == "w0+pass"
    where = json.loads((out / "model" / "where.json").read_text())
    assert Path(where["prefix"]) == second_env  # not this interpreter's prefix
    assert Path(sys.prefix) != second_env
    assert where["flag"] == "on"
    assert where["path0"] == str(tmp_path / "tools")
    # the job file and the streamed log are kept beside the result
    assert json.loads((out / "job.json").read_text()) == job
    assert "pass running in " + str(second_env) in (out / "runner.log").read_text()


def test_failed_job_returns_remote_error_and_log_tail(second_env, plugin_dir, tmp_path, caplog):
    env_sys = system(second_env, environment_variables={
        "PYTHONPATH": str(plugin_dir), "MODELPRESS_DISABLE_PLUGIN_AUTOLOAD": "0"})
    job = {"kind": "pass", "step": "where", "pass": {"type": "EnvTestWhereAmI", "fail": True},
           "model": folder_model(tmp_path), "data_configs": {}, "log_level": 20}
    with caplog.at_level("INFO", logger="modelpress"):
        result = env_sys.run_job(job, tmp_path / "out")
    error = result["error"]
    assert error["user_error"] is True
    assert error["message"] == "passes.where.fail: asked to fail; set fail to false"
    assert "pass running in" in error["log_tail"]
    assert "modelpress.engine.runner: UserError: passes.where.fail" in error["log_tail"]
    # the runner's output was streamed into our log as it came
    assert any("pass running in" in r.getMessage() for r in caplog.records)


def test_runner_that_dies_without_result_is_reported(second_env, plugin_dir, tmp_path):
    env_sys = system(second_env, environment_variables={
        "PYTHONPATH": str(plugin_dir), "MODELPRESS_DISABLE_PLUGIN_AUTOLOAD": "0"})
    job = {"kind": "pass", "step": "where", "pass": {"type": "EnvTestWhereAmI", "crash": True},
           "model": folder_model(tmp_path), "data_configs": {}, "log_level": 20}
    result = env_sys.run_job(job, tmp_path / "out")
    assert result["error"]["type"] == "RunnerExited"
    assert "modelpress.engine.runner exited with code 3 without writing a result" in result["error"]["message"]
    assert result["error"]["log_tail"].endswith("about to die")



class QuietEnvPlugin:
    """A third-party system built on PythonEnvironment, registered through the hook."""

    from modelpress import hookimpl

    class QuietEnv(PythonEnvironment):
        name = "QuietEnv"

        def environment(self):
            return {**super().environment(), "ENVTEST_FLAG": "quiet"}

    @staticmethod
    @hookimpl
    def register_systems(register):
        register(QuietEnvPlugin.QuietEnv)


def test_a_registered_system_subclass_runs_jobs(second_env, plugin_dir, tmp_path, register_plugin):
    registry = register_plugin(QuietEnvPlugin, "quiet-env")
    assert registry.names("system") == ["AzureML", "LocalSystem", "PythonEnvironment", "QuietEnv"]
    quiet = registry.create_system({"type": "QuietEnv", "python_environment_path": str(second_env),
                                    "environment_variables": {"PYTHONPATH": str(plugin_dir),
                                                              "MODELPRESS_DISABLE_PLUGIN_AUTOLOAD": "0"}}, None)
    job = {"kind": "pass", "step": "where", "pass": {"type": "EnvTestWhereAmI"},
           "model": folder_model(tmp_path), "data_configs": {}, "log_level": 20}
    assert "error" not in quiet.run_job(job, tmp_path / "out")
    assert json.loads((tmp_path / "out" / "model" / "where.json").read_text())["flag"] == "quiet"

@pytest.mark.slow
def test_lora_in_second_env_gives_the_local_adapter(second_env, tiny_phi3, tmp_path):
    """The acceptance run: the LoRA pass on the tiny Phi-3, with the engine's
    host set to the other environment, trains the same adapter as the local system."""
    import torch

    import modelpress
    from tests.plugins.azureml_standin.lora_reference import adapter_tensors, local_adapter, workflow, write_train_data

    data = write_train_data(tmp_path / "data")
    config = workflow(tiny_phi3, str(data), work=tmp_path, host="env", systems={
        "env": {"type": "PythonEnvironment", "python_environment_path": str(second_env)}})
    result = modelpress.run(config)

    adapter = Path(result.output_model.config["adapter_path"])
    assert adapter.is_relative_to(tmp_path / "output")
    footprint = json.dumps(result.footprints)
    assert "lora" in footprint
    job_files = list((tmp_path / "cache").rglob("job.json"))  # it did run through the runner
    assert job_files and "runner.log" in {p.name for p in job_files[0].parent.iterdir()}
    ours, local = adapter_tensors(adapter), adapter_tensors(local_adapter(tiny_phi3))
    assert sorted(ours) == sorted(local) and len(ours) == 8  # q/k/v/o LoRA A and B of 2 layers
    for name in local:
        assert torch.equal(ours[name], local[name]), name
