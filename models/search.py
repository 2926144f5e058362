"""The int8 first-pass scorer used by collection search: ``query (uint8 [1, d]) × weights (int8 [d, n])``.

One MatMulInteger node with both operands as inputs, so one small file serves every collection and
vector set (the engine keeps each set's int8 weights beside the collection; see
``embedengine.collections.search``). Feeding the weights costs nothing measurable against an initializer
(100K × 2048: 6.8 ms vs 7.2 ms per query on 2 cores).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from embedengine.tasks import ProgressCallback

OUTPUT = "int8-scores.onnx"


def build_int8_scores(_package_file: Optional[Path], out_dir: Path, _progress: Optional[ProgressCallback]) -> dict:
    """Write ``int8-scores.onnx`` (temp file + rename)."""
    from onnx import TensorProto, checker, helper

    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["query", "weights"], ["scores"])], "int8-scores",
        [helper.make_tensor_value_info("query", TensorProto.UINT8, [1, "dim"]),
         helper.make_tensor_value_info("weights", TensorProto.INT8, ["dim", "rows"])],
        [helper.make_tensor_value_info("scores", TensorProto.INT32, [1, "rows"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    checker.check_model(model)
    temporary = out_dir / f"{OUTPUT}.tmp"
    temporary.write_bytes(model.SerializeToString())
    os.replace(temporary, out_dir / OUTPUT)
    return {"op": "MatMulInteger"}
