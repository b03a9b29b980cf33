"""A user's own YOLO-family ONNX model (YOLOv5- or YOLOv8-style output) in ONNX Runtime.

Output layouts, told apart by which axis is longer (anchors outnumber channels):

* YOLOv5: (N, anchors, 5 + C) rows of cx, cy, w, h, objectness, C class scores;
* YOLOv8: (N, 4 + C, anchors) columns of cx, cy, w, h, C class scores.

Boxes are in network-input pixels; the input is the letterboxed RGB image scaled to 0..1.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from edgewatch.detect.base import DetectorConfig
from edgewatch.detect.coco import COCO_CLASS_NAMES
from edgewatch.detect.filters import DetectionFilter, greedy_suppress
from edgewatch.detect.onnx_session import batches, create_session
from edgewatch.errors import ConfigError
from edgewatch.types import Detections

DEFAULT_INPUT_SIZE = 640
MAX_DETECTIONS = 300  # per image, after NMS, as Ultralytics does
PAD_VALUE = 114  # Ultralytics' letterbox grey


def letterbox(
    image: np.ndarray, size_hw: tuple[int, int]
) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Resize keeping the aspect ratio and pad to `size_hw`: (image, scale, (left, top))."""
    height, width = image.shape[:2]
    scale = min(size_hw[0] / height, size_hw[1] / width)
    new_w, new_h = round(width * scale), round(height * scale)
    left, top = (size_hw[1] - new_w) // 2, (size_hw[0] - new_h) // 2
    canvas = np.full((*size_hw, 3), PAD_VALUE, np.uint8)
    canvas[top : top + new_h, left : left + new_w] = cv2.resize(
        image, (new_w, new_h), interpolation=cv2.INTER_LINEAR
    )
    return canvas, scale, (left, top)


