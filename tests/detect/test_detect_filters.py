"""Class filter, per-class thresholds and the cross-class merge every detector applies."""

from __future__ import annotations

import numpy as np
import pytest

from edgewatch.detect.base import DetectorConfig
from edgewatch.detect.coco import COCO_CLASS_NAMES
from edgewatch.detect.filters import DetectionFilter, greedy_suppress
from edgewatch.errors import ConfigError
from edgewatch.geometry import box_iou
from edgewatch.types import Detections

PERSON, CAR, TRUCK, CHAIR = 0, 2, 7, 56


def detections(*rows: tuple[int, float, tuple[float, float, float, float]]) -> Detections:
    return Detections(
        xyxy=[r[2] for r in rows] or np.zeros((0, 4)),
        confidence=[r[1] for r in rows],
        class_id=[r[0] for r in rows],
        class_names=COCO_CLASS_NAMES,
    )


def make_filter(**config) -> DetectionFilter:
    return DetectionFilter(DetectorConfig(**config), COCO_CLASS_NAMES)


def test_default_reports_only_security_classes_above_confidence():
    found = make_filter()(
        detections(
            (PERSON, 0.9, (0, 0, 10, 20)),
            (CHAIR, 0.95, (50, 50, 60, 60)),
            (CAR, 0.45, (100, 100, 150, 130)),
        )
    )
    assert found.labels == ["person"]


def test_per_class_threshold_overrides_the_default_confidence():
    keep = make_filter(confidence=0.5, class_confidence={"Person": 0.3, "car": 0.8})
    found = keep(
        detections(
            (PERSON, 0.35, (0, 0, 10, 20)),
            (CAR, 0.7, (100, 100, 150, 130)),
            (TRUCK, 0.55, (200, 100, 250, 130)),
        )
    )
    assert found.labels == ["truck", "person"]  # best first
    assert keep.min_confidence == pytest.approx(0.3)


def test_class_filter_is_case_insensitive_and_none_reports_everything():
    rows = [(PERSON, 0.9, (0, 0, 10, 20)), (CHAIR, 0.9, (50, 50, 60, 60))]
    assert make_filter(classes=["CHAIR"])(detections(*rows)).labels == ["chair"]
    assert make_filter(classes=None)(detections(*rows)).labels == ["person", "chair"]


def test_unknown_label_is_a_config_error_naming_it_and_the_valid_ones():
    with pytest.raises(ConfigError, match="unknown class 'persn'") as error:
        make_filter(classes=["person", "persn"])
    assert "detector.classes" in str(error.value) and "toothbrush" in str(error.value)
    with pytest.raises(ConfigError, match="class_confidence: unknown class 'lorry'"):
        make_filter(class_confidence={"lorry": 0.5})


def test_merge_keeps_the_more_confident_of_two_classes_on_one_object():
    found = make_filter()(
        detections(
            (TRUCK, 0.6, (100, 100, 200, 160)),
            (CAR, 0.7, (102, 101, 201, 161)),
            (CAR, 0.65, (300, 100, 400, 160)),  # another car, elsewhere
        )
    )
    assert found.labels == ["car", "car"]
    np.testing.assert_allclose(found.confidence, [0.7, 0.65])


def test_merge_leaves_overlapping_boxes_of_one_class_and_can_be_turned_off():
    rows = [(PERSON, 0.9, (0, 0, 10, 20)), (PERSON, 0.8, (1, 0, 11, 20))]
    assert len(make_filter()(detections(*rows))) == 2  # same class: NMS's business, not ours
    rows = [(CAR, 0.7, (0, 0, 100, 60)), (TRUCK, 0.6, (0, 0, 100, 60))]
    assert make_filter(merge_iou=None)(detections(*rows)).labels == ["car", "truck"]


def test_merge_happens_after_the_class_filter():
    # The truck is not reported, so it must not hide the car under it.
    found = make_filter(classes=["car"])(
        detections((TRUCK, 0.9, (0, 0, 100, 60)), (CAR, 0.6, (0, 0, 100, 60)))
    )
    assert found.labels == ["car"]


