"""Accuracy targets on the real footage, checked in CI: the int8 detector against fp32,
and motion gating against detecting every frame."""

import pytest

from edgewatch.bench.accuracy import gating_against_every_frame, int8_against_fp32


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_int8_keeps_95_percent_of_fp32_detections_and_adds_few():
    figures = int8_against_fp32(every=4)
    assert figures["kept_share"] >= 0.95, figures
    assert figures["added_share"] <= 0.05, figures


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_motion_gating_keeps_95_percent_of_the_people_on_the_footage():
    figures = gating_against_every_frame()
    assert figures["frames"] == 795
    assert figures["kept_share"] >= 0.95, figures
