"""Small helpers for building ONNX graphs by hand with ``onnx.helper``.

Usage::

    g = GraphBuilder("encoder")
    x = g.input("x", onnx.TensorProto.FLOAT, ["batch", 4])
    w = g.add_initializer("w", np.ones((4, 2), np.float32))
    y = g.node("MatMul", [x, w])                 # output name generated: "MatMul_0"
    g.output(y, onnx.TensorProto.FLOAT, ["batch", 2], name="y")
    model = g.make_model()                        # opset 17, checked

Every node/initializer gets a unique name; ``node`` returns its single output name (or a list when
``n_outputs`` > 1), so graphs read like straight-line code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import onnx
from onnx import helper, numpy_helper

OPSET = 17


class GraphBuilder:
    """Collects nodes, initializers, inputs and outputs with unique names."""

    def __init__(self, name: str = "graph") -> None:
        self.name = name
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._used: set[str] = set()
        self._counters: dict[str, int] = {}

    def unique(self, base: str) -> str:
        """A name not used yet, derived from ``base``."""
        if base not in self._used:
            self._used.add(base)
            return base
        while True:
            count = self._counters.get(base, 0)
            self._counters[base] = count + 1
            candidate = f"{base}_{count}"
            if candidate not in self._used:
                self._used.add(candidate)
                return candidate

    def input(self, name: str, elem_type: int, shape: Sequence[Union[int, str, None]]) -> str:
        """Declare a graph input; returns its name."""
        self._used.add(name)
        self.inputs.append(helper.make_tensor_value_info(name, elem_type, list(shape)))
        return name

    def output(self, value: str, elem_type: int, shape: Sequence[Union[int, str, None]], name: Optional[str] = None) -> str:
        """Declare ``value`` as a graph output (renamed through Identity when ``name`` differs)."""
        if name is not None and name != value:
            self._used.add(name)
            self.nodes.append(helper.make_node("Identity", [value], [name], name=self.unique(f"Identity_{name}")))
            value = name
        self.outputs.append(helper.make_tensor_value_info(value, elem_type, list(shape)))
        return value

    def add_initializer(self, name: str, array: np.ndarray) -> str:
        """Store a constant tensor; returns its (unique) name."""
        unique_name = self.unique(name)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), unique_name))
        return unique_name

    def const(self, values, dtype=np.int64, name: str = "const") -> str:
        """Shorthand for a small constant initializer (axes, shapes, scalars)."""
        return self.add_initializer(name, np.asarray(values, dtype=dtype))

    def node(
        self,
        op: str,
        inputs: Sequence[str],
        outputs: Union[None, str, Sequence[str]] = None,
        n_outputs: int = 1,
        name: Optional[str] = None,
        **attrs,
    ) -> Union[str, list[str]]:
        """Append a node; returns its output name (a list when it has several)."""
        node_name = self.unique(name or op)
        if outputs is None:
            outputs = [self.unique(f"{node_name}_out{i}" if n_outputs > 1 else f"{node_name}_out") for i in range(n_outputs)]
        elif isinstance(outputs, str):
            outputs = [outputs]
            self._used.add(outputs[0])
        else:
            self._used.update(outputs)
        self.nodes.append(helper.make_node(op, list(inputs), list(outputs), name=node_name, **attrs))
        return outputs[0] if len(outputs) == 1 else list(outputs)

    def make_model(self, opset: int = OPSET, producer: str = "embedstudio", check: bool = True) -> onnx.ModelProto:
        """The finished model (ir version compatible with current onnxruntime)."""
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name=producer)
        model.ir_version = min(model.ir_version, 8)
        if check:
            onnx.checker.check_model(model)
        return model


def save_atomic(model: onnx.ModelProto, path: Path) -> None:
    """Write ``model`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    onnx.save(model, str(tmp))
    os.replace(tmp, path)
