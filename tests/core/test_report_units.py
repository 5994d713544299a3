"""The report shows a metric's values with the unit its class declares (``Metric.unit``)."""
from __future__ import annotations

import types

from modelpress import hookimpl
from modelpress.components import Metric
from modelpress.evaluate.report import format_value, unit_of


class Widgets(Metric):
    name = "widgets"
    aliases = ("widget_count",)
    unit = "widgets/s"
    sub_types = {"avg": True}


class Plain(Metric):
    name = "plain"
    sub_types = {"avg": True}


def test_values_carry_the_unit_their_metric_declares(register_plugin):
    register_plugin(types.SimpleNamespace(register_metrics=hookimpl(lambda register: [register(Widgets),
                                                                                      register(Plain)])),
                    name="unit_metrics")
    assert unit_of("widgets") == unit_of("widget_count") == "widgets/s"
    assert unit_of("plain") == unit_of("not-registered") == unit_of(None) == ""
    assert format_value("speed-avg", 1234.5, "widgets") == "1,234 widgets/s"
    assert format_value("speed-avg", 0.5, "plain") == "0.5"
    assert format_value("size-bytes", 2_500_000, "widgets") == "2.5 MB"  # bytes: their own unit