def test_default_classes_adapt_to_a_custom_model_but_explicit_ones_do_not():
    names = {0: "package", 1: "person"}
    only_person = DetectionFilter(DetectorConfig(), names)
    assert only_person.class_ids.tolist() == [1]
    everything = DetectionFilter(DetectorConfig(), {0: "class0", 1: "class1"})
    assert everything.class_ids.tolist() == [0, 1]
    with pytest.raises(ConfigError, match="'car'"):
        DetectionFilter(DetectorConfig(classes=["car"]), names)


def test_empty_detections_pass_through():
    assert len(make_filter()(Detections.empty(COCO_CLASS_NAMES))) == 0


def test_iou_and_class_aware_suppression():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 5], [20, 20, 30, 30], [0, 0, 10, 10]], float)
    np.testing.assert_allclose(box_iou(boxes[0], boxes), [1, 0.5, 0, 1])
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    classes = np.array([1, 1, 1, 2])
    kept = greedy_suppress(boxes, scores, classes, 0.45, same_class=True)
    assert kept.tolist() == [0, 2, 3]  # box 1 overlaps box 0 at 0.5; box 3 is another class
    kept = greedy_suppress(boxes, scores, classes, 0.5, same_class=True)
    assert kept.tolist() == [0, 1, 2, 3]  # suppressed only when IoU is *above* the threshold
    assert greedy_suppress(boxes, scores, classes, 0.45, same_class=True, limit=2).tolist() == [
        0,
        2,
    ]


def random_batch(seed: int, images: int = 6) -> tuple[np.ndarray, ...]:
    """A batch's raw rows, sorted by image: clustered boxes of a few classes (some the
    filter drops, one id it does not know), as a GPU detector hands them over."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 12 * images))
    image = np.sort(rng.integers(0, images, n))
    centres = rng.uniform(0, 600, (5, 2))[rng.integers(0, 5, n)] + rng.normal(0, 8, (n, 2))
    size = rng.uniform(30, 120, (n, 2))
    xyxy = np.hstack([centres - size / 2, centres + size / 2]).astype(np.float32)
    confidence = rng.uniform(0.2, 1.0, n).astype(np.float32)
    class_id = rng.choice([PERSON, CAR, TRUCK, CHAIR, 999], n).astype(np.int32)
    return xyxy, confidence, class_id, image


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize(
    "config",
    [{}, {"merge_iou": None}, {"class_confidence": {"truck": 0.7}, "confidence": 0.3}],
)
def test_a_batch_filtered_at_once_equals_each_image_filtered_alone(seed, config):
    """A GPU detector filters its whole batch in one pass: the same rows, in the same
    order, as filtering image by image (the merge reorders an image's rows, best first)."""
    check = make_filter(**config)
    xyxy, confidence, class_id, image = random_batch(seed)
    kept = check.keep_rows(xyxy, confidence, class_id, image)
    assert np.all(np.diff(image[kept]) >= 0)  # still grouped by image
    for i in range(6):
        alone = check(Detections(xyxy[image == i], confidence[image == i], class_id[image == i]))
        mine = kept[image[kept] == i]
        np.testing.assert_array_equal(xyxy[mine], alone.xyxy)
        np.testing.assert_array_equal(confidence[mine], alone.confidence)
        np.testing.assert_array_equal(class_id[mine], alone.class_id)


def test_suppression_within_each_image_only():
    box = [0.0, 0.0, 10.0, 10.0]
    boxes = np.array([box, box, box], np.float32)  # the same box in images 0, 1 and 0
    scores = np.array([0.9, 0.8, 0.7])
    classes = np.array([PERSON, CAR, CAR])
    image = np.array([0, 1, 0])
    kept = greedy_suppress(boxes, scores, classes, 0.5, same_class=False, image=image)
    assert kept.tolist() == [0, 1]  # image 0's car merged into its person; image 1's kept
    assert greedy_suppress(boxes, scores, classes, 0.5, same_class=False).tolist() == [0]
