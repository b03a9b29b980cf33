"""Snapshots of episodes and happenings, written before any message names them.

    <dir>/<camera>/<episode>.jpg           the object's best frame so far, annotated
    <dir>/<camera>/<episode>-crop.jpg      the object in that frame, for notifications
    <dir>/<camera>/<episode>-<n>-<kind>.jpg   the frame a rule fired in (a line crossed,
                                              a zone entered), the rule drawn

Annotated: the box and its label, the camera's zones and lines (the rule that fired
drawn emphasised), camera name and time. Paths in messages are relative to ``dir`` (the
web page serves them from there). The best frame of an object is kept in memory while it
is in view: a reference to the frame, not a copy, since the drawing stage draws on a copy
when events are on. `prune` deletes by age and total size.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgewatch.draw.snapshot import annotate_snapshot, crop
from edgewatch.events.config import SnapshotConfig
from edgewatch.events.model import Episode, Happening
from edgewatch.paths import write_private

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Best:
    image: np.ndarray
    box: tuple[float, float, float, float]
    confidence: float
    at: float  # frame time


class SnapshotWriter:
    """The best frame of each episode, and the JPEG files of episodes and happenings."""

    def __init__(self, config: SnapshotConfig) -> None:
        self.config = config
        self.best: dict[str, Best] = {}
        self.jpeg: dict[str, bytes] = {}  # episode id -> its latest best JPEG (for MQTT)
        self.written = 0
        self._counts: dict[str, int] = {}  # episode id -> happenings with a snapshot

    def may_copy(self, key: str, now: float) -> bool:
        best = self.best.get(key)
        return best is None or now - best.at >= self.config.min_interval_s

    def keep(self, key: str, image: np.ndarray, box, confidence: float, now: float) -> None:
        self.best[key] = Best(image, tuple(float(v) for v in box), confidence, now)

    def write_best(self, episode: Episode, class_id: int, zones, lines) -> None:
        """The kept frame of ``episode`` and its crop; sets the episode's snapshot fields."""
        best = self.best.get(episode.id)
        if best is None:
            return
        text = f"{episode.label} {best.confidence * 100:.0f}%"
        picture = annotate_snapshot(
            best.image, box=best.box, text=text, class_id=class_id, camera=episode.camera,
            timestamp=best.at, zones=zones, lines=lines,
        )  # fmt: skip
        name = f"{episode.camera}/{episode.id}.jpg"
        data = self._write(name, picture)
        thumbnail = f"{episode.camera}/{episode.id}-crop.jpg"
        if data is None or self._write(thumbnail, crop(best.image, best.box)) is None:
            return
        self.jpeg[episode.id] = data
        episode.snapshot, episode.thumbnail, episode.snapshot_time = name, thumbnail, best.at

    def write_happening(
        self, happening: Happening, image: np.ndarray, box, class_id: int, zones, lines
    ) -> None:
        """The frame ``happening`` happened in, its rule emphasised."""
        n = self._counts.get(happening.episode, 0) + 1
        self._counts[happening.episode] = n
        text = f"{happening.label} {happening.words()}"
        picture = annotate_snapshot(
            image, box=tuple(float(v) for v in box), text=text, class_id=class_id,
            camera=happening.camera, timestamp=happening.time, zones=zones, lines=lines,
            highlight=happening.zone,
        )  # fmt: skip
        name = f"{happening.camera}/{happening.episode}-{n}-{happening.kind}.jpg"
        if self._write(name, picture) is not None:
            happening.snapshot = name

    def drop(self, key: str) -> None:
        self.best.pop(key, None)
        self.jpeg.pop(key, None)
        self._counts.pop(key, None)

    def _write(self, name: str, image: np.ndarray) -> bytes | None:
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.config.jpeg_quality])
        if not ok:
            log.error("could not encode the snapshot %s", name)
            return None
        try:
            write_private(Path(self.config.dir) / name, data.tobytes())  # never half a JPEG
        except OSError as error:
            log.warning("cannot write the snapshot %s (%s)", name, error)
            return None
        self.written += 1
        return data.tobytes()


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
