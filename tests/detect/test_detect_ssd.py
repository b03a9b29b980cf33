"""The bundled SSD: the ONNX model built from the TensorFlow weights against OpenCV DNN
running the original graph, on real CCTV footage."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import read_frames

from edgewatch.detect import create_detector
from edgewatch.detect import ssd_onnx_build as build
from edgewatch.detect.base import DetectorConfig
from edgewatch.detect.coco import COCO91_IDS
from edgewatch.detect.ssd import OPENCV_OUTPUTS, SsdOnnxDetector, SsdOpenCvDetector
from edgewatch.errors import ConfigError
from edgewatch.geometry import box_iou
from edgewatch.types import Detections

SAMPLED = range(0, 795, 50)  # 16 frames spread over the clip
PARKED_CAR = np.array([730, 47, 767, 98], np.float32)  # right edge, beside the van
PARKED_VAN = np.array([642, 41, 724, 100], np.float32)


@pytest.fixture(scope="module")
def frames(vtest_path) -> dict[int, np.ndarray]:
    return dict(zip(SAMPLED, read_frames(vtest_path, list(SAMPLED)), strict=True))


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("edgewatch-cache")


def config(cache_dir: Path, **changes) -> DetectorConfig:
    # fp32: these tests hold the ONNX build to OpenCV's original graph; the int8 build has
    # its own accuracy check against fp32 (tests/bench/test_accuracy.py).
    changes.setdefault("precision", "fp32")
    return DetectorConfig(cache_dir=cache_dir, **changes)


def raw_config(cache_dir: Path, runtime: str = "onnxruntime") -> DetectorConfig:
    """Every class, low threshold, no merge: what the network itself found."""
    return config(cache_dir, runtime=runtime, classes=None, confidence=0.28, merge_iou=None)


@pytest.fixture(scope="module")
def onnx_detector(cache_dir) -> SsdOnnxDetector:
    return create_detector(raw_config(cache_dir))


@pytest.fixture(scope="module")
def opencv_detector(cache_dir) -> SsdOpenCvDetector:
    return create_detector(raw_config(cache_dir, "opencv"))


def network_input(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(cv2.resize(image, (300, 300)), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def opencv_net() -> cv2.dnn.Net:
    """OpenCV DNN running the original TensorFlow graph, without edgewatch's code."""
    weights, text_graph = build.bundled_model_files()
    return cv2.dnn.readNetFromTensorflow(str(weights), str(text_graph))


def opencv_original(net: cv2.dnn.Net, image: np.ndarray) -> Detections:
    """OpenCV DNN's own end of the graph (its DetectionOutput layer), as a reference."""
    net.setInput(cv2.dnn.blobFromImage(network_input(image)))
    rows = net.forward().reshape(-1, 7)
    rows = rows[np.isin(rows[:, 1], COCO91_IDS) & (rows[:, 2] > 0)]
    height, width = image.shape[:2]
    scale = np.array([width, height, width, height], np.float32)
    return Detections(
        xyxy=np.clip(rows[:, 3:] * scale, 0, scale),
        confidence=rows[:, 2],
        class_id=[COCO91_IDS.index(int(label)) for label in rows[:, 1]],
    )


def unmatched(reference: Detections, other: Detections, floor: float = 0.3) -> list[str]:
    """Detections of `reference` scored >= floor with no same-class partner in `other`
    at IoU >= 0.9 and score within 0.02 (each partner used once)."""
    used = np.zeros(len(other), bool)
    missing = []
    for i in np.flatnonzero(reference.confidence >= floor):
        ok = (
            (other.class_id == reference.class_id[i])
            & (np.abs(other.confidence - reference.confidence[i]) <= 0.02)
            & ~used
        )
        iou = np.where(ok, box_iou(reference.xyxy[i], other.xyxy), 0.0)
        if len(iou) and iou.max() >= 0.9:
            used[iou.argmax()] = True
        else:
            missing.append(
                f"{reference.label(i)} {reference.confidence[i]:.3f} {reference.xyxy[i]}"
            )
    return missing


