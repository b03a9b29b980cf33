"""The two things stages hand each other: a `Frame` and its `Detections`.

Boxes are pixel ``xyxy`` everywhere inside edgewatch; the reference message's
``coor_left/coor_top/box_width/box_height`` appear only where that message is built
(`edgewatch.outputs.message`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

#: ``tracker_id`` of an object no tracker has claimed. In the detection message it is
#: written as 2**64 - 1 (DeepStream's ``UNTRACKED_OBJECT_ID``), see `UNTRACKED_OBJECT_ID`.
NO_TRACK = -1
UNTRACKED_OBJECT_ID = 2**64 - 1


@dataclass(slots=True)
class Frame:
    """One decoded picture of one camera.

    ``image`` is BGR uint8 of shape (H, W, 3), owned by this frame: stages may draw on it
    in place once detection is done, so nobody keeps a reference to draw on later.
    """

    camera: str
    index: int  # 0-based position in this camera's stream, counting every decoded frame
    timestamp: float  # capture time, seconds since the epoch
    image: np.ndarray
    #: (N, 4) xyxy boxes of what moved since the camera's previous frames (motion gating);
    #: None when motion is not looked for.
    motion: np.ndarray | None = None

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


def _column(value: object, dtype: type, name: str, shape_tail: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(value, dtype=dtype)
    if array.ndim != 1 + len(shape_tail) or array.shape[1:] != shape_tail:
        expected = "(N" + "".join(f", {d}" for d in shape_tail) + ")"
        raise ValueError(f"Detections.{name} must have shape {expected}, got {array.shape}")
    return array


@dataclass(slots=True)
class Detections:
    """Objects found in one frame, as parallel numpy columns of equal length N.

    ``class_names`` maps ``class_id`` to a label; it is shared, not copied, between frames.
    Index with a boolean mask or integer array to select rows: ``d[d.confidence > 0.5]``.
    """

    xyxy: np.ndarray  # (N, 4) float32, pixels
    confidence: np.ndarray  # (N,) float32 in [0, 1]
    class_id: np.ndarray  # (N,) int32
    tracker_id: np.ndarray = field(default=None)  # (N,) int64, NO_TRACK when untracked
    class_names: Mapping[int, str] = field(default_factory=dict)
    #: Further per-object columns, each of length N, e.g. ``seen_s`` from the tracker.
    data: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.xyxy = _column(self.xyxy, np.float32, "xyxy", (4,)).reshape(-1, 4)
        self.confidence = _column(self.confidence, np.float32, "confidence", ())
        self.class_id = _column(self.class_id, np.int32, "class_id", ())
        if self.tracker_id is None:
            self.tracker_id = np.full(len(self.confidence), NO_TRACK, dtype=np.int64)
        self.tracker_id = _column(self.tracker_id, np.int64, "tracker_id", ())
        n = len(self.xyxy)
        lengths = {len(self.confidence), len(self.class_id), len(self.tracker_id)}
        lengths |= {len(column) for column in self.data.values()}
        if lengths != {n}:
            raise ValueError(
                f"Detections columns must all have length {n} (xyxy), got "
                f"confidence={len(self.confidence)} class_id={len(self.class_id)} "
                f"tracker_id={len(self.tracker_id)} "
                + " ".join(f"data[{k!r}]={len(v)}" for k, v in self.data.items())
            )

    @classmethod
    def empty(cls, class_names: Mapping[int, str] | None = None) -> Detections:
        return cls(
            xyxy=np.zeros((0, 4), np.float32),
            confidence=np.zeros(0, np.float32),
            class_id=np.zeros(0, np.int32),
            class_names=class_names or {},
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: np.ndarray | slice | int) -> Detections:
        if isinstance(index, int):
            index = slice(index, index + 1)
        return Detections(
            xyxy=self.xyxy[index],
            confidence=self.confidence[index],
            class_id=self.class_id[index],
            tracker_id=self.tracker_id[index],
            class_names=self.class_names,
            data={key: column[index] for key, column in self.data.items()},
        )

    def label(self, i: int) -> str:
        class_id = int(self.class_id[i])
        return self.class_names.get(class_id, str(class_id))

    @property
    def labels(self) -> list[str]:
        return [self.label(i) for i in range(len(self))]
