"""Accuracy checks on the real footage, for the tests and `edgewatch bench`.

`int8_against_fp32`: the int8 detector against the fp32 one, frame by frame: the share of
fp32's detections (above the reporting thresholds) that int8 also reports (same class,
IoU >= 0.5), and the detections int8 adds.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from edgewatch.detect import create_detector
from edgewatch.detect.base import DetectorConfig
from edgewatch.geometry import iou_matrix
from edgewatch.paths import sample_clip
from edgewatch.types import Detections

MATCH_IOU = 0.5


def footage(every: int = 1, clip: Path | None = None) -> list[np.ndarray]:
    import cv2

    capture = cv2.VideoCapture(str(clip or sample_clip()))
    images, index = [], 0
    while True:
        ok, image = capture.read()
        if not ok:
            break
        if index % every == 0:
            images.append(image)
        index += 1
    capture.release()
    return images


def matched(reference: Detections, other: Detections, *, same_class: bool = True) -> int:
    """How many of ``reference``'s objects ``other`` also has, one to one, best IoU first."""
    if not len(reference) or not len(other):
        return 0
    iou = iou_matrix(reference.xyxy, other.xyxy)
    if same_class:
        iou = np.where(reference.class_id[:, None] == other.class_id[None, :], iou, 0.0)
    pairs = np.argwhere(iou >= MATCH_IOU)
    order = np.argsort(-iou[pairs[:, 0], pairs[:, 1]], kind="stable")
    used_r, used_c = set(), set()
    for r, c in pairs[order].tolist():
        if r not in used_r and c not in used_c:
            used_r.add(r)
            used_c.add(c)
    return len(used_r)


def int8_against_fp32(every: int = 1) -> dict:
    """Accuracy, and the speed of each on one thread, timed frame by frame in turn (so
    that whatever else the machine does weighs on both alike)."""
    images = footage(every)
    detectors = {p: create_detector(DetectorConfig(precision=p)) for p in ("fp32", "int8")}
    results: dict[str, list[Detections]] = {p: [] for p in detectors}
    times = dict.fromkeys(detectors, 0.0)
    for detector in detectors.values():
        detector.detect(images[:1])
    for image in images:
        for precision, detector in detectors.items():
            started = time.perf_counter()
            results[precision].append(detector.detect([image])[0])
            times[precision] += (time.perf_counter() - started) / len(images)
    reference, other = results["fp32"], results["int8"]
    total = sum(len(d) for d in reference)
    kept = sum(matched(a, b) for a, b in zip(reference, other, strict=True))
    added = sum(len(b) - matched(a, b) for a, b in zip(reference, other, strict=True))
    return {
        "frames": len(images),
        "fp32_detections": total,
        "int8_kept": kept,
        "kept_share": round(kept / total, 4) if total else 1.0,
        "int8_added": added,
        "added_share": round(added / total, 4) if total else 0.0,
        "fp32_ms": round(1000 * times["fp32"], 2),
        "int8_ms": round(1000 * times["int8"], 2),
        "int8_speedup": round(times["fp32"] / times["int8"], 3),
    }
