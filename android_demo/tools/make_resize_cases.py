"""Regenerate app/src/test/resources/pillow_resize_cases.txt: Pillow's BILINEAR resize of small random RGB
images, the reference of PillowResizeTest (run with the Pillow the Python project pins).

    .venv/bin/python android_demo/tools/make_resize_cases.py

Format, one case per line: ``w h out_w out_h <w*h input pixels> <out_w*out_h output pixels>``, pixels as
6-digit hex RRGGBB, separated by single spaces. Lines starting with # are comments.
"""

from __future__ import annotations

import os

import numpy as np
import PIL
from PIL import Image

OUT = os.path.join(os.path.dirname(__file__), "..", "app", "src", "test", "resources", "pillow_resize_cases.txt")


def main() -> None:
    rng = np.random.default_rng(2026)
    shapes = [(2, 2, 4, 4), (4, 4, 2, 2), (3, 1, 7, 1), (1, 5, 1, 2), (7, 3, 7, 5), (9, 4, 2, 4), (40, 3, 5, 3),
              (3, 40, 3, 6), (5, 5, 5, 5), (1, 1, 3, 2), (33, 2, 32, 2), (6, 6, 13, 11),
              # Pillow 13 pass order (vertical first iff oh < h and h - oh > 2 * (w - ow)), both sides of it:
              (10, 55, 1, 27), (9, 41, 1, 27), (10, 15, 5, 4), (10, 15, 5, 5), (30, 10, 60, 20), (7, 40, 9, 3),
              (8, 8, 20, 1), (40, 80, 10, 19), (40, 80, 10, 20)]
    for _ in range(24):
        shapes.append(tuple(int(v) for v in rng.integers(1, [30, 12, 24, 12])))
    lines = [f"# Pillow {PIL.__version__} Image.resize(BILINEAR) of random RGB images; see tools/make_resize_cases.py"]
    for w, h, ow, oh in shapes:
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        if len(lines) % 3 == 0:  # some with hard edges: only 0 and 255
            pixels = (pixels > 127).astype(np.uint8) * 255
        out = np.asarray(Image.fromarray(pixels, "RGB").resize((ow, oh), Image.BILINEAR))
        hexes = lambda a: " ".join(f"{r:02x}{g:02x}{b:02x}" for r, g, b in a.reshape(-1, 3))
        lines.append(f"{w} {h} {ow} {oh} {hexes(pixels)} {hexes(out)}")
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{len(lines) - 1} cases -> {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
