"""What every detector applies to its raw output: class filter, per-class thresholds,
and a cross-class merge. Plus the suppression (NMS) the detectors share.

Runs on every frame, so it works on numpy columns; the only Python loop is greedy
suppression, which turns once per *kept* box.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from edgewatch.detect.base import DetectorConfig
from edgewatch.errors import ConfigError
from edgewatch.geometry import iou_matrix
from edgewatch.types import Detections


def greedy_suppress(
    xyxy: np.ndarray,
    scores: np.ndarray,
    class_id: np.ndarray,
    iou_threshold: float,
    *,
    same_class: bool,
    limit: int | None = None,
    image: np.ndarray | None = None,
) -> np.ndarray:
    """Indices kept by greedy suppression, best score first.

    same_class=True is class-aware NMS (a box suppresses only boxes of its own class);
    same_class=False is the cross-class merge (only boxes of *other* classes). A box
    survives when its IoU with every better kept box is at most `iou_threshold`.
    ``image``: each box's image, for the boxes of a batch (a box suppresses only boxes
    of its own image); then ``limit`` counts the whole batch.
    """
    order = np.argsort(-scores, kind="stable")
    # All overlaps at once, then one pass in score order: a box is kept unless a better
    # kept box suppressed it (the same as removing suppressed boxes after each pick).
    suppresses = iou_matrix(xyxy, xyxy) > iou_threshold
    same = class_id[:, None] == class_id[None, :]
    suppresses &= same if same_class else ~same
    if image is not None:
        suppresses &= image[:, None] == image[None, :]
    suppressed = np.zeros(len(scores), dtype=bool)
    keep: list[int] = []
    for index in order.tolist():
        if suppressed[index]:
            continue
        keep.append(index)
        if limit is not None and len(keep) == limit:
            break
        suppressed |= suppresses[index]
    return np.asarray(keep, dtype=np.int64)


def _index_by_label(class_names: Mapping[int, str]) -> dict[str, int]:
    return {name.lower(): class_id for class_id, name in class_names.items()}


def _unknown(field: str, label: str, by_label: dict[str, int]) -> ConfigError:
    valid = ", ".join(sorted(by_label))
    return ConfigError(
        f"detector.{field}: unknown class {label!r}", f"the model knows these classes: {valid}"
    )


class DetectionFilter:
    """Keeps the detections a user asked for, from a detector's raw `Detections`.

    * class filter: ``config.classes`` labels (case-insensitive), None for all;
    * thresholds: ``class_confidence[label]``, else ``confidence``;
    * cross-class merge: of boxes of different classes overlapping more than
      ``merge_iou``, only the most confident is kept (SSD and YOLO suppress overlaps per
      class only, so one car can come out as car and truck).

    Labels the model does not know raise `ConfigError`, except in the *default* class
    list, which is matched against what a custom model knows (all classes if none).
    """

    def __init__(self, config: DetectorConfig, class_names: Mapping[int, str]) -> None:
        by_label = _index_by_label(class_names)
        size = max(class_names, default=-1) + 1
        self.allowed = np.zeros(size, bool)
        if config.classes is None:
            self.allowed[list(class_names)] = True
        elif "classes" in config.model_fields_set:
            for label in config.classes:
                if label.lower() not in by_label:
                    raise _unknown("classes", label, by_label)
                self.allowed[by_label[label.lower()]] = True
        else:
            for label in config.classes:
                if label.lower() in by_label:
                    self.allowed[by_label[label.lower()]] = True
            if not self.allowed.any():
                self.allowed[list(class_names)] = True
        self.thresholds = np.full(size, config.confidence, np.float32)
        for label, threshold in config.class_confidence.items():
            if label.lower() not in by_label:
                raise _unknown("class_confidence", label, by_label)
            self.thresholds[by_label[label.lower()]] = threshold
        self.merge_iou = config.merge_iou
        #: Lowest threshold of any reported class: detectors may drop anything below it.
        self.min_confidence = float(self.thresholds[self.allowed].min(initial=1.0))
        #: Reported class ids, for detectors that can skip the others early.
        self.class_ids = np.flatnonzero(self.allowed)

    def __call__(self, detections: Detections) -> Detections:
        return detections[
            self.keep_rows(detections.xyxy, detections.confidence, detections.class_id)
        ]

    def keep_rows(
        self,
        xyxy: np.ndarray,
        confidence: np.ndarray,
        class_id: np.ndarray,
        image: np.ndarray | None = None,
    ) -> np.ndarray:
        """The rows the filter keeps of one image's detections, or, with ``image`` (each
        row's image, rows sorted by it), of a whole batch's at once: a GPU detector's
        batch is filtered in one pass instead of image by image. Each image's rows come
        in the order the filter gives them: as they were, or with the merge, best first.
        """
        known = (class_id >= 0) & (class_id < len(self.allowed))
        safe = np.where(known, class_id, 0)
        keep = np.flatnonzero(known & self.allowed[safe] & (confidence >= self.thresholds[safe]))
        if self.merge_iou is None or len(keep) < 2:
            return keep
        in_image = None if image is None else image[keep]
        merge = greedy_suppress(
            xyxy[keep], confidence[keep], class_id[keep], self.merge_iou,
            same_class=False, image=in_image,
        )  # fmt: skip
        kept = keep[merge]
        if image is None:
            return kept
        return kept[np.argsort(image[kept], kind="stable")]  # by image, best first in each
