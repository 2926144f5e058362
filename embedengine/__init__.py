"""Embed Studio engine: pure Python + NumPy + ONNX Runtime, no Qt.

Long-running calls take a ``progress`` callback and a :class:`~embedengine.tasks.CancelToken`.
"""

import os

# ONNX Runtime's telemetry is read once, when onnxruntime is first imported: turn it off before any
# engine module can import it (nothing leaves the machine once the models are built).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"