def decode_yolo(output: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One image's raw output -> (cxcywh boxes (A, 4), class scores (A, C)).

    YOLOv5 scores are objectness times class probability.
    """
    if output.shape[0] > output.shape[1]:  # (A, 5 + C): YOLOv5
        scores = output[:, 5:] * output[:, 4:5]
        return output[:, :4], scores
    output = output.T  # (4 + C, A): YOLOv8
    return output[:, :4], output[:, 4:]


def _class_names(metadata: Mapping[str, str], num_classes: int) -> dict[int, str]:
    """Names from Ultralytics' ``names`` metadata, else COCO for 80 classes, else class<i>."""
    try:
        names = ast.literal_eval(metadata.get("names", ""))
        if isinstance(names, dict) and sorted(names) == list(range(num_classes)):
            return {int(k): str(v) for k, v in names.items()}
    except (ValueError, SyntaxError):
        pass
    if num_classes == len(COCO_CLASS_NAMES):
        return dict(COCO_CLASS_NAMES)
    return {i: f"class{i}" for i in range(num_classes)}


class YoloOnnxDetector:
    """Runs a YOLOv5/v8-style ONNX export; see the module docstring for the layouts."""

    thread_safe = True  # ONNX Runtime sessions take concurrent runs

    def __init__(self, config: DetectorConfig) -> None:
        path = config.model_path
        if path is None:
            raise ConfigError(
                "detector.model_path is required with model: yolo",
                "give the path of your YOLOv5/YOLOv8 ONNX export",
            )
        if not Path(path).is_file():
            raise ConfigError(
                f"detector.model_path: {path} does not exist",
                "give the path of your YOLOv5/YOLOv8 ONNX export (e.g. `yolo export format=onnx`)",
            )
        self.config = config
        try:
            self.session = create_session(path, config.threads)
        except ImportError:
            raise  # onnxruntime missing: create_detector names the pip line
        except Exception as error:  # onnxruntime raises its own exception types
            raise ConfigError(
                f"detector.model_path: {path} is not a usable ONNX model ({error})",
                "export the model to ONNX again",
            ) from error
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.input_dtype = np.float16 if inp.type == "tensor(float16)" else np.float32
        self.input_hw = self._input_hw(inp.shape, config)
        self.input_size = min(self.input_hw)
        # A static batch dimension (common in exports) means batches of exactly that size.
        self.fixed_batch = inp.shape[0] if isinstance(inp.shape[0], int) else None
        out_shape = self.session.get_outputs()[0].shape
        if len(out_shape) != 3:
            raise ConfigError(
                f"detector.model_path: {path} outputs shape {out_shape}",
                "expected (N, anchors, 5+classes) (YOLOv5) or (N, 4+classes, anchors) (YOLOv8)",
            )
        self.num_classes = self._num_classes(out_shape)
        metadata = self.session.get_modelmeta().custom_metadata_map
        self.class_names: Mapping[int, str] = _class_names(metadata, self.num_classes)
        self.filter = DetectionFilter(config, self.class_names)

    @staticmethod
    def _input_hw(shape: list, config: DetectorConfig) -> tuple[int, int]:
        if len(shape) == 4 and all(isinstance(d, int) and d > 0 for d in shape[2:]):
            return int(shape[2]), int(shape[3])
        size = config.input_size or DEFAULT_INPUT_SIZE
        return size, size

    def _num_classes(self, shape: list) -> int:
        """From the static output shape, else from one dry run on a blank image."""
        if not all(isinstance(d, int) for d in shape[1:]):
            blank = np.zeros((*self.input_hw, 3), np.uint8)
            shape = self._run([blank]).shape
        channels = min(shape[1], shape[2])
        return channels - 5 if shape[1] > shape[2] else channels - 4

    def _run(self, images: list[np.ndarray]) -> np.ndarray:
        batch = np.stack(images)[..., ::-1].transpose(0, 3, 1, 2)  # BGR NHWC -> RGB NCHW
        batch = np.ascontiguousarray(batch, dtype=self.input_dtype) / self.input_dtype(255)
        count = len(images)
        if self.fixed_batch and count < self.fixed_batch:  # pad a short last batch
            padding = np.zeros((self.fixed_batch - count, *batch.shape[1:]), batch.dtype)
            batch = np.concatenate([batch, padding])
        output = self.session.run(None, {self.input_name: batch})[0]
        return output[:count].astype(np.float32, copy=False)

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        results: list[Detections] = []
        size = self.fixed_batch or self.config.batch_size
        for chunk in batches(images, size):
            boxed = [letterbox(image, self.input_hw) for image in chunk]
            outputs = self._run([b[0] for b in boxed])
            for output, (_, scale, offset), image in zip(outputs, boxed, chunk, strict=True):
                results.append(self._postprocess(output, scale, offset, image.shape[:2]))
        return results

    def _postprocess(
        self, output: np.ndarray, scale: float, offset: tuple, hw: tuple
    ) -> Detections:
        cxcywh, scores = decode_yolo(output)
        class_id = scores.argmax(axis=1)
        confidence = scores[np.arange(len(scores)), class_id]
        # Drop what the filter would drop anyway, before NMS does any work on it.
        keep = (confidence >= self.filter.min_confidence) & self.filter.allowed[class_id]
        cxcywh, class_id, confidence = cxcywh[keep], class_id[keep], confidence[keep]
        half = cxcywh[:, 2:] / 2
        xyxy = np.concatenate([cxcywh[:, :2] - half, cxcywh[:, :2] + half], axis=1)
        kept = greedy_suppress(
            xyxy, confidence, class_id, self.config.nms_iou, same_class=True, limit=MAX_DETECTIONS
        )
        # Undo the letterbox: network pixels -> image pixels, clipped to the image.
        shift = np.array([*offset, *offset], np.float32)
        height, width = hw
        bounds = np.array([width, height, width, height], np.float32)
        xyxy = np.clip((xyxy[kept] - shift) / scale, 0, bounds)
        detections = Detections(
            xyxy=xyxy,
            confidence=confidence[kept],
            class_id=class_id[kept],
            class_names=self.class_names,
        )
        return self.filter(detections)
