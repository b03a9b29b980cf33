from __future__ import annotations

import numpy as np

from edgewatch.track import kalman


def _textbook_update(mean, cov, measurement):
    """The general Kalman correction (batched solve), which `kalman.update` specialises."""
    hp = cov[:, :4, :]
    s = hp[:, :, :4].copy()
    idx = np.arange(4)
    s[:, idx, idx] += kalman._std(mean[:, 3], kalman._W_POS, 1e-1) ** 2
    gain = np.linalg.solve(s, hp).transpose(0, 2, 1)
    innovation = measurement - mean[:, :4]
    return mean + (gain @ innovation[:, :, None])[:, :, 0], cov - gain @ hp


def test_update_is_the_general_correction_as_the_axes_never_mix():
    rng = np.random.default_rng(0)
    boxes = rng.uniform(20, 400, (12, 4))
    boxes[:, 2] = rng.uniform(0.3, 0.6, 12)
    mean, cov = kalman.initiate(boxes)
    for step in range(40):
        mean, cov = kalman.predict(mean, cov, rng.choice([1 / 30, 0.1, 0.5]))
        measured = mean[:, :4] + rng.normal(0, 3, (12, 4)) * [1, 1, 0.01, 1]
        expected = _textbook_update(mean, cov, measured)
        mean, cov = kalman.update(mean, cov, measured)
        np.testing.assert_allclose(mean, expected[0], rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(cov, expected[1], rtol=1e-12, atol=1e-9)
        # P keeps its shape: zero between different axes.
        same_axis = np.arange(8)[:, None] % 4 == np.arange(8) % 4
        assert not cov[:, ~same_axis].any(), step