def test_onnx_model_outputs_equal_opencv_dnn_layer_outputs(frames, cache_dir, opencv_net):
    net = opencv_net
    detector = SsdOnnxDetector(config(cache_dir))
    batch = np.stack([network_input(frames[i]) for i in (0, 400)])
    net.setInput(cv2.dnn.blobFromImages(list(batch)))
    cv_boxes, cv_scores = net.forward(list(OPENCV_OUTPUTS))
    boxes, scores = detector.session.run(None, {"image_tensor": batch})
    assert boxes.shape == (2, 1917, 4) and scores.shape == (2, 1917, 91)
    np.testing.assert_allclose(boxes.reshape(2, -1), cv_boxes, atol=2e-3)
    np.testing.assert_allclose(scores.reshape(2, -1), cv_scores, atol=1e-4)


def test_numpy_priors_equal_opencv_prior_box_layers(onnx_detector, opencv_detector):
    np.testing.assert_allclose(onnx_detector.head.priors, opencv_detector.head.priors, atol=1e-6)
    np.testing.assert_array_equal(onnx_detector.head.variances, opencv_detector.head.variances)
    assert onnx_detector.head.nms_threshold == pytest.approx(0.6)
    assert (onnx_detector.head.top_k, onnx_detector.head.keep_top_k) == (100, 100)


def test_onnx_detections_match_opencv_dnn_original_graph_on_real_frames(
    frames, onnx_detector, opencv_net
):
    ours = onnx_detector.detect(list(frames.values()))
    total = 0
    for (index, image), mine in zip(frames.items(), ours, strict=True):
        reference = opencv_original(opencv_net, image)
        assert not unmatched(reference, mine), f"frame {index}: ONNX misses OpenCV's"
        assert not unmatched(mine, reference), f"frame {index}: OpenCV misses ONNX's"
        total += int((mine.confidence >= 0.3).sum())
    assert total >= 16 * 5  # a real comparison: several objects in every frame


def test_onnx_and_opencv_runtimes_give_the_same_detections(frames, onnx_detector, opencv_detector):
    images = list(frames.values())
    for index, a, b in zip(
        frames, onnx_detector.detect(images), opencv_detector.detect(images), strict=True
    ):
        assert not unmatched(a, b), f"frame {index}"
        assert not unmatched(b, a), f"frame {index}"


def test_people_walking_are_detected_as_persons_with_upright_boxes(frames, cache_dir):
    detector = create_detector(config(cache_dir, classes=["person"]))
    for index, found in zip(frames, detector.detect(list(frames.values())), strict=True):
        assert len(found) >= 2, f"frame {index}: only {len(found)} people"
        assert set(found.labels) == {"person"}
        width = found.xyxy[:, 2] - found.xyxy[:, 0]
        height = found.xyxy[:, 3] - found.xyxy[:, 1]
        assert np.all(height > width), f"frame {index}: a person lying down? {found.xyxy}"
        assert np.all((height > 25) & (height < 250)), f"frame {index}: {height}"


def test_parked_car_is_found_in_the_same_place_all_clip_long(frames, cache_dir):
    detector = create_detector(config(cache_dir))
    hits = 0
    for found in detector.detect(list(frames.values())):
        cars = found[found.class_id == 2]
        hits += bool(len(cars)) and box_iou(PARKED_CAR, cars.xyxy).max() >= 0.7
    assert hits >= len(frames) - 1


def test_van_reported_as_car_and_truck_is_merged_into_one(frames, cache_dir):
    def at_van(merge_iou):
        detector = create_detector(
            config(cache_dir, classes=["car", "truck"], confidence=0.4, merge_iou=merge_iou)
        )
        counts = []
        for found in detector.detect(list(frames.values())):
            counts.append(int((box_iou(PARKED_VAN, found.xyxy) >= 0.7).sum()))
        return counts

    assert max(at_van(None)) == 2  # SSD suppresses per class: car and truck on one van
    assert max(at_van(0.7)) == 1


