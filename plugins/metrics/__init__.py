"""Built-in metrics: accuracy, perplexity, latency, throughput, size_on_disk, custom.

Each measures any model type through its :class:`InferenceSession`, so the
same evaluator runs on a PyTorch model and on an ONNX GenAI model.
"""
from __future__ import annotations

from modelpress import hookimpl

from .accuracy import Accuracy
from .custom import Custom
from .perplexity import Perplexity
from .size_on_disk import SizeOnDisk
from .timing import Latency, Throughput

METRICS = (Accuracy, Perplexity, Latency, Throughput, SizeOnDisk, Custom)


@hookimpl
def register_metrics(register):
    for cls in METRICS:
        register(cls)
