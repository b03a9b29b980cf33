"""Constant-velocity Kalman filter on boxes, as in SORT and ByteTrack, over many tracks at once.

State per track: (cx, cy, aspect, h) and their velocities per *second*, so that a gap of
any length (frames the detector skipped, an occlusion) predicts by the time that passed.
Noise grows with the box height (a near, big object moves more pixels) and with the time
step; the weights are ByteTrack's, tuned per frame at 30 fps, rescaled to seconds.
"""

from __future__ import annotations

import numpy as np

_REF_DT = 1.0 / 30.0  # the frame interval ByteTrack's weights were tuned for
_W_POS = 1.0 / 20.0
_W_VEL = 1.0 / 160.0
_H = np.hstack([np.eye(4), np.zeros((4, 4))])  # measures (cx, cy, a, h)
_IDX4 = np.arange(4)
_IDX8 = np.arange(8)
_AXIS = _IDX8 % 4  # the measured quantity (cx, cy, a, h) each state is or moves


def xyxy_to_cxcyah(xyxy: np.ndarray) -> np.ndarray:
    out = np.empty((len(xyxy), 4))
    w = xyxy[:, 2] - xyxy[:, 0]
    h = np.maximum(xyxy[:, 3] - xyxy[:, 1], 1e-3)
    out[:, 0] = xyxy[:, 0] + w / 2
    out[:, 1] = xyxy[:, 1] + h / 2
    out[:, 2] = w / h
    out[:, 3] = h
    return out


def cxcyah_to_xyxy(state: np.ndarray) -> np.ndarray:
    out = np.empty((len(state), 4))
    half_w = state[:, 2] * state[:, 3] / 2
    half_h = state[:, 3] / 2
    out[:, 0] = state[:, 0] - half_w
    out[:, 1] = state[:, 1] - half_h
    out[:, 2] = state[:, 0] + half_w
    out[:, 3] = state[:, 1] + half_h
    return out


def _std(h: np.ndarray, pos: float, aspect: float) -> np.ndarray:
    """(N, 4) standard deviations for (cx, cy, a, h)."""
    out = np.empty((len(h), 4))
    out[:, 0] = out[:, 1] = out[:, 3] = pos * h
    out[:, 2] = aspect
    return out


def initiate(measurement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (N, 8) and covariance (N, 8, 8) of new tracks from (N, 4) cxcyah boxes."""
    n = len(measurement)
    mean = np.hstack([measurement, np.zeros((n, 4))])
    h = measurement[:, 3]
    std = np.hstack([_std(h, 2 * _W_POS, 1e-2), _std(h, 10 * _W_VEL / _REF_DT, 1e-5 / _REF_DT)])
    cov = np.zeros((n, 8, 8))
    idx = np.arange(8)
    cov[:, idx, idx] = std**2
    return mean, cov


def predict(
    mean: np.ndarray, cov: np.ndarray, dt: float | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Moves every track ``dt`` seconds (one number, or one per track: cameras updated
    together) along its velocity; uncertainty grows with dt. A dt of 0 or less leaves a
    track as it is.

    F = [[I, dt I], [0, I]] applied by blocks rather than multiplied: F P adds dt times
    the velocity rows to the position rows, (F P) F^T the same with the columns; the
    same arithmetic for one dt or one per track."""
    n = len(mean)
    if n == 0:
        return mean, cov
    if np.ndim(dt) == 0:
        if dt <= 0:
            return mean, cov
        step = np.float64(dt)
        by_row = by_block = step
    else:
        step = np.maximum(np.asarray(dt, np.float64), 0.0)
        by_row, by_block = step[:, None], step[:, None, None]
    moved = mean.copy()
    moved[:, :4] += by_row * mean[:, 4:]
    rows = cov.reshape(n, 2, 4, 8).copy()  # [track, position/velocity, axis, column]
    rows[:, 0] += by_block * rows[:, 1]
    columns = rows.reshape(n, 8, 2, 4)  # [track, row, position/velocity, axis]
    columns[:, :, 0] += by_block * columns[:, :, 1]
    grown = columns.reshape(n, 8, 8)
    # Process noise on the diagonal (a strided view: every 9th of the 64 entries).
    noise = np.empty((n, 8))
    h = mean[:, 3]
    noise[:, 0] = noise[:, 1] = noise[:, 3] = (_W_POS * h) ** 2
    noise[:, 2] = 1e-2**2
    noise[:, 4] = noise[:, 5] = noise[:, 7] = (_W_VEL / _REF_DT * h) ** 2
    noise[:, 6] = (1e-5 / _REF_DT) ** 2
    scale = by_row / _REF_DT  # variance of a random walk grows linearly in time
    grown.reshape(n, 64)[:, ::9] += noise * scale
    return moved, grown


def update(
    mean: np.ndarray, cov: np.ndarray, measurement: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Corrects N tracks with their N matched (cxcyah) detections.

    The four axes never mix: `initiate` makes P diagonal, and `predict` and this update
    only couple a quantity with its own velocity, so P[i, j] is zero unless i and j are
    the same axis (i % 4 == j % 4). S = H P H^T + R is then diagonal and the gain of
    state i is P[i, axis] / S[axis], with axis = i % 4: the textbook
    K = P H^T S^-1, P - K H P without a batched solve and matrix products over zeros."""
    if len(mean) == 0:
        return mean, cov
    s = cov[:, _IDX4, _IDX4] + _std(mean[:, 3], _W_POS, 1e-1) ** 2  # (N, 4), S's diagonal
    # Times the reciprocal, as LAPACK's solve of a diagonal system does: the same bits.
    gain = cov[:, _AXIS, _IDX8] * (1.0 / s)[:, _AXIS]  # (N, 8)
    innovation = measurement - mean[:, :4]
    mean = mean + gain * innovation[:, _AXIS]
    cov = cov - gain[:, :, None] * cov[:, _AXIS, :]
    return mean, cov
