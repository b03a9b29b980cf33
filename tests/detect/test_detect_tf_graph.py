"""Reading TensorFlow graphs without TensorFlow: protobuf wire format and text format."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from edgewatch.detect.ssd_onnx_build import bundled_model_files
from edgewatch.detect.tf_graph import read_graph_constants, read_text_graph


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negatives as 64-bit two's complement, as protobuf does
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def field(number: int, payload: bytes | int, wire: int = 2) -> bytes:
    key = varint(number << 3 | wire)
    if wire == 0:
        return key + varint(payload)
    if wire == 5:
        return key + payload
    return key + varint(len(payload)) + payload


def const_node(name: str, tensor: bytes, op: str = "Const") -> bytes:
    attr = field(1, b"value") + field(2, field(8, tensor))
    return field(1, field(1, name.encode()) + field(2, op.encode()) + field(5, attr))


def shape(*dims: int) -> bytes:
    return field(2, b"".join(field(2, field(1, d, wire=0)) for d in dims))


def test_constants_are_read_from_tensor_content_and_value_lists(tmp_path):
    weights = np.arange(6, dtype=np.float32).reshape(2, 3)
    graph = b"".join(
        [
            const_node("w", field(1, 1, 0) + shape(2, 3) + field(4, weights.tobytes())),
            # float_val packed, one value for 4 elements: TensorFlow repeats the last one
            const_node("splat", field(1, 1, 0) + shape(4) + field(5, struct.pack("<f", 1.5))),
            # int_val unpacked, negative
            const_node("axis", field(1, 3, 0) + shape() + field(7, -1, wire=0)),
            const_node("text", field(1, 7, 0) + shape() + field(8, b"hello")),  # DT_STRING
            const_node("x", b"", op="Placeholder"),
            field(4, field(1, 27, 0)),  # GraphDef.versions: skipped
        ]
    )
    path = tmp_path / "graph.pb"
    path.write_bytes(graph)
    constants = read_graph_constants(path)
    assert sorted(constants) == ["axis", "splat", "w"]
    np.testing.assert_array_equal(constants["w"], weights)
    np.testing.assert_array_equal(constants["splat"], [1.5] * 4)
    assert constants["axis"].dtype == np.int32 and constants["axis"] == -1


def test_bundled_frozen_graph_weights_are_read():
    weights, _ = bundled_model_files()
    constants = read_graph_constants(weights)
    kernel = constants["BoxPredictor_0/BoxEncodingPredictor/weights"]
    assert kernel.shape == (3, 3, 576, 12) and kernel.dtype == np.float32
    assert constants["Preprocessor/mul/x"] == pytest.approx(1 / 127.5)
    assert constants["FeatureExtractor/MobilenetV2/Conv/BatchNorm/gamma"].shape == (32,)


def test_text_graph_nodes_have_plain_attribute_values(tmp_path):
    path = tmp_path / "graph.pbtxt"
    path.write_text(
        """# a comment
node {
  name: "conv"  op: "Conv2D"
  input: "image" input: "conv/weights"
  attr { key: "strides" value { list { i: 1 i: 2 i: 2 i: 1 } } }
  attr { key: "padding" value { s: "SAME" } }
  attr { key: "loc_pred_transposed" value { b: true } }
}
node {
  name: "prior" op: "PriorBox"
  attr { key: "width" value { tensor { dtype: DT_FLOAT
      tensor_shape { dim { size: 2 } } float_val: 30.0 float_val: 4.5e1 } } }
  attr { key: "eps" value { f: 0.001 } }
  attr < key: "k" value < i: -3 > >
  attr { key: "ids" value { list { i: [4, 5] } } }
}
"""
    )
    conv, prior = read_text_graph(path)
    assert (conv.name, conv.op, conv.inputs) == ("conv", "Conv2D", ["image", "conv/weights"])
    assert conv.attr == {"strides": [1, 2, 2, 1], "padding": "SAME", "loc_pred_transposed": True}
    np.testing.assert_array_equal(prior.attr["width"], [30.0, 45.0])
    assert prior.attr["eps"] == pytest.approx(0.001)
    assert prior.attr["k"] == -3 and prior.attr["ids"] == [4, 5]


def test_opencv_text_graph_of_the_bundled_ssd_is_read():
    _, text_graph = bundled_model_files()
    nodes = read_text_graph(text_graph)
    assert sum(n.op == "PriorBox" for n in nodes) == 6
    (output,) = [n for n in nodes if n.op == "DetectionOutput"]
    assert output.attr["num_classes"] == 91 and output.attr["code_type"] == "CENTER_SIZE"
    assert output.inputs == [
        "BoxEncodingPredictor/concat",
        "ClassPredictor/concat/sigmoid",
        "PriorBox/concat",
    ]
