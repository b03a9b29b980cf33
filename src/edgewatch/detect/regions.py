"""Detections from crops of a frame, mapped back into the frame's pixels and merged."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from edgewatch.detect.filters import greedy_suppress
from edgewatch.types import Detections

MERGE_IOU = 0.5  # one object seen in two overlapping crops is one object


def crops_of(image: np.ndarray, regions: np.ndarray) -> list[np.ndarray]:
    """Views (no copies) of ``image`` for each xyxy region."""
    return [image[y1:y2, x1:x2] for x1, y1, x2, y2 in np.asarray(regions, np.int64)]


def merge_crops(
    results: Sequence[Detections], regions: np.ndarray, class_names: Mapping[int, str]
) -> Detections:
    """Each crop's detections moved to where the crop lies, and duplicates of one object
    seen in two crops suppressed (same class, IoU above `MERGE_IOU`)."""
    if len(results) == 1:
        only = results[0]
        only.xyxy = only.xyxy + np.tile(np.asarray(regions[0][:2], np.float32), 2)
        return only
    pairs = [(d, np.tile(np.asarray(r[:2], np.float32), 2))
             for d, r in zip(results, regions, strict=True) if len(d)]  # fmt: skip
    if not pairs:
        return Detections.empty(class_names)
    parts, offsets = zip(*pairs, strict=True)
    merged = Detections(
        xyxy=np.concatenate([d.xyxy + o for d, o in zip(parts, offsets, strict=True)]),
        confidence=np.concatenate([d.confidence for d in parts]),
        class_id=np.concatenate([d.class_id for d in parts]),
        class_names=class_names,
    )
    keep = greedy_suppress(
        merged.xyxy, merged.confidence, merged.class_id, MERGE_IOU, same_class=True
    )
    return merged[np.sort(keep)]
