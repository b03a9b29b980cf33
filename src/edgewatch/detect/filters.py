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
) -> np.ndarray:
    """Indices kept by greedy suppression, best score first.

    same_class=True is class-aware NMS (a box suppresses only boxes of its own class);
    same_class=False is the cross-class merge (only boxes of *other* classes). A box
    survives when its IoU with every better kept box is at most `iou_threshold`.
    """
    order = np.argsort(-scores, kind="stable")
    # All overlaps at once, then one pass in score order: a box is kept unless a better
    # kept box suppressed it (the same as removing suppressed boxes after each pick).
    suppresses = iou_matrix(xyxy, xyxy) > iou_threshold
    same = class_id[:, None] == class_id[None, :]
    suppresses &= same if same_class else ~same
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
        ids = detections.class_id
        known = (ids >= 0) & (ids < len(self.allowed))
        safe = np.where(known, ids, 0)
        keep = known & self.allowed[safe] & (detections.confidence >= self.thresholds[safe])
        detections = detections[keep]
        if self.merge_iou is None or len(detections) < 2:
            return detections
        kept = greedy_suppress(
            detections.xyxy,
            detections.confidence,
            detections.class_id,
            self.merge_iou,
            same_class=False,
        )
        return detections[kept]
