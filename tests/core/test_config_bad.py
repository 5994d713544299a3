"""Every bad config gives a ConfigError of one-line problems, each starting with where."""
from __future__ import annotations

import re

import pytest

from modelpress.config import load
from modelpress.errors import ConfigError
from tests.core.bad_configs import BAD_CONFIGS, GOOD, PLUGIN, PLUGIN_NAME, write_config

JSON_PATH = re.compile(r"^(\(top level\)|[A-Za-z_$][\w$-]*(\.[\w$-]+|\[\d+\])*): \S")


@pytest.fixture
def registry(register_plugin):
    return register_plugin(PLUGIN, PLUGIN_NAME)


def test_the_table_is_large_and_the_good_config_loads(registry, tmp_path):
    assert len(BAD_CONFIGS) >= 25
    assert len({case[0] for case in BAD_CONFIGS}) == len(BAD_CONFIGS)
    workflow = load(write_config(tmp_path, GOOD), registry)
    assert [s.name for s in workflow.passes] == ["lora"]


@pytest.mark.parametrize("config,expected", [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config(registry, tmp_path, config, expected):
    path = write_config(tmp_path, config)
    with pytest.raises(ConfigError) as info:
        load(path, registry)
    lines = info.value.problems
    assert lines, "a ConfigError without problems"
    for line in lines:
        assert "\n" not in line and "Traceback" not in line
        assert line.startswith(str(path)) or JSON_PATH.match(line), f"no location at the start: {line}"
    assert any(expected in line for line in lines), f"{expected!r} not in {lines}"
