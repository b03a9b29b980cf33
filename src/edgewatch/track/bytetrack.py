"""ByteTrack-class multi-object tracker for one camera.

Each update predicts every track (Kalman, constant velocity, by the seconds since the last
update), then associates in two stages, as ByteTrack does:

1. every track (followed, lost, or new) with the high-confidence detections, IoU >= match_iou;
2. tracks followed until the last update and still unmatched, with the low-confidence
   detections, IoU >= low_match_iou: a person half behind a post scores low but is still
   the same person. Low-confidence detections never start a track.

Matching is class-agnostic and greedy by IoU (best pairs first): a van flickering between
car and truck keeps its track, and with few objects per camera the greedy answer is the
optimal one nearly always, without a dependency. A track's label is the class with the
largest summed confidence over its matches, so one odd detection does not relabel it.

Tracks are kept in parallel numpy arrays, not objects, so that the per-frame cost stays
well under a millisecond with dozens of objects.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from edgewatch.geometry import centres_inside, iou_matrix
from edgewatch.track import kalman
from edgewatch.track.config import TrackerConfig
from edgewatch.types import Detections


def greedy_match(iou: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of pairs taken best IoU first, each row and column once.

    Vectorised: every pair that is the best of both its row and its column is one the
    one-at-a-time greedy takes too (nothing better competes for either side), so all of
    them are taken at once, and again among what is left, until none is."""
    iou = np.where(iou >= threshold, iou, 0.0)
    rows_out, cols_out = [], []
    while iou.size and iou.any():
        best_col = iou.argmax(axis=1)
        best_row = iou.argmax(axis=0)
        rows = np.flatnonzero(iou[np.arange(len(iou)), best_col] > 0)
        rows = rows[best_row[best_col[rows]] == rows]
        cols = best_col[rows]
        rows_out.append(rows)
        cols_out.append(cols)
        iou[rows, :] = 0.0
        iou[:, cols] = 0.0
    if not rows_out:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(rows_out).astype(np.int64), np.concatenate(cols_out).astype(np.int64)


