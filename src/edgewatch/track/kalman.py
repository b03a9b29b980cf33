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


def xyxy_to_cxcyah(xyxy: np.ndarray) -> np.ndarray:
    w = xyxy[:, 2] - xyxy[:, 0]
    h = np.maximum(xyxy[:, 3] - xyxy[:, 1], 1e-3)
    return np.stack([xyxy[:, 0] + w / 2, xyxy[:, 1] + h / 2, w / h, h], axis=1)


def cxcyah_to_xyxy(state: np.ndarray) -> np.ndarray:
    w = state[:, 2] * state[:, 3]
    h = state[:, 3]
    return np.stack(
        [state[:, 0] - w / 2, state[:, 1] - h / 2, state[:, 0] + w / 2, state[:, 1] + h / 2],
        axis=1,
    )


def _std(h: np.ndarray, pos: float, aspect: float) -> np.ndarray:
    """(N, 4) standard deviations for (cx, cy, a, h)."""
    return np.stack([pos * h, pos * h, np.full_like(h, aspect), pos * h], axis=1)


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


def predict(mean: np.ndarray, cov: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Moves every track `dt` seconds along its velocity; uncertainty grows with dt."""
    if dt <= 0 or len(mean) == 0:
        return mean, cov
    f = np.eye(8)
    f[np.arange(4), np.arange(4) + 4] = dt
    h = mean[:, 3]
    scale = dt / _REF_DT  # variance of a random walk grows linearly in time
    std = np.hstack([_std(h, _W_POS, 1e-2), _std(h, _W_VEL / _REF_DT, 1e-5 / _REF_DT)])
    mean = mean @ f.T
    cov = f @ cov @ f.T
    idx = np.arange(8)
    cov[:, idx, idx] += std**2 * scale
    return mean, cov


def update(
    mean: np.ndarray, cov: np.ndarray, measurement: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Corrects N tracks with their N matched (cxcyah) detections."""
    if len(mean) == 0:
        return mean, cov
    r = _std(mean[:, 3], _W_POS, 1e-1) ** 2
    s = cov[:, :4, :4].copy()
    idx = np.arange(4)
    s[:, idx, idx] += r
    pht = cov @ _H.T  # (N, 8, 4)
    gain = np.linalg.solve(s, pht.transpose(0, 2, 1)).transpose(0, 2, 1)  # S symmetric
    innovation = measurement - mean[:, :4]
    mean = mean + np.einsum("nij,nj->ni", gain, innovation)
    cov = cov - gain @ s @ gain.transpose(0, 2, 1)
    return mean, cov
