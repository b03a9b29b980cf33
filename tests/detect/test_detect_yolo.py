"""A user's YOLO ONNX model, both output layouts. No YOLO weights can be had here, so each
test builds a tiny ONNX model whose output is a known tensor: the decoding, letterbox and
NMS code then run exactly as on a real export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgewatch.detect import create_detector
from edgewatch.detect.base import DetectorConfig
from edgewatch.detect.yolo import YoloOnnxDetector, letterbox
from edgewatch.errors import ConfigError

ANCHORS = 100  # more anchors than channels, as in real exports (8400 vs 84)
PERSON, CAR, CHAIR = 0, 2, 56


def constant_model(
    path: Path,
    rows: np.ndarray,
    *,
    input_shape: list = ("N", 3, 64, 64),
    output_shape: list | None = None,
    metadata: dict[str, str] | None = None,
) -> Path:
    """ONNX model: images (N, 3, H, W) -> `rows` repeated for each image of the batch."""
    value = numpy_helper.from_array(rows.astype(np.float32)[None], "rows")
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Reshape", ["mean", "shape"], ["per_image"]),
        helper.make_node("Mul", ["per_image", "zero"], ["zeros"]),
        helper.make_node("Add", ["zeros", "rows"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "constant",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, list(input_shape))],
        [
            helper.make_tensor_value_info(
                "output0", TensorProto.FLOAT, output_shape or ["N", *rows.shape]
            )
        ],
        [
            value,
            numpy_helper.from_array(np.array([-1, 1, 1], np.int64), "shape"),
            numpy_helper.from_array(np.zeros((), np.float32), "zero"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    if metadata:
        helper.set_model_props(model, metadata)
    onnx.save(model, path)
    return path


def v8_rows(boxes: list[tuple], num_classes: int = 80) -> np.ndarray:
    """(4 + C, ANCHORS): each box is (cx, cy, w, h, class, score) in network pixels."""
    rows = np.zeros((ANCHORS, 4 + num_classes), np.float32)
    for i, (cx, cy, w, h, cls, score) in enumerate(boxes):
        rows[i, :4] = cx, cy, w, h
        rows[i, 4 + cls] = score
    return rows.T


def v5_rows(boxes: list[tuple], num_classes: int = 80) -> np.ndarray:
    """(ANCHORS, 5 + C): each box is (cx, cy, w, h, class, objectness, class probability)."""
    rows = np.zeros((ANCHORS, 5 + num_classes), np.float32)
    for i, (cx, cy, w, h, cls, obj, prob) in enumerate(boxes):
        rows[i, :5] = cx, cy, w, h, obj
        rows[i, 5 + cls] = prob
    return rows


# A 128x96 image letterboxed into 64x64: scale 0.5, 8 px of padding above and below.
IMAGE = np.zeros((96, 128, 3), np.uint8)
PERSON_BOX = [48, 40, 80, 56]  # network (cx 32, cy 32, w 16, h 8) in image pixels


def detector_for(path: Path, **config) -> YoloOnnxDetector:
    return create_detector(DetectorConfig(model="yolo", model_path=path, **config))


def test_yolov8_output_is_decoded_into_image_pixels(tmp_path):
    rows = v8_rows(
        [
            (32, 32, 16, 8, PERSON, 0.8),
            (33, 32, 16, 8, PERSON, 0.7),  # same person again: NMS drops it
            (10, 20, 8, 16, CAR, 0.9),
            (50, 50, 8, 8, PERSON, 0.2),  # under the threshold
            (50, 20, 8, 8, CHAIR, 0.9),  # not a security class
        ]
    )
    detector = detector_for(constant_model(tmp_path / "v8.onnx", rows))
    (found,) = detector.detect([IMAGE])
    assert found.labels == ["car", "person"]
    np.testing.assert_allclose(found.confidence, [0.9, 0.8], atol=1e-6)
    np.testing.assert_allclose(found.xyxy, [[12, 8, 28, 40], PERSON_BOX], atol=1e-4)


def test_yolov5_scores_are_objectness_times_class_probability(tmp_path):
    rows = v5_rows(
        [
            (32, 32, 16, 8, PERSON, 0.9, 0.8),
            (32, 33, 16, 8, PERSON, 0.9, 0.7),
            (10, 20, 8, 16, CAR, 0.5, 0.9),  # 0.45: under the default 0.5
        ]
    )
    detector = detector_for(constant_model(tmp_path / "v5.onnx", rows))
    (found,) = detector.detect([IMAGE])
    assert found.labels == ["person"]
    np.testing.assert_allclose(found.confidence, [0.72], atol=1e-6)
    np.testing.assert_allclose(found.xyxy, [PERSON_BOX], atol=1e-4)
    (found,) = detector_for(detector.config.model_path, confidence=0.4).detect([IMAGE])
    assert found.labels == ["person", "car"]


def test_boxes_follow_each_images_own_size_and_are_clipped(tmp_path):
    rows = v8_rows([(32, 32, 16, 8, PERSON, 0.8), (60, 4, 16, 16, CAR, 0.9)])
    detector = detector_for(constant_model(tmp_path / "v8.onnx", rows), batch_size=4)
    wide, square = detector.detect([IMAGE, np.zeros((640, 640, 3), np.uint8)])
    np.testing.assert_allclose(wide.xyxy, [[104, 0, 128, 8], PERSON_BOX], atol=1e-4)
    np.testing.assert_allclose(square.xyxy, [[520, 0, 640, 120], [240, 280, 400, 360]], atol=1e-3)


def test_input_size_from_config_when_the_model_has_dynamic_shapes(tmp_path):
    rows = v8_rows([(32, 32, 16, 8, PERSON, 0.8)])
    path = constant_model(
        tmp_path / "dynamic.onnx",
        rows,
        input_shape=["N", 3, "H", "W"],
        output_shape=["N", "C", "A"],
    )
    detector = detector_for(path, input_size=128)
    assert detector.input_hw == (128, 128) and detector.num_classes == 80
    (found,) = detector.detect([IMAGE])  # 128x96 fits at scale 1, 16 px padding on top
    np.testing.assert_allclose(found.xyxy, [[24, 12, 40, 20]], atol=1e-4)
    assert detector_for(path).input_hw == (640, 640)


def test_custom_classes_are_named_class_i_or_from_the_model_metadata(tmp_path):
    rows = v8_rows([(32, 32, 16, 8, 1, 0.8)], num_classes=3)
    plain = detector_for(constant_model(tmp_path / "plain.onnx", rows))
    assert plain.class_names == {0: "class0", 1: "class1", 2: "class2"}
    assert plain.detect([IMAGE])[0].labels == ["class1"]  # default classes: all of them
    named = constant_model(
        tmp_path / "named.onnx", rows, metadata={"names": "{0: 'cat', 1: 'parcel', 2: 'fox'}"}
    )
    assert detector_for(named, classes=["Parcel"]).detect([IMAGE])[0].labels == ["parcel"]
    with pytest.raises(ConfigError, match="unknown class 'person'"):
        detector_for(named, classes=["person"])


def test_model_with_a_fixed_batch_of_one_takes_any_number_of_images(tmp_path):
    rows = v8_rows([(32, 32, 16, 8, PERSON, 0.8)])
    path = constant_model(tmp_path / "b1.onnx", rows, input_shape=[1, 3, 64, 64])
    found = detector_for(path, batch_size=4).detect([IMAGE] * 3)
    assert [d.labels for d in found] == [["person"]] * 3


def test_letterbox_keeps_aspect_ratio_and_centres_the_image():
    image = np.full((100, 200, 3), 255, np.uint8)
    boxed, scale, (left, top) = letterbox(image, (64, 64))
    assert boxed.shape == (64, 64, 3) and scale == pytest.approx(0.32)
    assert (left, top) == (0, 16)
    assert boxed[16:48].min() == 255 and boxed[:16].max() == 114


def test_output_that_is_not_three_dimensional_is_a_config_error(tmp_path):
    path = constant_model(tmp_path / "bad.onnx", np.zeros((10,), np.float32))
    with pytest.raises(ConfigError, match="outputs shape"):
        detector_for(path)


def test_file_that_is_not_onnx_is_a_config_error(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_text("not a model")
    with pytest.raises(ConfigError, match="not a usable ONNX model"):
        detector_for(path)
