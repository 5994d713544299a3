"""A test plugin for the engine: a text "model" and passes that edit it.

``TextModel`` is a file of text. ``AppendText`` appends its ``suffix`` and the
content of a data file; ``SlowAppend`` does the same but first writes half of
its output and waits for a go-file (so a test can kill it mid-pass).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from modelpress import hookimpl
from modelpress.components import DataContainer, ModelHandle, Pass

RUNS_LOG = "MODELPRESS_TEST_RUNS_LOG"


class TextModel(ModelHandle):
    name = "TextModel"
    path_fields = ("model_path", "adapter_path")
    schema = {"type": "object", "additionalProperties": False,
              "properties": {"model_path": {"type": "string", "x-path": True},
                             "adapter_path": {"type": "string", "x-path": True},
                             "load_kwargs": {"type": "object"}}, "required": ["model_path"]}


class TextFile(DataContainer):
    name = "TextFile"
    schema = {"type": "object", "additionalProperties": False,
              "properties": {"path": {"type": "string", "x-path": True}}, "required": ["path"]}

    def files(self):
        return [Path(self.config.path)]

    def rows(self):
        return [{"text": line} for line in Path(self.config.path).read_text().splitlines()]


class AppendText(Pass):
    name = "AppendText"
    version = "1"
    libraries = ("fake-text-lib",)
    schema = {"type": "object", "additionalProperties": False, "properties": {
        "suffix": {"type": "string", "default": "!", "x-search": ["!", "?"]},
        "repeat": {"type": "integer", "default": 1, "minimum": 1},
        "data_config": {"type": "string", "x-data-config": True}}}

    def _text(self, model) -> str:
        text = Path(model.config.model_path).read_text()
        extra = ""
        if self.config.get("data_config"):
            extra = "".join(r["text"] for r in self.context.data(self.config.data_config).rows())
        return text + (self.config.suffix * self.config.repeat) + extra

    def run(self, model, output_dir):
        if os.environ.get(RUNS_LOG):
            with open(os.environ[RUNS_LOG], "a") as f:
                f.write(f"{self.name}\n")
        output_dir.mkdir(parents=True, exist_ok=True)
        out = output_dir / "model.txt"
        out.write_text(self._text(model))
        return model.replace(model_path=str(out))


class SlowAppend(AppendText):
    name = "SlowAppend"
    schema = {**AppendText.schema, "properties": {**AppendText.schema["properties"],
                                                  "go_file": {"type": "string"}}}

    def run(self, model, output_dir):
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "model.txt").write_text("half")
        Path(str(self.config.go_file) + ".started").write_text("x")
        while not Path(self.config.go_file).exists():
            time.sleep(0.05)
        return super().run(model, output_dir)


class TextAdapter(Pass):
    """Like LoRA: the output keeps pointing at the input model and adds an adapter file."""

    name = "TextAdapter"
    schema = {"type": "object", "additionalProperties": False,
              "properties": {"suffix": {"type": "string", "default": "+A"}}}

    def run(self, model, output_dir):
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "adapter.txt").write_text(self.config.suffix)
        return model.replace(adapter_path=str(output_dir / "adapter.txt"))


class TextMerge(Pass):
    """Like a merge: base text followed by the adapter text, in one file."""

    name = "TextMerge"
    schema = {"type": "object", "additionalProperties": False,
              "properties": {"tag": {"type": "string", "default": ""}}}

    def run(self, model, output_dir):
        output_dir.mkdir(parents=True, exist_ok=True)
        text = Path(model.config.model_path).read_text() + Path(model.config.adapter_path).read_text()
        (output_dir / "model.txt").write_text(text + self.config.tag)
        return model.replace(model_path=str(output_dir / "model.txt"), adapter_path=None)


class FailingPass(Pass):
    name = "FailingPass"
    schema = {"type": "object", "additionalProperties": False, "properties": {}}

    def run(self, model, output_dir):
        raise RuntimeError("boom in the pass")


@hookimpl
def register_model_types(register):
    register(TextModel)


@hookimpl
def register_data_containers(register):
    register(TextFile)


@hookimpl
def register_passes(register):
    register(AppendText)
    register(SlowAppend)
    register(FailingPass)
    register(TextAdapter)
    register(TextMerge)


def install():
    """Register this plugin process-wide (for subprocesses of the tests)."""
    import sys

    from modelpress import registry as reg

    pm = reg.new_plugin_manager(autoload=False)
    pm.register(sys.modules[__name__], name="engine_plugin")
    reg.set_registry(reg.Registry(pm))
