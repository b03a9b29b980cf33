"""Each object's best frame, kept in memory while it is in view and written as a JPEG
(box drawn) to ``<dir>/<camera>/<event id>.jpg``; `prune` deletes by age and total size.

The image is copied only when an object's confidence improves, at most once per
``min_interval_s`` per object, and one copy serves every object improving in that frame.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgewatch.draw.overlay import FONT, class_color
from edgewatch.events.config import SnapshotConfig
from edgewatch.paths import write_private

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Best:
    image: np.ndarray
    box: tuple[float, float, float, float]
    confidence: float
    label: str
    class_id: int
    copied_at: float  # frame time of the copy
    written: bool = False  # the file holds this very frame


class SnapshotKeeper:
    """The best frame of each object (keyed by the caller, e.g. the scene event id)."""

    def __init__(self, config: SnapshotConfig) -> None:
        self.config = config
        self.best: dict[str, Best] = {}
        self.copies = 0  # frame copies taken (by the engine, one per frame at most)
        self.written = 0

    def wants(self, key: str, confidence: float, now: float) -> bool:
        """Whether ``confidence`` beats the kept frame and the object may be copied now."""
        best = self.best.get(key)
        if best is None:
            return True
        return confidence > best.confidence and now - best.copied_at >= self.config.min_interval_s

    def offer(
        self,
        key: str,
        image: np.ndarray,
        box,
        confidence: float,
        label: str,
        class_id: int,
        now: float,
    ) -> None:
        """Keep ``image`` (already a private copy: the caller copies once per frame)."""
        box = tuple(float(v) for v in box)
        self.best[key] = Best(image, box, confidence, label, class_id, now)

    def write(self, key: str, path: Path) -> bool:
        """Write the kept frame of ``key`` to ``path`` unless that frame is already there."""
        best = self.best.get(key)
        if best is None or best.written:
            return False
        image = best.image.copy()
        draw_box(image, best.box, f"{best.label} {best.confidence * 100:.0f}%", best.class_id)
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.config.jpeg_quality])
        if not ok:
            log.error("could not encode the snapshot %s", path)
            return False
        write_private(path, data.tobytes())  # 0600, and readers never see half a JPEG
        best.written = True
        self.written += 1
        return True

    def drop(self, key: str) -> None:
        self.best.pop(key, None)


def draw_box(image: np.ndarray, box, text: str, class_id: int) -> None:
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    color = class_color(class_id)
    thickness = max(2, round(min(image.shape[:2]) / 300))
    cv2.rectangle(image, (x1, y1), (x2, y2), color, thickness)
    scale = max(0.5, min(image.shape[:2]) / 1000)
    (tw, th), base = cv2.getTextSize(text, FONT, scale, 1)
    top = max(y1 - th - base - 4, 0)
    cv2.rectangle(image, (x1, top), (x1 + tw + 4, top + th + base + 4), color, cv2.FILLED)
    cv2.putText(image, text, (x1 + 2, top + th + 2), FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)


def prune(folder: Path, *, max_age_s: float, max_total_bytes: int, now: float | None = None) -> int:
    """Delete snapshots older than ``max_age_s``, then the oldest until the rest fit in
    ``max_total_bytes``. Returns how many files were deleted."""
    now = time.time() if now is None else now
    files = []
    for path in Path(folder).glob("*/*.jpg"):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        files.append((stat.st_mtime, stat.st_size, path))
    files.sort()  # oldest first
    total = sum(size for _, size, _ in files)
    deleted = 0
    for mtime, size, path in files:
        if now - mtime <= max_age_s and total <= max_total_bytes:
            break
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        total -= size
        deleted += 1
    return deleted
