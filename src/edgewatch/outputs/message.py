"""The detection message: the reference design's JSON, one per reported frame.

This is the only place where boxes leave pixel ``xyxy`` for the reference's
``coor_left/coor_top/box_width/box_height``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from edgewatch.types import NO_TRACK, UNTRACKED_OBJECT_ID, Detections, Frame


def build_message(frame: Frame, detections: Detections) -> dict:
    """The message of DEVELOPERS.md, plus the camera and the frame's capture time."""
    results = []
    xyxy = detections.xyxy.tolist()
    confidence = detections.confidence.tolist()
    class_id = detections.class_id.tolist()
    tracker_id = detections.tracker_id.tolist()
    seen_s = detections.data["seen_s"].tolist() if "seen_s" in detections.data else None
    for i in range(len(detections)):
        left, top, right, bottom = xyxy[i]
        results.append(
            {
                "classID": class_id[i],
                "label": detections.label(i),
                "confidence": round(confidence[i], 4),
                "coor_left": round(left, 1),
                "coor_top": round(top, 1),
                "box_width": round(right - left, 1),
                "box_height": round(bottom - top, 1),
                "objectID": UNTRACKED_OBJECT_ID if tracker_id[i] == NO_TRACK else tracker_id[i],
                "unique_com_id": f"OBJ{i + 1}",
            }
        )
        if seen_s is not None:  # how long the tracker has followed this object
            results[-1]["seen_s"] = round(seen_s[i], 2)
    captured = datetime.fromtimestamp(frame.timestamp, tz=UTC)
    return {
        "camera": frame.camera,
        "timestamp": round(frame.timestamp, 6),
        "capture_time": captured.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "frame_width": frame.width,
        "frame_height": frame.height,
        "detection_frame_number": frame.index,
        "total_num_obj": len(results),
        "inference_results": results,
    }
