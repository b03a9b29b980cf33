"""ByteTrack-class multi-object tracker for one camera.

Each update predicts every track (Kalman, constant velocity, by the seconds since the last
update), then associates in stages, as ByteTrack does, with appearance added:

1. tracks seen within ``lost_timeout_s`` with the high-confidence detections, confirmed
   tracks first, then new ones, by IoU of boxes grown by ``match_buffer`` (a buffered IoU:
   at 5-10 detections a second a walker's boxes barely overlap from one detection to the
   next), >= match_iou. With appearance on (`appearance.describe`), where a track could
   take several boxes or a box several tracks, a pair whose colours differ does not match
   when a rival looks more alike, and of the rest the more alike wins; then, among what
   is left, position alone (the rival that kept a track off a box took another one);
2. tracks followed until the last update and still unmatched, with the low-confidence
   detections, IoU >= low_match_iou: a person half behind a post scores low but is still
   the same person. Low-confidence detections never start a track;
3. re-finding: a high-confidence detection left over and a confirmed track lost within
   ``refind_s`` that looks alike (``refind_similarity``) and is near enough for the time
   it was gone are the same object: the track takes it up again, ID kept. One last seen
   walking out of the picture is not looked for after ``lost_timeout_s``.

A box more than ``look_max_covered`` under another box shows mostly that other object:
it never teaches a track its colours.

A track is *confirmed*, and only then reported, once it has ``min_hits`` detections and
its score (the median of its last 10 confidences, as Frigate scores objects) reaches its
class's threshold; it stays confirmed. So one confident blip in a run of low scores
raises no object, and the objects reported are the ones events may speak of.

Matching is class-agnostic and greedy by score (best pairs first): a van flickering
between car and truck keeps its track, and with few objects per camera the greedy answer
is the optimal one nearly always, without a dependency. A track's label is the class with
the largest summed confidence over its matches, so one odd detection does not relabel it.

Tracks are kept in parallel numpy arrays, not objects: about 1 ms a frame for 50 objects
by position alone; the colours cost about 40 microseconds a box described. A tracker can
keep several cameras apart (lanes: each track has one, pairs across lanes never match,
each lane numbers its own IDs), and `update_lanes` updates one frame of each at once: the
numpy calls, which cost more than their arithmetic on a few boxes, are made once for all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from edgewatch.geometry import centres_inside, covered_share, iou_matrix
from edgewatch.track import appearance, kalman
from edgewatch.track.config import TrackerConfig
from edgewatch.types import Detections


def greedy_match(iou: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of pairs taken best IoU first, each row and column once.

    Vectorised: every pair that is the best of both its row and its column is one the
    one-at-a-time greedy takes too (nothing better competes for either side), so all of
    them are taken at once, and again among what is left, until none is."""
    if not iou.size:
        return _no_pairs()
    iou = np.where(iou >= threshold, iou, 0.0)
    every_row = np.arange(len(iou))
    rows_out, cols_out = [], []
    while iou.any():
        best_col = iou.argmax(axis=1)
        best_row = iou.argmax(axis=0)
        rows = _indices(iou[every_row, best_col] > 0)
        rows = rows[best_row[best_col[rows]] == rows]
        cols = best_col[rows]
        rows_out.append(rows)
        cols_out.append(cols)
        iou[rows, :] = 0.0
        iou[:, cols] = 0.0
    if not rows_out:
        return _no_pairs()
    return np.concatenate(rows_out).astype(np.int64), np.concatenate(cols_out).astype(np.int64)


def _indices(mask: np.ndarray) -> np.ndarray:
    """Positions of the true entries of a 1-D mask: np.flatnonzero without its wrappers,
    which cost more than the search on a few tracks."""
    return mask.nonzero()[0]


def _no_pairs() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(0, np.int64), np.zeros(0, np.int64)


SCORE_HISTORY = 10  # confidences a track's score is the median of
LOOK_EVERY = 3  # a followed object's colours are refreshed every this many detections
# The per-track columns, one row per track, kept in step.
_COLUMNS = (
    "_ids", "_lane", "_mean", "_cov", "_xyxy", "_conf", "_votes", "_label", "_first_seen",
    "_last_seen", "_hits", "_active", "_scores", "_best", "_sure", "_looks",
)  # fmt: skip


