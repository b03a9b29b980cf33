"""The bundled SSD MobileNet v2 in PyTorch for the GPU engine, giving the detections of
`SsdOnnxDetector`: the same ONNX file run by a small interpreter (ten plain ops; there is no
ONNX runtime for CUDA where the engine runs), its post-processing redone in torch for a
whole batch in fixed shapes (`ssd_boxes`), captured with the network in one CUDA graph;
only the final boxes go to the host, through the same `DetectionFilter`."""

from __future__ import annotations

import itertools
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper
from torch import Tensor

from edgewatch.detect.base import DetectorConfig
from edgewatch.detect.coco import COCO91_IDS, COCO_CLASS_NAMES
from edgewatch.detect.filters import DetectionFilter
from edgewatch.detect.onnx_session import batches
from edgewatch.detect.ssd import check_input_size, input_batch
from edgewatch.detect.ssd_onnx_build import HEAD_METADATA_KEY, SsdHead, cached_ssd_onnx
from edgewatch.gpu.kernels import nms_kernel
from edgewatch.gpu.ssd_boxes import ROW_COLUMN, ROW_SCORE, select_boxes
from edgewatch.types import Detections

log = logging.getLogger(__name__)

_ELEMENTWISE = {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Sigmoid": torch.sigmoid}


def _conv(attrs: dict, relu_max: float | None = None) -> Callable:
    """A Conv node; with ``relu_max``, the Clip(0, relu_max) after it too, in cuDNN's
    fused convolution + bias + ReLU (CUDA only): eager PyTorch adds a convolution's bias
    in a kernel of its own, another pass over the activation (a third of the network's
    GPU time on an H200), which the fused kernel does on its way out."""
    top, left, bottom, right = attrs.get("pads", [0, 0, 0, 0])
    stride, dilation = attrs.get("strides", [1, 1]), attrs.get("dilations", [1, 1])
    groups = attrs.get("group", 1)
    pad = None
    if (top, left) != (bottom, right):
        pad = (left, right, top, bottom)  # TensorFlow's SAME puts the odd pixel at the end
        top = left = 0
    if relu_max is None:
        convolve = F.conv2d
    else:

        def convolve(x, w, b, stride, padding, dilation, groups):
            y = torch.cudnn_convolution_relu(x, w, b, stride, padding, dilation, groups)
            return y.clamp_max_(relu_max)

    if pad is None:
        return lambda x, w, b: convolve(x, w, b, stride, [top, left], dilation, groups)
    return lambda x, w, b: convolve(F.pad(x, pad), w, b, stride, [0, 0], dilation, groups)


def _reshape(shape: list[int]) -> Callable:
    def reshape(x: Tensor) -> Tensor:  # a 0 keeps that dimension (the batch)
        return x.reshape([x.shape[i] if s == 0 else s for i, s in enumerate(shape)])

    return reshape


def _clip_bounds(node: onnx.NodeProto, inits: dict[str, np.ndarray]) -> tuple:
    return tuple(inits[i].item() if i else None for i in [*node.input, "", ""][1:3])


def _step(node: onnx.NodeProto, inits: dict[str, np.ndarray], dtype: torch.dtype):
    """(function, names of its tensor inputs) for one node; shapes and bounds read now."""
    op, inputs = node.op_type, list(node.input)
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    match op:
        case "Conv":
            return _conv(attrs), inputs
        case "Clip":
            low, high = _clip_bounds(node, inits)
            return lambda x: x.clamp(low, high), inputs[:1]
        case "Reshape":
            return _reshape([int(s) for s in inits[inputs[1]]]), inputs[:1]
        case "Cast" if attrs["to"] == TensorProto.FLOAT:
            return lambda x: x.to(dtype), inputs  # "float" is the compute dtype: fp16 end to end
        case "Transpose":
            return lambda x: x.permute(attrs["perm"]), inputs
        case "Concat":
            return lambda *xs: torch.cat(xs, attrs["axis"]), inputs
        case "Add" | "Sub" | "Mul" | "Sigmoid":
            return _ELEMENTWISE[op], inputs
    raise NotImplementedError(f"{node.name}: ONNX op {op} {attrs} is not supported by graph_module")


def _relu_clips(graph: onnx.GraphProto, inits: dict[str, np.ndarray]) -> dict[str, tuple]:
    """Conv output -> (the Clip(0, max) node right after it, max), where the Conv is
    pointwise (not grouped) and that Clip is the output's only reader: the pairs cuDNN
    runs faster fused. Measured on an H200, a batch of 64 with the 26 pointwise pairs
    fused: 4.87 ms against 5.80; with the 21 depthwise pairs fused too: 17.0 ms."""
    readers: dict[str, int] = defaultdict(int)
    for node in graph.node:
        for name in node.input:
            readers[name] += 1
    pairs = {}
    for conv, clip in itertools.pairwise(graph.node):
        if conv.op_type != "Conv" or clip.op_type != "Clip" or clip.input[0] != conv.output[0]:
            continue
        if any(a.name == "group" and a.i != 1 for a in conv.attribute):
            continue
        low, high = _clip_bounds(clip, inits)
        if low == 0 and high is not None and readers[conv.output[0]] == 1:
            pairs[conv.output[0]] = (clip, high)
    return pairs


class OnnxGraph(torch.nn.Module):
    """An ONNX graph as a plain loop over closures made once, at build time. With
    ``fuse_relu`` (CUDA only), each pointwise Conv and the ReLU6 after it are one step
    (`_relu_clips`)."""

    def __init__(self, model: onnx.ModelProto, dtype: torch.dtype, fuse_relu: bool = False):
        super().__init__()
        graph = model.graph
        inits = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
        self.input_name = graph.input[0].name
        self.output_names = [output.name for output in graph.output]
        self.constants: dict[str, str] = {}  # ONNX initializer -> buffer (the weights)
        for name, value in inits.items():
            if np.issubdtype(value.dtype, np.floating):  # others are shapes, read by _step
                self.constants[name] = f"constant{len(self.constants)}"
                tensor = torch.from_numpy(value.copy()).to(dtype)
                if fuse_relu and tensor.dim() == 4:  # cuDNN's layout (else copied per call)
                    tensor = tensor.contiguous(memory_format=torch.channels_last)
                self.register_buffer(self.constants[name], tensor)
        fused = _relu_clips(graph, inits) if fuse_relu else {}
        self.fused = len(fused)  # convolutions run with their ReLU6
        fused_clips = {clip.output[0] for clip, _ in fused.values()}
        self.steps: list[tuple[Callable, list[str], str, list[str]]] = []
        for node in graph.node:
            if node.output[0] in fused_clips:
                continue
            if node.output[0] in fused:
                clip, high = fused[node.output[0]]
                attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
                self.steps.append(
                    (_conv(attrs, relu_max=high), list(node.input), clip.output[0], [])
                )
            else:
                self.steps.append((*_step(node, inits, dtype), node.output[0], []))
        # Drop each intermediate after its last use: a batch of 256 would keep gigabytes.
        last_use = {name: i for i, (_, inputs, _, _) in enumerate(self.steps) for name in inputs}
        for name, i in last_use.items():
            if name not in self.constants and name not in self.output_names:
                self.steps[i][3].append(name)

    def forward(self, image: Tensor) -> tuple[Tensor, ...]:
        tensors = {name: self.get_buffer(buffer) for name, buffer in self.constants.items()}
        tensors[self.input_name] = image
        for function, inputs, output, done in self.steps:
            tensors[output] = function(*[tensors[name] for name in inputs])
            for name in done:
                del tensors[name]
        return tuple(tensors[name].float() for name in self.output_names)


def graph_module(
    model: onnx.ModelProto, dtype: torch.dtype, fuse_relu: bool = False
) -> torch.nn.Module:
    """Our built SSD graph in PyTorch: uint8 (N, 300, 300, 3) RGB in, float32 out."""
    return OnnxGraph(model, dtype, fuse_relu)


MOST_CANDIDATES = 400  # top_k per image and class: NMS holds (classes, K, K) per image


class TorchSsd:
    """SSD MobileNet v2 in PyTorch on the CPU or a CUDA GPU (fp16 there by default).

    It runs `model_path`, an ONNX build of the SSD (for a GPU machine without the bundled
    weights), or else the cache's fp32 build, never the int8 one."""

    class_names = COCO_CLASS_NAMES
    GRAPH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256)  # batch sizes captured as CUDA graphs
    thread_safe = False  # one worker feeds it batches; torch spreads each over the device

    def __init__(
        self,
        config: DetectorConfig,
        device: str = "cpu",
        half: bool | None = None,
        model_path: str | Path | None = None,
        cuda_graphs: bool | None = None,
        fused: bool | None = None,
    ) -> None:
        """``fused`` (the default on CUDA): each pointwise convolution and its ReLU6 in
        one cuDNN kernel (see `_relu_clips`)."""
        check_input_size(config)
        self.config = config
        self.device = torch.device(device)
        half = self.device.type == "cuda" if half is None else half
        self._model_file = Path(model_path or cached_ssd_onnx(config.cache_dir))
        model = onnx.load(self._model_file)
        metadata = {prop.key: prop.value for prop in model.metadata_props}
        self.head = SsdHead.from_json(metadata[HEAD_METADATA_KEY])
        dtype = torch.float16 if half else torch.float32
        self.input_size = self.head.input_size
        # cuDNN's own choice of kernels (cudnn.benchmark off): timing them instead made
        # the network 7% faster on an H200, but one clear detection (a person at 0.59)
        # came out different between the fused and the plain network.
        fuse = self.device.type == "cuda" if fused is None else fused
        self.network = self._network(model, dtype, fuse)
        self.filter = DetectionFilter(config, self.class_names)
        columns = [COCO91_IDS[i] for i in self.filter.class_ids]  # score columns (1..90)
        self._columns = torch.tensor(columns, dtype=torch.int64, device=self.device)
        self._class_ids = self.filter.class_ids.astype(np.int32)
        self._threshold = max(self.filter.min_confidence, self.head.confidence_threshold)
        self._priors = torch.from_numpy(self.head.priors).to(self.device)
        self._variances = torch.from_numpy(self.head.variances).to(self.device)
        if not 0 < self.head.top_k <= MOST_CANDIDATES:
            raise ValueError(
                f"{self._model_file}: the SSD's top_k is {self.head.top_k}; the GPU path "
                f"needs 1 to {MOST_CANDIDATES} candidates per class (rebuild the model)"
            )
        # Network and boxes replayed as CUDA graphs, one per batch size of GRAPH_SIZES:
        # their kernel launches (about 80 and 400 a batch) cost the CPU more than the
        # GPU's work (an H200).
        use_graphs = self.device.type == "cuda" if cuda_graphs is None else cuda_graphs
        self._graphs: dict[int, tuple] | None = {} if use_graphs else None

    def _network(self, model: onnx.ModelProto, dtype: torch.dtype, fuse: bool):
        network = graph_module(model, dtype, fuse_relu=fuse).to(self.device).eval()
        if not fuse:
            return network
        size = self.input_size
        try:  # cuDNN builds its fused kernels now, or says it has none for this GPU
            with torch.inference_mode():
                network(torch.zeros((1, size, size, 3), dtype=torch.uint8, device=self.device))
        except RuntimeError as error:
            log.warning(
                "the SSD's convolutions and ReLU6 run apart: cuDNN cannot fuse them here: %s", error
            )
            return graph_module(model, dtype).to(self.device).eval()
        return network

    @property
    def fused(self) -> bool:
        """Whether the pointwise convolutions and their ReLU6 run as one kernel each."""
        return self.network.fused > 0

    def describe(self) -> str:
        """How it runs now, after any fallback: e.g. "fp16, CUDA graphs (network and
        boxes), pointwise convolutions fused with their ReLU6 (cuDNN), NMS in one
        Triton kernel"."""
        dtype = str(next(self.network.buffers()).dtype).removeprefix("torch.float")
        parts = [f"fp{dtype}", "CUDA graphs (network and boxes)" if self._graphs else "op by op"]
        if self.fused:
            parts.append("pointwise convolutions fused with their ReLU6 (cuDNN)")
        on_cuda = self.device.type == "cuda"
        parts.append(
            "NMS in one Triton kernel" if on_cuda and nms_kernel() else "NMS in torch steps"
        )
        return ", ".join(parts)

    def warm_up(self, batch_size: int) -> None:
        """One full batch before the first frame: cuDNN picks its kernels, the CUDA
        graphs are captured and the memory for the largest batch is taken now, not
        minutes into the run. The boxes' path runs the same kernels whatever a frame
        holds, so a blank batch loads them all."""
        size = self.input_size
        if self._graphs is not None:
            self._capture([n for n in self.GRAPH_SIZES if n < batch_size] + [batch_size])
        blank = torch.zeros((batch_size, size, size, 3), dtype=torch.uint8, device=self.device)
        self.postprocess(self.infer(blank), [(size, size)] * batch_size)

    @torch.inference_mode()
    def _capture(self, sizes: list[int]) -> None:
        """A CUDA graph of the network and its boxes for each batch size, largest first,
        sharing one memory pool (graphs replay one at a time). Where capture fails they
        run op by op, as they would without graphs."""
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        pool = None
        size = self.input_size
        try:
            for n in sorted(set(sizes), reverse=True):
                image = torch.zeros((n, size, size, 3), dtype=torch.uint8, device=self.device)
                with torch.cuda.stream(side):  # warm-up off the capture, as CUDA asks
                    self._forward(image)
                torch.cuda.current_stream(self.device).wait_stream(side)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph, pool=pool):
                    rows = self._forward(image)
                pool = graph.pool()
                self._graphs[n] = (graph, image, rows)
        except RuntimeError as error:
            log.warning("CUDA graphs unavailable, the SSD runs op by op: %s", error)
            self._graphs = None

    def _forward(self, batch: Tensor) -> Tensor:
        return self.select(*self.network(batch))

    def select(self, encodings: Tensor, scores: Tensor) -> Tensor:
        """The network's float32 outputs -> (N, keep_top_k, 6) rows on the device, in
        fixed shapes (`ssd_boxes.select_boxes`)."""
        head = self.head
        return select_boxes(
            encodings, scores, priors=self._priors, variances=self._variances,
            columns=self._columns, threshold=self._threshold, top_k=head.top_k,
            nms_iou=head.nms_threshold, keep_top_k=head.keep_top_k,
        )  # fmt: skip

    @torch.inference_mode()
    def infer(self, batch: Tensor) -> Tensor:
        """uint8 (N, 300, 300, 3) RGB on the device -> each image's boxes, as rows of
        `select`, still on the device: nothing has waited for the GPU yet.

        With CUDA graphs: the smallest captured size that holds the batch replays; its
        rows are the graph's own buffer, valid until the next `infer`."""
        n = len(batch)
        size = next((s for s in sorted(self._graphs or ()) if s >= n), None)
        if size is None:
            return self._forward(batch)
        graph, image, rows = self._graphs[size]
        image[:n].copy_(batch)
        graph.replay()
        return rows[:n]

    def postprocess(self, rows: Tensor, sizes: list[tuple[int, int]]) -> list[Detections]:
        """`infer`'s rows -> each image's `Detections`, in pixels of its (height, width)
        in `sizes`: one copy to the host (the one wait for the GPU), then the whole
        batch filtered at once (image by image took 4x as long: 0.2 ms a frame on a
        2-core EPYC, 0.05 in one pass)."""
        rows = rows.cpu().numpy()
        found = rows[:, :, ROW_SCORE] > self._threshold
        image = np.nonzero(found)[0]  # row-major: by image, each best first
        rows = rows[found]
        scale = np.array([[w, h, w, h] for h, w in sizes], dtype=np.float32)[image]
        xyxy = np.minimum(np.maximum(rows[:, :4] * scale, 0), scale)
        score = rows[:, ROW_SCORE]
        class_id = self._class_ids[rows[:, ROW_COLUMN].astype(int)]
        kept = self.filter.keep_rows(xyxy, score, class_id, image)
        bounds = np.searchsorted(image[kept], np.arange(1, len(sizes)))
        columns = (np.split(c, bounds) for c in (xyxy[kept], score[kept], class_id[kept]))
        names = self.class_names
        return [Detections(*row, class_names=names) for row in zip(*columns, strict=True)]

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """BGR uint8 host images, resized on the CPU exactly as `edgewatch.detect.ssd`."""
        results: list[Detections] = []
        size = self.input_size
        for chunk in batches(images, self.config.batch_size):
            batch = torch.from_numpy(input_batch(chunk, size)).to(self.device)
            results += self.postprocess(self.infer(batch), [image.shape[:2] for image in chunk])
        return results
