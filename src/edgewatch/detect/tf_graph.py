"""Read TensorFlow graphs without TensorFlow.

Two small readers, enough to rebuild the bundled SSD in ONNX:

* `read_graph_constants`: the Const tensors (the weights) of a frozen ``GraphDef`` (.pb),
  decoded straight from the protobuf wire format.
* `read_text_graph`: the nodes of a protobuf *text* graph (.pbtxt), such as OpenCV's
  description of the network it runs, with each attribute as a plain Python value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# TensorFlow's DataType enum (tensorflow/core/framework/types.proto).
TF_DTYPES: dict[int, np.dtype] = {
    1: np.dtype(np.float32),
    2: np.dtype(np.float64),
    3: np.dtype(np.int32),
    4: np.dtype(np.uint8),
    5: np.dtype(np.int16),
    6: np.dtype(np.int8),
    9: np.dtype(np.int64),
    10: np.dtype(np.bool_),
    17: np.dtype(np.uint16),
    19: np.dtype(np.float16),
    22: np.dtype(np.uint32),
    23: np.dtype(np.uint64),
}

# ---------------------------------------------------------------------------------------
# Binary GraphDef


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of each field of one serialized message."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + size], pos + size
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        else:
            raise ValueError(f"unsupported protobuf wire type {wire} (field {number})")
        yield number, wire, value


def _signed(value: int) -> int:
    # int32/int64 fields store negatives as 64-bit two's complement varints.
    return value - (1 << 64) if value >= 1 << 63 else value


def _varints(buf: bytes) -> list[int]:
    values, pos = [], 0
    while pos < len(buf):
        value, pos = _varint(buf, pos)
        values.append(_signed(value))
    return values


def _shape(buf: bytes) -> tuple[int, ...]:
    """TensorShapeProto: repeated Dim dim = 2 {int64 size = 1}."""
    dims = []
    for number, _, dim in _fields(buf):
        if number == 2:
            size = next((v for n, _, v in _fields(dim) if n == 1), 0)
            dims.append(_signed(size))
    return tuple(dims)


def _tensor(buf: bytes) -> np.ndarray | None:
    """TensorProto -> array; None for dtypes we do not need (strings, resources)."""
    dtype_id, shape, content = 0, (), None
    values: list[float | int] = []
    for number, wire, value in _fields(buf):
        if number == 1:
            dtype_id = value
        elif number == 2:
            shape = _shape(value)
        elif number == 4:
            content = value
        elif number in (5, 6):  # float_val, double_val: packed or one at a time
            values.extend(np.frombuffer(value, "<f4" if number == 5 else "<f8").tolist())
        elif number in (7, 10, 11, 13):  # int_val, int64_val, bool_val, half_val
            values.extend(_varints(value) if wire == 2 else [_signed(value)])
    dtype = TF_DTYPES.get(dtype_id)
    if dtype is None:
        return None
    if content is not None:
        return np.frombuffer(content, dtype=dtype).reshape(shape)
    if dtype_id == 19:  # half_val holds the raw 16-bit patterns
        array = np.array(values, np.uint16).view(np.float16)
    else:
        array = np.array(values, dtype=dtype)
    count = int(np.prod(shape))
    if array.size == count:
        return array.reshape(shape)
    # TensorFlow repeats the last value to fill the shape (a splat constant).
    fill = array[-1] if array.size else np.zeros((), dtype)
    return np.concatenate([array, np.full(count - array.size, fill, dtype)]).reshape(shape)


def read_graph_constants(path: str | Path) -> dict[str, np.ndarray]:
    """Const node name -> value, from a frozen TensorFlow ``GraphDef`` file.

    GraphDef: ``repeated NodeDef node = 1``; NodeDef: ``name = 1, op = 2,
    map<string, AttrValue> attr = 5``; AttrValue: ``tensor = 8``.
    """
    data = memoryview(Path(path).read_bytes())  # slices without copying 70 MB
    constants: dict[str, np.ndarray] = {}
    for number, _, node in _fields(data):
        if number != 1:
            continue
        name = op = ""
        tensor = None
        for n, _, value in _fields(node):
            if n == 1:
                name = bytes(value).decode()
            elif n == 2:
                op = bytes(value).decode()
            elif n == 5:
                entry = dict((k, v) for k, _, v in _fields(value))
                if bytes(entry.get(1, b"")) == b"value":
                    tensor = next((v for k, _, v in _fields(entry.get(2, b"")) if k == 8), None)
        if op == "Const" and tensor is not None:
            array = _tensor(tensor)
            if array is not None:
                constants[name] = array
    return constants


# ---------------------------------------------------------------------------------------
# Text graph (.pbtxt)

_TOKEN = re.compile(
    r"""\s*(?:\#[^\n]*\n?\s*)*(?:("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|([{}<>\[\]:,])|([^\s{}<>\[\]:,"'#]+))"""
)