def buffered_iou(a: np.ndarray, b: np.ndarray, buffer: float) -> np.ndarray:
    """IoU of the boxes grown by ``buffer`` times their width and height on each side."""
    return iou_matrix(_buffered(a, buffer), _buffered(b, buffer))


def _buffered(xyxy: np.ndarray, buffer: float) -> np.ndarray:
    """The boxes as `buffered_iou` compares them: grown, or as they are for no buffer."""
    return _grow(xyxy, buffer) if buffer else xyxy


def _grow(xyxy: np.ndarray, buffer: float) -> np.ndarray:
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    # Slices rather than np.tile and a sign vector: the same sums, fewer numpy calls.
    size = (xyxy[:, 2:] - xyxy[:, :2]) * buffer
    grown = np.empty_like(xyxy)
    grown[:, :2] = xyxy[:, :2] - size
    grown[:, 2:] = xyxy[:, 2:] + size
    return grown


def _without(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``values`` less the entries at ``positions`` (np.delete without its overhead)."""
    if not len(positions):
        return values
    keep = np.ones(len(values), bool)
    keep[positions] = False
    return values[keep]


class ByteTracker:
    """`update(Detections, timestamp) -> Detections` with ``tracker_id``,
    ``data['seen_s']``, ``data['score']`` and ``data['top_score']`` (the best confidence
    of the track, so never below its score, a median of its confidences).

    Reports one row per confirmed track matched in this update, with the detection's own
    box. ``update(None, t)`` stands for a frame the detector skipped: it reports the
    predicted boxes of the tracks matched at the last detection. IDs start at 1 and are
    never reused.

    With ``lanes`` > 1 it tracks that many cameras apart (``update(..., lane=k)``), and
    `update_lanes` takes one frame of several at once: the results of a tracker per camera
    updated one by one, for about the numpy work of one update (the GPU engine's shards
    track a batch of many cameras' frames).
    """

    def __init__(
        self,
        config: TrackerConfig,
        class_names: Mapping[int, str],
        *,
        high_confidence: np.ndarray | None = None,
        lanes: int = 1,
    ) -> None:
        """``high_confidence``: per class id, the score from which a detection starts and
        first-matches tracks (`edgewatch run` passes the detector's per-class thresholds);
        default ``config.high_confidence`` for every class. ``lanes``: the cameras it
        tracks apart (see the class)."""
        self.config = config
        self.class_names = class_names
        self._num_classes = max(class_names, default=-1) + 1
        if high_confidence is None:
            high_confidence = np.full(max(self._num_classes, 1), config.high_confidence)
        self._high = np.asarray(high_confidence, np.float32).reshape(-1)
        self.lanes = lanes
        self._next_id = np.ones(lanes, np.int64)  # per lane: each numbers its own from 1
        self.reset()

    def reset(self) -> None:
        """Forgets every track (IDs keep increasing, so no ID is ever reused)."""
        self._last_t = np.full(self.lanes, np.nan)  # per lane: its latest update (NaN: none)
        self._ids = np.zeros(0, np.int64)
        self._lane = np.zeros(0, np.int64)
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
        self._scores = np.zeros((0, SCORE_HISTORY), np.float32)  # NaN: not yet seen
        self._best = np.zeros(0, np.float32)  # the best confidence of each track
        self._sure = np.zeros(0, bool)  # confirmed (and so reported)
        self._looks = np.zeros((0, appearance.SIZE), np.float32)  # zeros: unknown

    def __len__(self) -> int:
        return len(self._ids)

    def _predict(self, lanes: np.ndarray, times: np.ndarray) -> None:
        """Moves the tracks (all of ``lanes``: see `_only`) on to their lane's time."""
        last = self._last_t[lanes]
        step = np.where(np.isnan(last), 0.0, times - last)  # a lane's first update: none
        self._last_t[lanes] = np.fmax(last, times)
        if len(lanes) == 1:
            dt = float(step[0])
        else:
            by_lane = np.zeros(self.lanes)
            by_lane[lanes] = step
            dt = by_lane[self._lane]
        # A lost track keeps its course but not its growth (ByteTrack zeroes h velocity).
        self._mean[~self._active, 7] = 0.0
        self._mean, self._cov = kalman.predict(self._mean, self._cov, dt)

    def _confirmed(self) -> np.ndarray:
        return self._sure

    def _threshold_rows(self, class_id: np.ndarray) -> np.ndarray:
        """Rows of ``self._high`` for these class ids (out-of-range ids take the nearest).
        np.clip's wrappers cost more than the clipping on a few boxes."""
        return np.minimum(np.maximum(class_id, 0), len(self._high) - 1)

    def _score(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The median of each track's recent confidences (NaN: not seen yet). Sorted by
        hand: np.nanmedian goes through masked arrays, 20x slower on small ones."""
        scores = self._scores if rows is None else self._scores[rows]
        if not len(scores):
            return np.zeros(0, np.float32)
        ordered = np.sort(scores, axis=1)  # NaN sorts last
        seen = np.maximum((~np.isnan(scores)).sum(axis=1), 1)
        pick = np.arange(len(scores))
        low, high = ordered[pick, (seen - 1) // 2], ordered[pick, seen // 2]
        return (low + high) / 2

    def update(
        self,
        detections: Detections | None,
        timestamp: float,
        *,
        observed: np.ndarray | None = None,
        image: np.ndarray | None = None,
        lane: int = 0,
    ) -> Detections:
        """``detections`` of the whole frame, or (``observed``: xyxy regions) of those parts
        of it only; None for a frame the detector skipped. A track followed until now and
        not looked at (skipped, or outside the regions) is not aged: it is reported where
        it is predicted to be, as nothing contradicts it. ``image``: the BGR frame, for
        appearance (without it, position alone). ``lane``: its camera, in a tracker of
        several."""
        aside = self._only(np.array([lane]))
        try:
            self._predict(np.array([lane]), np.array([timestamp], np.float64))
            if detections is None:
                return self._predicted_output(timestamp)
            return self._associate(detections, timestamp, lane, None, observed, image)[0]
        finally:
            self._restore(aside)

    def update_lanes(self, frames: Sequence[tuple[int, Detections, float]]) -> list[Detections]:
        """One frame each of several lanes, as (lane, detections, timestamp): each one's
        tracked detections, in order, as `update` on each would give them, by position
        only (no image, no observed regions)."""
        if not frames:
            return []
        lanes = np.array([lane for lane, _, _ in frames], np.int64)
        if len(np.unique(lanes)) != len(lanes):
            raise ValueError("update_lanes takes one frame a lane: split the rest into rounds")
        times = np.array([timestamp for _, _, timestamp in frames], np.float64)
        parts = [detections for _, detections, _ in frames]
        aside = self._only(lanes)
        try:
            self._predict(lanes, times)
            clock = np.zeros(self.lanes)  # each lane's time now
            clock[lanes] = times
            lane_of = np.repeat(lanes, [len(part) for part in parts])
            out, out_lanes = self._associate(_concat(*parts), clock, None, lane_of)
        finally:
            self._restore(aside)
        return [out[_indices(out_lanes == lane)] for lane in lanes]

    def _only(self, lanes: np.ndarray) -> dict[str, np.ndarray] | None:
        """Sets the tracks of the other lanes aside, for `_restore` to put back: an update
        sees only its own lanes' tracks."""
        if self.lanes == 1:
            return None
        mine = np.isin(self._lane, lanes)
        if mine.all():
            return None
        aside = {name: getattr(self, name)[~mine] for name in _COLUMNS}
        self._select(mine)
        return aside

    def _restore(self, aside: dict[str, np.ndarray] | None) -> None:
        if aside is not None:
            for name in _COLUMNS:
                setattr(self, name, np.concatenate([getattr(self, name), aside[name]]))

    def _associate(
        self,
        detections: Detections,
        clock: float | np.ndarray,
        lane: int | None,
        lane_of: np.ndarray | None = None,
        observed: np.ndarray | None = None,
        image: np.ndarray | None = None,
    ) -> tuple[Detections, np.ndarray]:
        """The update after the prediction: matches, corrects, starts, reports. ``clock``:
        the time now and ``lane`` the one lane updated, or (several lanes) each lane's
        time and ``lane_of`` each detection's lane. Returns the report and the lane of
        each of its rows."""
        cfg = self.config
        conf = detections.confidence
        now = self._now(clock)  # each track's time (one number for one lane)
        seen_at = clock if lane_of is None else clock[lane_of]  # each detection's
        predicted = kalman.cxcyah_to_xyxy(self._mean[:, :4])
        n_tracks = len(self._ids)
        unseen = np.zeros(n_tracks, bool)
        if observed is not None:
            unseen = self._active & ~centres_inside(predicted, observed)
        looks = None
        if cfg.appearance and image is not None and len(detections):
            looks = appearance.LazyLooks(image, detections.xyxy, cfg.look_max_covered)
        # Pairs (track, detection) per stage; a stage with nobody on one side adds none.
        matched_t: list[np.ndarray] = [np.zeros(0, np.int64)]
        matched_d: list[np.ndarray] = [np.zeros(0, np.int64)]

        classes = self._threshold_rows(detections.class_id)
        is_high = conf >= self._high[classes]
        high = _indices(is_high)
        # Confirmed objects choose first, new tracks take what is left: a duplicate box
        # beside a person starts a track that must not take the person over. Predictions
        # of tracks lost long ago say little: those are only found again by their looks.
        recent = now - self._last_seen <= cfg.lost_timeout_s
        # Grown once here, for every stage that compares them (`buffered_iou`).
        track_boxes = _buffered(predicted, cfg.match_buffer)
        det_boxes = _buffered(detections.xyxy, cfg.match_buffer)
        open_high = high
        for group in (recent & self._sure, recent & ~self._sure):
            candidates = _indices(group)
            if not len(candidates) or not len(open_high):
                continue
            score = self._apart(
                iou_matrix(track_boxes[candidates], det_boxes[open_high]),
                candidates, open_high, lane_of,
            )  # fmt: skip
            threshold = cfg.match_iou
            if looks is not None:
                score, threshold = self._with_looks(score, candidates, looks, open_high), 1.0
            rows, cols = greedy_match(score, threshold)
            matched_t.append(candidates[rows])
            matched_d.append(open_high[cols])
            open_high = _without(open_high, cols)
        if looks is not None and len(open_high):
            # Colours kept a track off a box because a rival looked more like it; the
            # rival has taken another box since: among what is left, position decides.
            # (One person passing in front of another: the box of the one behind shows
            # the one in front.)
            unmatched = np.ones(n_tracks, bool)
            unmatched[np.concatenate(matched_t)] = False
            candidates = _indices(unmatched & recent & self._active)
            score = iou_matrix(track_boxes[candidates], det_boxes[open_high])
            rows, cols = greedy_match(score, cfg.match_iou)
            matched_t.append(candidates[rows])
            matched_d.append(open_high[cols])
            open_high = _without(open_high, cols)
        rows = np.concatenate(matched_t)

        free = np.ones(n_tracks, bool)
        free[rows] = False
        second = _indices(free & self._active)
        low = _indices((conf >= cfg.low_confidence) & ~is_high)
        if len(second) and len(low):
            score = iou_matrix(predicted[second], detections.xyxy[low])
            rows, cols = greedy_match(self._apart(score, second, low, lane_of), cfg.low_match_iou)
            matched_t.append(second[rows])
            matched_d.append(low[cols])
            free[second[rows]] = False

        taken = np.zeros(len(conf), bool)
        taken[np.concatenate(matched_d)] = True
        left_over = high[~taken[high]]
        if looks is not None:
            rows, cols = self._refind(free, left_over, detections, looks, clock, image)
            matched_t.append(rows)
            matched_d.append(left_over[cols])
            taken[left_over[cols]] = True
            left_over = high[~taken[high]]

        tracks = np.concatenate(matched_t)
        dets = np.concatenate(matched_d)
        # As ByteTrack: a new track needs a little more than a match does. And a box
        # mostly inside one that an object just took is a part of it (the upper body
        # beside the whole person), not a second object.
        start_at = self._high[classes[left_over]] + cfg.start_margin
        left_over = left_over[conf[left_over] >= np.minimum(start_at, 1.0)]
        lanes = None if lane_of is None else (lane_of[left_over], lane_of[dets])
        inside = _covered(detections.xyxy[left_over], detections.xyxy[dets], lanes)
        left_over = left_over[inside < cfg.start_max_covered]
        self._correct(tracks, detections, dets, _at(seen_at, dets), looks)
        new_lanes = np.full(len(left_over), lane) if lane_of is None else lane_of[left_over]
        new = self._start(detections, left_over, _at(seen_at, left_over), new_lanes, looks)
        self._confirm()
        now = self._now(clock)  # the new tracks' too

        matched = np.zeros(len(self._ids), bool)
        matched[tracks] = True
        matched[new] = True
        carried = np.zeros(len(self._ids), bool)
        carried[:n_tracks] = unseen
        carried &= ~matched
        self._last_seen[carried] = _at(now, carried)
        self._active = matched | carried
        # Unconfirmed tracks that missed a detection are blips; lost ones are kept a while.
        keep = self._active | self._still_kept(now)
        out_tracks = _indices(matched & self._confirmed())
        det_of_track = np.full(len(self._ids), -1, np.int64)
        det_of_track[tracks] = dets
        det_of_track[new] = left_over
        shown = det_of_track[out_tracks]
        out = self._report(
            out_tracks, detections.xyxy[shown], conf[shown], now, detections.class_names,
            {key: column[shown] for key, column in detections.data.items()},
        )  # fmt: skip
        out_lanes = self._lane[out_tracks]
        if carried.any():
            out = _concat(out, self._rows(_indices(carried & self._confirmed()), clock))
        self._select(keep)
        return out, out_lanes

    def _now(self, clock: float | np.ndarray) -> float | np.ndarray:
        """Each track's time now: the one time of a one-lane update, or its lane's."""
        return clock if np.ndim(clock) == 0 else clock[self._lane]

    def _apart(
        self, score: np.ndarray, tracks: np.ndarray, dets: np.ndarray, lane_of: np.ndarray | None
    ) -> np.ndarray:
        """Match scores with the pairs of different lanes (cameras) at 0."""
        if lane_of is None:
            return score
        return np.where(self._lane[tracks][:, None] == lane_of[dets][None, :], score, 0.0)

    def _with_looks(
        self, iou: np.ndarray, tracks: np.ndarray, looks: appearance.LazyLooks, boxes: np.ndarray
    ) -> np.ndarray:
        """Match scores with appearance, 1 and above for the pairs that may match (the
        IoU threshold is applied to the IoU alone). Where a track could take several
        boxes, or a box several tracks (people side by side), a pair whose colours differ
        does not match when a rival looks more alike, and of the rest the more alike wins.
        A pair with no better-looking rival matches by position: a person half hidden by
        another looks different for a moment but is still there."""
        candidate = iou >= self.config.match_iou
        # Colours are looked at only where there is a choice to make.
        rivalry = (candidate.sum(axis=1, keepdims=True) > 1) | (candidate.sum(axis=0) > 1)
        contested = _indices((candidate & rivalry).any(axis=0))
        similarity = np.zeros(iou.shape, np.float32)
        known = np.zeros(iou.shape, bool)
        if len(contested):
            seen = looks[boxes[contested]]
            similarity[:, contested] = self._looks[tracks] @ seen.T
            known[:, contested] = self._looks[tracks].any(axis=1)[:, None] & seen.any(axis=1)
        alike = np.where(candidate & known, similarity, -1.0)
        # A rival looks more like this track (or this box): then colours decide.
        outdone = (alike < alike.max(axis=1, keepdims=True, initial=-1.0)) | (
            alike < alike.max(axis=0, keepdims=True, initial=-1.0)
        )
        vetoed = known & outdone & (similarity < self.config.min_similarity)
        weighted = np.where(known, iou * (0.5 + 0.5 * similarity), iou)
        return np.where(candidate & ~vetoed, 1.0 + weighted, 0.0)

    def _refind(
        self,
        free: np.ndarray,
        dets: np.ndarray,
        detections: Detections,
        looks: appearance.LazyLooks,
        timestamp: float,
        image: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Confirmed lost tracks (not followed at the last update) against the detections
        nobody took: alike enough, and near enough to where the track was last seen for
        the time it was gone (``refind_speed`` box heights a second, half a height at
        least). Its course only tells whether it walked out of the picture: over seconds
        a velocity estimated from jittery boxes goes anywhere."""
        lost = _indices(free & ~self._active & self._sure & self._looks.any(axis=1))
        if not len(lost) or not len(dets):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        height, width = image.shape[:2]
        last = self._xyxy[lost].astype(np.float64)
        course = self._mean[lost, :2]  # the Kalman prediction, moved on to now
        gone = timestamp - self._last_seen[lost]
        # Whoever was last seen at the picture's edge heading out, or whose course has
        # left the picture, walked out: coming back later is a new visit.
        out = _walked_out(last, self._mean[lost, 4:6], width, height) | ~(
            (course[:, 0] >= 0) & (course[:, 0] < width)
            & (course[:, 1] >= 0) & (course[:, 1] < height)
        )  # fmt: skip
        window = np.where(out, self.config.lost_timeout_s, self.config.refind_s)
        keep = gone <= window
        lost, last, course, gone = lost[keep], last[keep], course[keep], gone[keep]
        boxes = detections.xyxy[dets].astype(np.float64)
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        seen_at = (last[:, :2] + last[:, 2:]) / 2
        tall = np.maximum(last[:, 3] - last[:, 1], 1.0)
        reach = tall * (0.5 + self.config.refind_speed * gone)
        distance = np.linalg.norm(seen_at[:, None, :] - centres[None, :, :], axis=2)
        ratio = (boxes[:, 3] - boxes[:, 1])[None, :] / tall[:, None]
        near = (distance <= reach[:, None]) & (ratio > 0.67) & (ratio < 1.5)
        score = np.zeros(near.shape)
        candidates = _indices(near.any(axis=0))
        if len(candidates):
            score[:, candidates] = np.where(
                near[:, candidates], self._looks[lost] @ looks[dets[candidates]].T, 0.0
            )
        rows, cols = greedy_match(score, self.config.refind_similarity)
        return lost[rows], cols

    def _confirm(self) -> None:
        unsure = _indices(~self._sure & (self._hits >= self.config.min_hits))
        if len(unsure):
            threshold = self._high[self._threshold_rows(self._label[unsure])]
            self._sure[unsure[self._score(unsure) >= threshold]] = True

    def moving_boxes(self, min_speed: float, lane: int = 0) -> np.ndarray:
        """Predicted xyxy boxes of the tracks followed now that move faster than
        ``min_speed`` pixels a second (motion gating looks around them), of ``lane``."""
        speed = np.hypot(self._mean[:, 4], self._mean[:, 5])
        moving = self._active & self._confirmed() & (speed > min_speed) & (self._lane == lane)
        return kalman.cxcyah_to_xyxy(self._mean[moving, :4])

    def _correct(
        self,
        tracks: np.ndarray,
        detections: Detections,
        dets: np.ndarray,
        timestamp: float | np.ndarray,
        looks: appearance.LazyLooks | None,
    ) -> None:
        """``timestamp``: when the detections were seen (one time, or one a pair)."""
        if not len(tracks):
            return
        boxes = detections.xyxy[dets]
        conf = detections.confidence[dets]
        self._mean[tracks], self._cov[tracks] = kalman.update(
            self._mean[tracks], self._cov[tracks], kalman.xyxy_to_cxcyah(boxes)
        )
        self._xyxy[tracks] = boxes
        self._conf[tracks] = conf
        self._hits[tracks] += 1
        self._last_seen[tracks] = timestamp
        self._scores[tracks] = _pushed(self._scores[tracks], conf)
        self._best[tracks] = np.maximum(self._best[tracks], conf)
        if looks is not None:
            # Only confident views teach a track its colours: a half-hidden person's box
            # holds the post in front of them.
            # Every LOOK_EVERY-th confident view (or the first) refreshes them.
            classes = self._threshold_rows(detections.class_id[dets])
            sure = conf >= self._high[classes]
            due = ~self._looks[tracks].any(axis=1) | (self._hits[tracks] % LOOK_EVERY == 0)
            sure &= due & looks.clear[dets]
            rows, new = tracks[sure], looks[dets[sure]]
            known = self._looks[rows].any(axis=1, keepdims=True)
            blended = np.where(known, 0.9 * self._looks[rows] + 0.1 * new, new)
            norm = np.maximum(np.linalg.norm(blended, axis=1, keepdims=True), 1e-6)
            self._looks[rows] = blended / norm
        classes = detections.class_id[dets]
        valid = (classes >= 0) & (classes < self._votes.shape[1])
        # Each track is matched once: a plain fancy-index add (np.add.at is for repeats).
        self._votes[tracks[valid], classes[valid]] += conf[valid]
        best = self._votes[tracks].argmax(axis=1)
        current = self._votes[tracks, self._label[tracks]]
        switch = self._votes[tracks, best] > current  # ties keep the label
        self._label[tracks[switch]] = best[switch]

    def _start(
        self,
        detections: Detections,
        dets: np.ndarray,
        seen_at: float | np.ndarray,
        lanes: np.ndarray,
        looks: appearance.LazyLooks | None,
    ) -> np.ndarray:
        """Appends a track per detection; returns their indices. ``seen_at``: when each
        was seen (or one time for all), ``lanes``: each one's lane."""
        n = len(dets)
        first = len(self._ids)
        if not n:
            return np.arange(first, first)
        # Each lane numbers its own tracks; a lane's detections lie together, in order.
        starts = np.r_[True, lanes[1:] != lanes[:-1]]
        rank = np.arange(n) - np.maximum.accumulate(np.where(starts, np.arange(n), 0))
        ids = self._next_id[lanes] + rank
        self._next_id += np.bincount(lanes, minlength=self.lanes)
        when = np.broadcast_to(seen_at, n).astype(np.float64)
        boxes = detections.xyxy[dets]
        mean, cov = kalman.initiate(kalman.xyxy_to_cxcyah(boxes))
        classes = detections.class_id[dets]
        votes = np.zeros((n, self._votes.shape[1]), np.float32)
        valid = (classes >= 0) & (classes < votes.shape[1])
        votes[_indices(valid), classes[valid]] = detections.confidence[dets][valid]
        self._ids = np.concatenate([self._ids, ids])
        self._lane = np.concatenate([self._lane, lanes])
        self._mean = np.concatenate([self._mean, mean])
        self._cov = np.concatenate([self._cov, cov])
        self._xyxy = np.concatenate([self._xyxy, boxes])
        self._conf = np.concatenate([self._conf, detections.confidence[dets]])
        self._votes = np.concatenate([self._votes, votes])
        self._label = np.concatenate([self._label, classes])
        self._first_seen = np.concatenate([self._first_seen, when])
        self._last_seen = np.concatenate([self._last_seen, when])
        self._hits = np.concatenate([self._hits, np.ones(n, np.int64)])
        self._active = np.concatenate([self._active, np.zeros(n, bool)])
        scores = np.full((n, SCORE_HISTORY), np.nan, np.float32)
        scores[:, 0] = detections.confidence[dets]
        self._scores = np.concatenate([self._scores, scores])
        self._best = np.concatenate([self._best, detections.confidence[dets]])
        self._sure = np.concatenate([self._sure, np.zeros(n, bool)])
        new_looks = np.zeros((n, appearance.SIZE), np.float32)
        if looks is not None:  # a box half under another starts with colours unknown
            clear = looks.clear[dets]
            new_looks[clear] = looks[dets[clear]]
        self._looks = np.concatenate([self._looks, new_looks.astype(np.float32)])
        return np.arange(first, first + n)

    def _select(self, keep: np.ndarray) -> None:
        if keep.all():  # the usual frame: nobody dropped, nothing to copy
            return
        for name in _COLUMNS:
            setattr(self, name, getattr(self, name)[keep])

    def _still_kept(self, timestamp: float) -> np.ndarray:
        """Lost confirmed tracks kept: for ``lost_timeout_s`` to be matched again by
        position, and, when their looks are known, for ``refind_s`` to be found again."""
        cfg = self.config
        gone = timestamp - self._last_seen
        refind = cfg.appearance & self._looks.any(axis=1) & (gone <= cfg.refind_s)
        return self._confirmed() & ((gone <= cfg.lost_timeout_s) | refind)

    def _predicted_output(self, timestamp: float) -> Detections:
        # A skipped frame says nothing against the tracks followed: they do not age.
        self._last_seen[self._active] = timestamp
        self._select(self._active | self._still_kept(timestamp))
        return self._rows(_indices(self._active & self._confirmed()), timestamp)

    def _rows(self, show: np.ndarray, timestamp: float) -> Detections:
        """Tracks ``show`` at their predicted boxes."""
        xyxy = kalman.cxcyah_to_xyxy(self._mean[show, :4])
        return self._report(show, xyxy, self._conf[show], timestamp, self.class_names)

    def _report(
        self,
        tracks: np.ndarray,
        xyxy: np.ndarray,
        confidence: np.ndarray,
        now: float | np.ndarray,
        class_names: Mapping[int, str],
        data: dict[str, np.ndarray] | None = None,
    ) -> Detections:
        """Rows for ``tracks`` at these boxes: each one's label and ID, and beside
        ``data`` the tracker's columns (``now``: the time, or each track's)."""
        return Detections(
            xyxy=xyxy,
            confidence=confidence,
            class_id=self._label[tracks],
            tracker_id=self._ids[tracks],
            class_names=class_names,
            data={
                **(data or {}),
                "seen_s": _at(now, tracks) - self._first_seen[tracks],
                "score": self._score(tracks),
                "top_score": self._best[tracks],
            },
        )


def _pushed(history: np.ndarray, latest: np.ndarray) -> np.ndarray:
    """Each row of ``history`` moved one place on, the oldest dropped, ``latest`` first
    (np.roll and an assignment, in one copy)."""
    out = np.empty_like(history)
    out[:, 1:] = history[:, :-1]
    out[:, 0] = latest
    return out


def _covered(
    boxes: np.ndarray, others: np.ndarray, lanes: tuple[np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """(N,) the largest share of each box's area that one of ``others`` covers (of the
    same lane, where ``lanes`` gives both sides' lanes)."""
    if not len(boxes) or not len(others):
        return np.zeros(len(boxes))
    share = covered_share(boxes, others)
    if lanes is not None:
        share = np.where(lanes[0][:, None] == lanes[1][None, :], share, 0.0)
    return share.max(axis=1)


def _walked_out(
    xyxy: np.ndarray, velocity: np.ndarray, width: int, height: int, share: float = 0.02
) -> np.ndarray:
    """(N,) bool: the box touches a border of the picture (within ``share`` of its size)
    and was moving across it, out of view."""
    mx, my = width * share, height * share
    vx, vy = velocity[:, 0], velocity[:, 1]
    return (
        ((xyxy[:, 0] <= mx) & (vx < 0)) | ((xyxy[:, 2] >= width - mx) & (vx > 0))
        | ((xyxy[:, 1] <= my) & (vy < 0)) | ((xyxy[:, 3] >= height - my) & (vy > 0))
    )  # fmt: skip


def _concat(*parts: Detections) -> Detections:
    if len(parts) == 1:
        return parts[0]
    return Detections(
        xyxy=np.concatenate([p.xyxy for p in parts]),
        confidence=np.concatenate([p.confidence for p in parts]),
        class_id=np.concatenate([p.class_id for p in parts]),
        tracker_id=np.concatenate([p.tracker_id for p in parts]),
        class_names=parts[0].class_names,
        data={k: np.concatenate([p.data[k] for p in parts]) for k in parts[0].data},
    )


def _at(times: float | np.ndarray, rows: np.ndarray) -> float | np.ndarray:
    """``times`` at ``rows``: one time stays one time."""
    return times if np.ndim(times) == 0 else times[rows]