def test_batch_of_different_sizes_equals_one_at_a_time(frames, cache_dir):
    detector = create_detector(config(cache_dir, batch_size=3))
    images = [
        frames[100],
        cv2.resize(frames[300], (1280, 720)),
        cv2.resize(frames[500], (640, 480)),
        frames[700][:400, 100:],
        cv2.resize(frames[750], (1536, 1152)),
    ]
    together = detector.detect(images)
    for image, batched in zip(images, together, strict=True):
        (alone,) = detector.detect([image])
        assert batched.labels == alone.labels
        np.testing.assert_allclose(batched.xyxy, alone.xyxy, atol=0.05)
        np.testing.assert_allclose(batched.confidence, alone.confidence, atol=1e-4)
        height, width = image.shape[:2]
        assert np.all(batched.xyxy >= 0) and np.all(batched.xyxy[:, [0, 2]] <= width)
        assert np.all(batched.xyxy[:, [1, 3]] <= height)


def test_boxes_are_in_each_images_own_pixels(frames, cache_dir):
    detector = create_detector(config(cache_dir))
    small, large = detector.detect([frames[200], cv2.resize(frames[200], (1536, 1152))])
    confident = small[small.confidence >= 0.6]
    assert len(confident) >= 3
    for box, class_id in zip(confident.xyxy * 2, confident.class_id, strict=True):
        same = large[large.class_id == class_id]
        assert box_iou(box, same.xyxy).max() >= 0.9, f"{box} not in {same.xyxy}"


def test_empty_batch_gives_empty_list(onnx_detector):
    assert onnx_detector.detect([]) == []


def test_onnx_model_is_built_once_then_read_from_the_cache(tmp_path, monkeypatch, caplog):
    with caplog.at_level(logging.INFO, logger=build.__name__):
        first = build.cached_ssd_onnx(tmp_path)
    assert [r.message for r in caplog.records if "building ONNX model" in r.message]

    def no_rebuild(*args):
        raise AssertionError("rebuilt although cached")

    monkeypatch.setattr(build, "build_ssd_onnx", no_rebuild)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=build.__name__):
        assert build.cached_ssd_onnx(tmp_path) == first
    assert not caplog.records
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temporary left over


def test_cache_key_follows_the_weights_content_and_builds_are_never_deleted(tmp_path):
    """Regression: the key held the weights' mtime, and a build deleted every other file:
    two installs sharing ~/.cache/edgewatch deleted each other's model."""
    weights, text_graph = build.bundled_model_files()
    copy = tmp_path / "weights.pb"
    copy.write_bytes(weights.read_bytes())
    cache = tmp_path / "cache"
    first = build.cached_ssd_onnx(cache, copy, text_graph)
    copy.write_bytes(copy.read_bytes())  # same content, new mtime: the same model
    assert build.cached_ssd_onnx(cache, copy, text_graph) == first
    other = tmp_path / "other.pbtxt"  # another install's model: a different graph file
    other.write_text(text_graph.read_text() + "\n")
    second = build.cached_ssd_onnx(cache, copy, other)
    assert second != first and first.exists() and second.exists()


@pytest.mark.slow
def test_two_processes_building_at_once_both_get_a_complete_model(tmp_path):
    import onnx

    code = "import sys; from edgewatch.detect.ssd_onnx_build import cached_ssd_onnx as c; "
    code += "print(c(sys.argv[1]))"
    runs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE)
        for _ in range(2)
    ]
    paths = [run.communicate(timeout=120)[0].decode().strip() for run in runs]
    assert all(run.returncode == 0 for run in runs)
    assert paths[0] == paths[1]
    onnx.checker.check_model(paths[0])
    assert [p.name for p in tmp_path.iterdir()] == [Path(paths[0]).name]


def test_input_size_other_than_300_is_a_config_error(cache_dir):
    with pytest.raises(ConfigError, match="input_size: 320"):
        create_detector(config(cache_dir, input_size=320))


def test_prior_box_follows_opencv_semantics():
    from edgewatch.detect.tf_graph import TextNode

    node = TextNode("PriorBox_0", "PriorBox", attr={"width": [50.0, 20.0], "height": [50.0, 40.0]})
    priors = build.prior_boxes(node, (2, 2), (100, 100))
    # cell (0, 0) centred at 25 px (step 50, offset 0.5), then cell (0, 1) at x = 75
    np.testing.assert_allclose(priors[:3], [[0, 0, 0.5, 0.5], [0.15, 0.05, 0.35, 0.45],
                                            [0.5, 0, 1, 0.5]], atol=1e-6)  # fmt: skip
    assert priors.shape == (8, 4)
