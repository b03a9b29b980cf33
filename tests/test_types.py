import numpy as np
import pytest

from edgewatch.types import NO_TRACK, Detections


def make(n: int) -> Detections:
    return Detections(
        xyxy=np.arange(n * 4).reshape(n, 4),
        confidence=np.linspace(0.1, 0.9, n),
        class_id=np.arange(n),
        class_names={0: "person", 1: "car"},
    )


def test_tracker_id_defaults_to_untracked_for_every_row():
    detections = make(3)
    assert detections.tracker_id.tolist() == [NO_TRACK] * 3
    assert detections.xyxy.dtype == np.float32 and detections.class_id.dtype == np.int32


def test_boolean_mask_selects_rows_of_every_column():
    detections = make(4)
    kept = detections[detections.confidence > 0.5]
    assert len(kept) == 2
    assert kept.class_id.tolist() == [2, 3]
    assert kept.xyxy.shape == (2, 4) and kept.tracker_id.shape == (2,)


def test_label_falls_back_to_the_class_id():
    detections = make(3)
    assert detections.labels == ["person", "car", "2"]


def test_mismatched_columns_name_expected_and_actual_length():
    with pytest.raises(ValueError, match=r"length 2 \(xyxy\).*confidence=3"):
        Detections(xyxy=np.zeros((2, 4)), confidence=np.zeros(3), class_id=np.zeros(2))


def test_wrong_box_shape_names_expected_shape():
    with pytest.raises(ValueError, match=r"shape \(N, 4\), got \(2, 3\)"):
        Detections(xyxy=np.zeros((2, 3)), confidence=np.zeros(2), class_id=np.zeros(2))


def test_empty_has_zero_rows():
    assert len(Detections.empty()) == 0


def test_data_columns_are_selected_with_the_rows_and_checked_for_length():
    detections = make(3)
    detections.data["seen_s"] = np.array([1.0, 2.0, 3.0])
    assert detections[detections.confidence > 0.4].data["seen_s"].tolist() == [2.0, 3.0]
    with pytest.raises(ValueError, match=r"data\['seen_s'\]=2"):
        Detections(
            xyxy=np.zeros((3, 4)),
            confidence=np.zeros(3),
            class_id=np.zeros(3),
            data={"seen_s": np.zeros(2)},
        )


def test_a_frame_knows_whether_its_picture_came_to_the_host():
    from edgewatch.types import Frame, no_picture

    assert Frame("a", 0, 0.0, np.zeros((4, 6, 3), np.uint8)).has_picture
    assert Frame("a", 0, 0.0, yuv=np.zeros((6, 6), np.uint8)).has_picture
    assert not Frame("a", 0, 0.0, yuv=no_picture(6, 4)).has_picture