class ByteTracker:
    """`update(Detections, timestamp) -> Detections` with ``tracker_id`` and ``data['seen_s']``.

    Reports one row per confirmed track (at least ``min_hits`` detections) matched in this
    update, with the detection's own box. ``update(None, t)`` stands for a frame the
    detector skipped: it reports the predicted boxes of the tracks matched at the last
    detection. IDs start at 1 and are never reused.
    """

    def __init__(
        self,
        config: TrackerConfig,
        class_names: Mapping[int, str],
        *,
        high_confidence: np.ndarray | None = None,
    ) -> None:
        """``high_confidence``: per class id, the score from which a detection starts and
        first-matches tracks (`edgewatch run` passes the detector's per-class thresholds);
        default ``config.high_confidence`` for every class."""
        self.config = config
        self.class_names = class_names
        self._num_classes = max(class_names, default=-1) + 1
        if high_confidence is None:
            high_confidence = np.full(max(self._num_classes, 1), config.high_confidence)
        self._high = np.asarray(high_confidence, np.float32).reshape(-1)
        self._next_id = 1
        self.reset()

    def reset(self) -> None:
        """Forgets every track (IDs keep increasing, so no ID is ever reused)."""
        self._last_t: float | None = None
        self._ids = np.zeros(0, np.int64)
        self._mean = np.zeros((0, 8))
        self._cov = np.zeros((0, 8, 8))
        self._xyxy = np.zeros((0, 4), np.float32)  # last matched detection box
        self._conf = np.zeros(0, np.float32)
        self._votes = np.zeros((0, max(self._num_classes, 1)), np.float32)
        self._label = np.zeros(0, np.int32)
        self._first_seen = np.zeros(0)
        self._last_seen = np.zeros(0)
        self._hits = np.zeros(0, np.int64)
        self._active = np.zeros(0, bool)  # matched at the last detection update

    def __len__(self) -> int:
        return len(self._ids)

    def _predict(self, timestamp: float) -> None:
        dt = 0.0 if self._last_t is None else timestamp - self._last_t
        self._last_t = timestamp if self._last_t is None else max(self._last_t, timestamp)
        # A lost track keeps its course but not its growth (ByteTrack zeroes h velocity).
        self._mean[~self._active, 7] = 0.0
        self._mean, self._cov = kalman.predict(self._mean, self._cov, dt)

    def _confirmed(self) -> np.ndarray:
        return self._hits >= self.config.min_hits

    def update(
        self, detections: Detections | None, timestamp: float, *, observed: np.ndarray | None = None
    ) -> Detections:
        """``detections`` of the whole frame, or (``observed``: xyxy regions) of those parts
        of it only; None for a frame the detector skipped. A track followed until now and
        not looked at (skipped, or outside the regions) is not aged: it is reported where
        it is predicted to be, as nothing contradicts it."""
        self._predict(timestamp)
        if detections is None:
            return self._predicted_output(timestamp)
        cfg = self.config
        conf = detections.confidence
        predicted = kalman.cxcyah_to_xyxy(self._mean[:, :4])
        n_tracks = len(self._ids)
        unseen = np.zeros(n_tracks, bool)
        if observed is not None:
            unseen = self._active & ~centres_inside(predicted, observed)
        matched_t: list[np.ndarray] = []
        matched_d: list[np.ndarray] = []

        classes = np.clip(detections.class_id, 0, len(self._high) - 1)
        is_high = conf >= self._high[classes]
        high = np.flatnonzero(is_high)
        rows, cols = greedy_match(iou_matrix(predicted, detections.xyxy[high]), cfg.match_iou)
        matched_t.append(rows)
        matched_d.append(high[cols])

        free = np.ones(n_tracks, bool)
        free[rows] = False
        second = np.flatnonzero(free & self._active)
        low = np.flatnonzero((conf >= cfg.low_confidence) & ~is_high)
        rows, cols = greedy_match(
            iou_matrix(predicted[second], detections.xyxy[low]), cfg.low_match_iou
        )
        matched_t.append(second[rows])
        matched_d.append(low[cols])

        tracks = np.concatenate(matched_t)
        dets = np.concatenate(matched_d)
        self._correct(tracks, detections, dets, timestamp)

        taken = np.zeros(len(conf), bool)
        taken[matched_d[0]] = True
        unmatched_high = high[~taken[high]]
        new = self._start(detections, unmatched_high, timestamp)

        matched = np.zeros(len(self._ids), bool)
        matched[tracks] = True
        matched[new] = True
        carried = np.zeros(len(self._ids), bool)
        carried[:n_tracks] = unseen
        carried &= ~matched
        self._last_seen[carried] = timestamp
        self._active = matched | carried
        # New tracks that missed a detection are blips; lost ones are kept for a while.
        keep = (self._active | self._confirmed()) & (
            timestamp - self._last_seen <= cfg.lost_timeout_s
        )
        out_tracks = np.flatnonzero(matched & self._confirmed())
        det_of_track = np.full(len(self._ids), -1, np.int64)
        det_of_track[tracks] = dets
        det_of_track[new] = unmatched_high
        out = detections[det_of_track[out_tracks]]
        out.tracker_id = self._ids[out_tracks].copy()
        out.class_id = self._label[out_tracks].copy()
        out.data["seen_s"] = timestamp - self._first_seen[out_tracks]
        if carried.any():
            out = _concat(out, self._rows(np.flatnonzero(carried & self._confirmed()), timestamp))
        self._select(keep)
        return out

    def moving_boxes(self, min_speed: float) -> np.ndarray:
        """Predicted xyxy boxes of the tracks followed now that move faster than
        ``min_speed`` pixels a second (motion gating looks around them)."""
        speed = np.hypot(self._mean[:, 4], self._mean[:, 5])
        moving = self._active & self._confirmed() & (speed > min_speed)
        return kalman.cxcyah_to_xyxy(self._mean[moving, :4])

    def _correct(
        self, tracks: np.ndarray, detections: Detections, dets: np.ndarray, timestamp: float
    ) -> None:
        boxes = detections.xyxy[dets]
        self._mean[tracks], self._cov[tracks] = kalman.update(
            self._mean[tracks], self._cov[tracks], kalman.xyxy_to_cxcyah(boxes)
        )
        self._xyxy[tracks] = boxes
        self._conf[tracks] = detections.confidence[dets]
        self._hits[tracks] += 1
        self._last_seen[tracks] = timestamp
        classes = detections.class_id[dets]
        valid = (classes >= 0) & (classes < self._votes.shape[1])
        # Each track is matched once: a plain fancy-index add (np.add.at is for repeats).
        self._votes[tracks[valid], classes[valid]] += detections.confidence[dets][valid]
        best = self._votes[tracks].argmax(axis=1)
        current = self._votes[tracks, self._label[tracks]]
        switch = self._votes[tracks, best] > current  # ties keep the label
        self._label[tracks[switch]] = best[switch]

    def _start(self, detections: Detections, dets: np.ndarray, timestamp: float) -> np.ndarray:
        """Appends a track per detection; returns their indices."""
        n = len(dets)
        first = len(self._ids)
        if not n:
            return np.arange(first, first)
        boxes = detections.xyxy[dets]
        mean, cov = kalman.initiate(kalman.xyxy_to_cxcyah(boxes))
        classes = detections.class_id[dets]
        votes = np.zeros((n, self._votes.shape[1]), np.float32)
        valid = (classes >= 0) & (classes < votes.shape[1])
        votes[np.flatnonzero(valid), classes[valid]] = detections.confidence[dets][valid]
        self._ids = np.concatenate([self._ids, np.arange(self._next_id, self._next_id + n)])
        self._next_id += n
        self._mean = np.concatenate([self._mean, mean])
        self._cov = np.concatenate([self._cov, cov])
        self._xyxy = np.concatenate([self._xyxy, boxes])
        self._conf = np.concatenate([self._conf, detections.confidence[dets]])
        self._votes = np.concatenate([self._votes, votes])
        self._label = np.concatenate([self._label, classes])
        self._first_seen = np.concatenate([self._first_seen, np.full(n, timestamp)])
        self._last_seen = np.concatenate([self._last_seen, np.full(n, timestamp)])
        self._hits = np.concatenate([self._hits, np.ones(n, np.int64)])
        self._active = np.concatenate([self._active, np.zeros(n, bool)])
        return np.arange(first, first + n)

    def _select(self, keep: np.ndarray) -> None:
        for name in (
            "_ids", "_mean", "_cov", "_xyxy", "_conf", "_votes", "_label",
            "_first_seen", "_last_seen", "_hits", "_active",
        ):  # fmt: skip
            setattr(self, name, getattr(self, name)[keep])

    def _predicted_output(self, timestamp: float) -> Detections:
        # A skipped frame says nothing against the tracks followed: they do not age.
        self._last_seen[self._active] = timestamp
        self._select(timestamp - self._last_seen <= self.config.lost_timeout_s)
        return self._rows(np.flatnonzero(self._active & self._confirmed()), timestamp)

    def _rows(self, show: np.ndarray, timestamp: float) -> Detections:
        """Tracks ``show`` at their predicted boxes."""
        return Detections(
            xyxy=kalman.cxcyah_to_xyxy(self._mean[show, :4]),
            confidence=self._conf[show],
            class_id=self._label[show],
            tracker_id=self._ids[show],
            class_names=self.class_names,
            data={"seen_s": timestamp - self._first_seen[show]},
        )


def _concat(a: Detections, b: Detections) -> Detections:
    return Detections(
        xyxy=np.concatenate([a.xyxy, b.xyxy]),
        confidence=np.concatenate([a.confidence, b.confidence]),
        class_id=np.concatenate([a.class_id, b.class_id]),
        tracker_id=np.concatenate([a.tracker_id, b.tracker_id]),
        class_names=a.class_names,
        data={k: np.concatenate([a.data[k], b.data[k]]) for k in a.data},
    )
