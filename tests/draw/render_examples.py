"""Writes PNGs of the overlay on real vtest frames to look at (not a test):

    .venv/bin/python tests/draw/render_examples.py [/tmp/overlay]

Video frames at 576p, scaled up to 1080p and down to 360p, event snapshots and crops."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # draw_scenes, event_scenes

import cv2  # noqa: E402
import draw_scenes  # noqa: E402

from edgewatch.draw.annotate import Annotator  # noqa: E402
from edgewatch.draw.snapshot import annotate_snapshot, crop  # noqa: E402
from edgewatch.paths import SAMPLE_CLIP  # noqa: E402
from edgewatch.types import Frame  # noqa: E402

T = 1_796_130_187.0  # 2026-12-01, mid-afternoon


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for index in draw_scenes.BOXES:
        raw = draw_scenes.read_frame(SAMPLE_CLIP, index)
        for height in (576, 1080, 360):
            scale = height / 576
            image = cv2.resize(raw, (round(768 * scale), height), interpolation=cv2.INTER_AREA)
            annotator = Annotator({"yard": draw_scenes.shapes(scale)})
            frame = Frame("yard", index, T + index / 10, image)
            frame = annotator(frame, draw_scenes.detections(index, scale))
            cv2.imwrite(str(out / f"video_{index}_{height}p.png"), frame.image)
        zones, lines = draw_scenes.shapes()
        people = draw_scenes.detections(index)
        for k, highlight in ((0, "walkway"), (1, "post")):
            box = people.xyxy[k]
            snapshot = annotate_snapshot(
                raw, box=box, text=f"{people.label(k)} {people.confidence[k] * 100:.0f}%",
                class_id=int(people.class_id[k]), camera="yard", timestamp=T + index / 10,
                zones=zones, lines=lines, highlight=highlight,
            )  # fmt: skip
            cv2.imwrite(str(out / f"snapshot_{index}_{highlight}.png"), snapshot)
            cv2.imwrite(str(out / f"crop_{index}_{k}.png"), crop(raw, box))
    print(f"wrote {len(list(out.glob('*.png')))} PNGs to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/overlay"))
