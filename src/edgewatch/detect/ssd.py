"""The bundled SSD MobileNet v2 COCO detector, in ONNX Runtime or in OpenCV DNN.

Both runtimes run the same network up to its raw predictions and share everything
around it: resize to 300x300 RGB before, and after, the decoding and per-class NMS of
OpenCV's DetectionOutput layer, then the user's filters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from edgewatch.detect.base import DetectorConfig
from edgewatch.detect.coco import COCO91_IDS, COCO_CLASS_NAMES
from edgewatch.detect.filters import DetectionFilter, greedy_suppress
from edgewatch.detect.onnx_session import batches, create_session
from edgewatch.detect.ssd_int8 import QUANTIZER_VERSION, cached_ssd_int8, int8_is_faster
from edgewatch.detect.ssd_onnx_build import (
    HEAD_METADATA_KEY,
    SsdHead,
    bundled_model_files,
    cached_ssd_onnx,
)
from edgewatch.detect.tf_graph import read_text_graph
from edgewatch.errors import ConfigError
from edgewatch.types import Detections

#: Outputs of OpenCV's graph that match the ONNX model's two outputs.
OPENCV_OUTPUTS = ("BoxEncodingPredictor/concat", "ClassPredictor/concat/sigmoid")


def check_input_size(config: DetectorConfig) -> None:
    if config.input_size not in (None, 300):
        raise ConfigError(
            f"detector.input_size: {config.input_size} is not supported by ssd-mobilenet-v2",
            "its anchors are made for 300x300 input: remove input_size",
        )


def input_batch(images: Sequence[np.ndarray], size: int) -> np.ndarray:
    """BGR frames -> the SSD's input: uint8 (N, size, size, 3) RGB, each frame resized
    whole (no letterbox), as the TensorFlow graph was trained."""
    batch = np.empty((len(images), size, size, 3), np.uint8)
    for slot, image in zip(batch, images, strict=True):
        resized = cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)
        cv2.cvtColor(resized, cv2.COLOR_BGR2RGB, dst=slot)
    return batch


def decode_boxes(encodings: np.ndarray, priors: np.ndarray, var: np.ndarray) -> np.ndarray:
    """CENTER_SIZE decoding of (P, 4) (dx, dy, dw, dh) against the matching priors."""
    size = priors[:, 2:] - priors[:, :2]
    center = priors[:, :2] + size * 0.5 + encodings[:, :2] * var[:, :2] * size
    half = np.exp(encodings[:, 2:] * var[:, 2:]) * size * 0.5
    return np.concatenate([center - half, center + half], axis=1)


class _SsdDetector:
    """Shared pre- and post-processing; subclasses run the network."""

    class_names: Mapping[int, str] = COCO_CLASS_NAMES

    def __init__(self, config: DetectorConfig, head: SsdHead) -> None:
        self.config = config
        self.head = head
        self.filter = DetectionFilter(config, self.class_names)
        # Score columns (COCO ids 1..90) of the classes to report, and their 0..79 ids.
        self._columns = np.array([COCO91_IDS[i] for i in self.filter.class_ids], np.int64)
        self._class_ids = self.filter.class_ids.astype(np.int32)
        self._threshold = max(self.filter.min_confidence, head.confidence_threshold)
        self.input_size = head.input_size

    def _infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 (N, S, S, 3) RGB -> box encodings (N, P, 4), scores (N, P, classes)."""
        raise NotImplementedError

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        results: list[Detections] = []
        size = self.head.input_size
        for chunk in batches(images, self.config.batch_size):
            encodings, scores = self._infer(input_batch(chunk, size))
            for enc, sc, image in zip(encodings, scores, chunk, strict=True):
                results.append(self._postprocess(enc, sc, image.shape[:2]))
        return results

    def _postprocess(self, encodings: np.ndarray, scores: np.ndarray, hw: tuple) -> Detections:
        """What OpenCV's DetectionOutput does, restricted to the reported classes.

        Scores under the lowest reported threshold are dropped first. That changes
        nothing above it: a box is only ever suppressed by a better-scored one.
        """
        head = self.head
        prior, col = np.nonzero(scores[:, self._columns] > self._threshold)
        score = scores[prior, self._columns[col]]
        # top_k best candidates per class before NMS, as DetectionOutput does.
        order = np.lexsort((-score, col))
        prior, col, score = prior[order], col[order], score[order]
        if head.top_k > 0:
            first = np.searchsorted(col, col)  # where each class's run starts
            top = np.arange(len(col)) - first < head.top_k
            prior, col, score = prior[top], col[top], score[top]
        boxes = decode_boxes(encodings[prior], head.priors[prior], head.variances[prior])
        keep = greedy_suppress(boxes, score, col, head.nms_threshold, same_class=True)
        if head.keep_top_k > 0:
            keep = keep[: head.keep_top_k]  # greedy_suppress returns best first
        height, width = hw
        scale = np.array([width, height, width, height], np.float32)
        xyxy = np.clip(boxes[keep] * scale, 0, scale)
        detections = Detections(
            xyxy=xyxy,
            confidence=score[keep],
            class_id=self._class_ids[col[keep]],
            class_names=self.class_names,
        )
        return self.filter(detections)


