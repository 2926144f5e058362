"""Embed Studio engine: pure Python + NumPy + ONNX Runtime, no Qt.

Long-running calls take a ``progress`` callback and a :class:`~embedengine.tasks.CancelToken`.
"""

__version__ = "0.1.0"
