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


def no_picture(width: int, height: int) -> np.ndarray:
    """The YUV planes of a frame whose picture stayed on the GPU because nobody downstream
    looks at it: the frame's size, no memory (one zero byte, broadcast)."""
    return np.broadcast_to(np.zeros((), np.uint8), (height * 3 // 2, width))


class Frame:
    """One decoded picture of one camera.

    ``image`` is BGR uint8 of shape (H, W, 3), owned by this frame: stages may draw on it
    in place once detection is done, so nobody keeps a reference to draw on later. A
    source may hand over the decoder's YUV 4:2:0 planes instead (``yuv``, shape (H*3/2,
    W)): ``image`` is then made from them on first use, so a frame that only motion
    gating looks at (in grey: the Y plane) costs no colour conversion.
    """

    __slots__ = ("camera", "index", "timestamp", "motion", "_image", "_yuv")

    def __init__(
        self,
        camera: str,
        index: int,
        timestamp: float,
        image: np.ndarray | None = None,
        *,
        yuv: np.ndarray | None = None,
        motion: np.ndarray | None = None,
    ) -> None:
        if image is None and yuv is None:
            raise ValueError("a Frame needs its image (BGR) or its yuv planes")
        self.camera = camera
        self.index = index  # 0-based position in this camera's stream, counting every frame
        self.timestamp = timestamp  # capture time, seconds since the epoch
        #: (N, 4) xyxy boxes of what moved since the camera's previous frames (motion
        #: gating); None when motion is not looked for.
        self.motion = motion
        self._image, self._yuv = image, yuv

    @property
    def has_picture(self) -> bool:
        """False for a frame whose picture stayed on the GPU (`no_picture`)."""
        return self._image is not None or 0 not in self._yuv.strides

    @property
    def image(self) -> np.ndarray:
        if self._image is None:
            import cv2

            self._image = cv2.cvtColor(self._yuv, cv2.COLOR_YUV2BGR_I420)
        return self._image

    @image.setter
    def image(self, image: np.ndarray) -> None:
        self._image = image

    @property
    def grey(self) -> np.ndarray:
        """The picture in grey: the Y plane when there is one (no conversion)."""
        if self._yuv is not None:
            return self._yuv[: self.height]
        import cv2

        return cv2.cvtColor(self._image, cv2.COLOR_BGR2GRAY)

    def with_image(self, image: np.ndarray) -> Frame:
        """The same frame with another picture (a copy to draw on, say)."""
        return Frame(self.camera, self.index, self.timestamp, image, motion=self.motion)

    @property
    def height(self) -> int:
        if self._image is not None:
            return int(self._image.shape[0])
        return int(self._yuv.shape[0] * 2 // 3)

    @property
    def width(self) -> int:
        return int((self._image if self._image is not None else self._yuv).shape[1])

    def __repr__(self) -> str:
        size = f"{self.width}x{self.height}"
        return f"Frame({self.camera!r}, {self.index}, {self.timestamp:.3f}, {size})"


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