def _tokens(text: str) -> list[str]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ValueError(f"cannot parse text graph at offset {pos}: {text[pos : pos + 40]!r}")
        tokens.append(match.group(1) or match.group(2) or match.group(3))
        pos = match.end()
    return tokens


def _scalar(token: str) -> Any:
    if token[0] in "\"'":
        return token[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
    if token in ("true", "True"):
        return True
    if token in ("false", "False"):
        return False
    try:
        return int(token)
    except ValueError:
        pass
    try:
        return float(token)
    except ValueError:
        return token  # an enum name such as DT_FLOAT


Message = dict[str, list[Any]]


def _message(tokens: list[str], pos: int, close: str | None) -> tuple[Message, int]:
    """Parse fields until `close`; every field maps to the list of its values."""
    message: Message = {}
    while pos < len(tokens) and tokens[pos] != close:
        name = tokens[pos]
        pos += 1
        if tokens[pos] == ":":
            pos += 1
        if tokens[pos] in "{<":
            value, pos = _message(tokens, pos + 1, "}" if tokens[pos] == "{" else ">")
            message.setdefault(name, []).append(value)
            pos += 1
        elif tokens[pos] == "[":  # short form of a repeated scalar: f: [1, 2]
            pos += 1
            while tokens[pos] != "]":
                if tokens[pos] != ",":
                    message.setdefault(name, []).append(_scalar(tokens[pos]))
                pos += 1
            pos += 1
        else:
            message.setdefault(name, []).append(_scalar(tokens[pos]))
            pos += 1
    return message, pos


def _attr_value(value: Message) -> Any:
    """AttrValue message -> a plain value: number, bool, str, list or numpy array."""
    if "list" in value:
        items = value["list"][0]
        return next((items[k] for k in ("i", "f", "s", "b") if k in items), [])
    if "tensor" in value:
        tensor = value["tensor"][0]
        dims = tensor.get("tensor_shape", [{}])[0].get("dim", [])
        shape = tuple(int(d.get("size", [0])[0]) for d in dims)
        vals = next((tensor[k] for k in ("float_val", "int_val", "int64_val") if k in tensor), [])
        dtype = np.float32 if "float_val" in tensor else np.int64
        array = np.array(vals, dtype)
        return array.reshape(shape) if array.size == int(np.prod(shape)) else array
    if "shape" in value:
        return [int(d.get("size", [-1])[0]) for d in value["shape"][0].get("dim", [])]
    for key in ("s", "i", "f", "b", "type"):
        if key in value:
            return value[key][0]
    return None


@dataclass(slots=True)
class TextNode:
    """One node of a text graph, its attributes already turned into Python values."""

    name: str
    op: str
    inputs: list[str] = field(default_factory=list)
    attr: dict[str, Any] = field(default_factory=dict)


def read_text_graph(path: str | Path) -> list[TextNode]:
    """The nodes of a protobuf text-format GraphDef, in file order."""
    graph, _ = _message(_tokens(Path(path).read_text()), 0, None)
    nodes = []
    for node in graph.get("node", []):
        attrs = {a["key"][0]: _attr_value(a.get("value", [{}])[0]) for a in node.get("attr", [])}
        nodes.append(
            TextNode(
                name=node["name"][0],
                op=node.get("op", [""])[0],
                inputs=list(node.get("input", [])),
                attr=attrs,
            )
        )
    return nodes