class SsdOnnxDetector(_SsdDetector):
    """SSD MobileNet v2 in ONNX Runtime (default): built once from the bundled weights."""

    thread_safe = True  # ONNX Runtime sessions take concurrent runs

    def __init__(self, config: DetectorConfig) -> None:
        check_input_size(config)
        path = cached_ssd_onnx(config.cache_dir)
        if config.precision != "fp32":
            int8 = cached_ssd_int8(path)
            if config.precision == "int8" or int8_is_faster(path, int8, config.threads):
                path = int8
        self.precision = "int8" if path.stem.endswith(f"q{QUANTIZER_VERSION}") else "fp32"
        self.session = create_session(path, config.threads)
        head = SsdHead.from_json(
            self.session.get_modelmeta().custom_metadata_map[HEAD_METADATA_KEY]
        )
        super().__init__(config, head)

    def _infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        encodings, scores = self.session.run(None, {"image_tensor": batch})
        return encodings, scores


class SsdOpenCvDetector(_SsdDetector):
    """SSD MobileNet v2 in OpenCV DNN, running the original TensorFlow graph."""

    thread_safe = False  # one cv2.dnn.Net runs one forward pass at a time

    def __init__(self, config: DetectorConfig) -> None:
        check_input_size(config)
        weights, text_graph = bundled_model_files()
        self.net = cv2.dnn.readNetFromTensorflow(str(weights), str(text_graph))
        if config.threads:
            cv2.setNumThreads(config.threads)  # process-wide: OpenCV has no per-net setting
        super().__init__(config, opencv_head(self.net, text_graph))

    def _infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.net.setInput(cv2.dnn.blobFromImages(list(batch)))
        encodings, scores = self.net.forward(list(OPENCV_OUTPUTS))
        n, priors = len(batch), len(self.head.priors)
        return encodings.reshape(n, priors, 4), scores.reshape(n, priors, -1)


def opencv_head(net: cv2.dnn.Net, text_graph) -> SsdHead:
    """The head as OpenCV runs it: priors from its PriorBox layers, NMS settings from
    the text graph's DetectionOutput node."""
    nodes = read_text_graph(text_graph)
    node = next(n for n in nodes if n.op == "DetectionOutput")
    size = 300  # the size OpenCV's SSD text graphs are made for
    net.setInput(np.zeros((1, 3, size, size), np.float32))
    priors = net.forward("PriorBox/concat").reshape(2, -1, 4)
    a = node.attr
    return SsdHead(
        priors=priors[0].copy(),
        variances=priors[1].copy(),
        input_size=size,
        num_classes=int(a["num_classes"]),
        background_label_id=int(a.get("background_label_id", 0)),
        confidence_threshold=float(a.get("confidence_threshold", 0.0)),
        nms_threshold=float(a["nms_threshold"]),
        top_k=int(a.get("top_k", -1)),
        keep_top_k=int(a.get("keep_top_k", -1)),
    )
