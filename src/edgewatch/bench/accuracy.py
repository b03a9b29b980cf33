"""Accuracy checks on the real footage, for the tests and `edgewatch bench accuracy`.

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


class _Collect:
    """A sink keeping each frame's person boxes, after the tracker."""

    name, wants_annotated, lossless = "collect", False, True

    def __init__(self) -> None:
        self.people: dict[int, Detections] = {}

    def open(self, streams) -> None:
        pass

    def write(self, frame, detections: Detections) -> None:
        self.people[frame.index] = detections[np.array(
            [label == "person" for label in detections.labels], bool)]  # fmt: skip

    def close(self) -> None:
        pass


def gating_against_every_frame(frames: int = 0, clip: Path | None = None) -> dict:
    """The person detections motion gating still reports, frame by frame after the
    tracker, of those that detecting every frame reports (IoU >= 0.5), and what each
    cost."""
    from edgewatch.config import config_from_dict
    from edgewatch.pipeline import build_pipeline

    runs = {}
    for gating in (False, True):
        camera = {"name": "c", "source": str(clip or sample_clip()), "realtime": False,
                  "loop": False, "motion": {"enabled": gating}}  # fmt: skip
        if frames:
            camera["max_frames"] = frames
        config = config_from_dict({"cameras": [camera], "outputs": {"rtsp": {"enabled": False}},
                                   "pipeline": {"stats_interval_s": 0}})  # fmt: skip
        sink = _Collect()
        summary = build_pipeline(config, sinks=[sink]).run()
        runs[gating] = (sink.people, summary.stats["counters"], summary.elapsed_s)
    every, gated = runs[False][0], runs[True][0]
    total = sum(len(d) for d in every.values())
    kept = sum(matched(d, gated.get(i, Detections.empty()), same_class=False)
               for i, d in every.items())  # fmt: skip
    counters = runs[True][1]
    return {
        "frames": len(every),
        "people_every_frame": total,
        "people_kept": kept,
        "kept_share": round(kept / total, 4) if total else 1.0,
        "frames_detected_gated": counters.get("detected.c", 0),
        "seconds_every_frame": round(runs[False][2], 2),
        "seconds_gated": round(runs[True][2], 2),
    }


def print_accuracy_bench(args) -> int:
    """`edgewatch bench accuracy`: both checks on the footage, with their targets."""
    import json

    from edgewatch.machine import describe_machine

    print(describe_machine())
    q = int8_against_fp32()
    print(
        f"int8 against fp32, {q['frames']} frames: {q['kept_share']:.2%} of fp32's "
        f"{q['fp32_detections']} detections kept, {q['added_share']:.2%} added; "
        f"{q['fp32_ms']} ms against {q['int8_ms']} ms a frame on one thread, "
        f"{q['int8_speedup']:.2f}x (targets: >= 95% kept "
        f"{'MET' if q['kept_share'] >= 0.95 else 'MISSED'}, >= 1.5x "
        f"{'MET' if q['int8_speedup'] >= 1.5 else 'MISSED'})",
        flush=True,
    )
    g = gating_against_every_frame(args.frames)
    print(
        f"motion gating against every frame, {g['frames']} frames: {g['kept_share']:.2%} of "
        f"{g['people_every_frame']} person detections kept, {g['frames_detected_gated']} "
        f"frames detected; {g['seconds_every_frame']} s against {g['seconds_gated']} s "
        f"(target: >= 95% {'MET' if g['kept_share'] >= 0.95 else 'MISSED'})"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"int8": q, "gating": g}, indent=2))
    return 0
