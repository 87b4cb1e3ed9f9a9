"""Image folders in the ``image_dataset_from_directory`` layout: ``root/<class>/<image>``.

Files are checked before training so that a bad file never stops an epoch: non-image extensions and files
whose first bytes are not an image signature are skipped and counted. Content that still fails to decode
(a truncated JPEG, say) is dropped by the pipeline's ``ignore_errors``.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field

from squeezekit.errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")


@dataclass
class FolderListing:
    root: str
    class_names: list[str]
    paths: list[str]
    labels: list[int]
    skipped: dict[str, int] = field(default_factory=dict)


def _looks_like_image(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return False
    return any(head.startswith(sig) for sig in _SIGNATURES)


def scan(root: str, class_names: list[str] | None = None) -> FolderListing:
    """List the images of ``root`` by class folder, skipping (and counting) what is not a readable image."""
    hint = "use digits, mnist5k, or a folder with one subfolder of images per class."
    if not os.path.isdir(root):
        raise DataError(f"data folder not found: {root}", hint, param="data")
    found = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))
    if class_names is None:
        class_names = found
    elif sorted(class_names) != found:
        raise DataError(
            f"{root} has class folders {found}, but the training data has {sorted(class_names)}; "
            "the validation folder needs the same class folders."
        )
    listing = FolderListing(root, list(class_names), [], [], {"not an image": 0, "unreadable": 0})
    for label, name in enumerate(class_names):
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, name), followlinks=True):
            dirnames.sort()
            for filename in sorted(filenames):
                if filename.startswith("."):
                    continue
                path = os.path.join(dirpath, filename)
                if not filename.lower().endswith(IMAGE_EXTENSIONS):
                    listing.skipped["not an image"] += 1
                elif not _looks_like_image(path):
                    listing.skipped["unreadable"] += 1
                else:
                    listing.paths.append(path)
                    listing.labels.append(label)
    if not listing.paths:
        raise DataError(
            f"no images found in {root} (expected {root}/<class>/<image> with extensions "
            f"{', '.join(IMAGE_EXTENSIONS)})", hint, param="data"
        )
    counts = {name: listing.labels.count(i) for i, name in enumerate(class_names)}
    present = [name for name, n in counts.items() if n]
    if len(present) < 2:
        raise DataError(
            f"only one class with images ({present[0]}) in {root}; a classifier needs at least two class folders."
        )
    return listing


def split(listing: FolderListing, val_fraction: float, seed: int):
    """Per-class (stratified) split of a listing into train and validation (paths, labels)."""
    if not 0.0 < val_fraction < 1.0:
        raise DataError(f"val_split must be between 0 and 1, got {val_fraction}",
                        "or pass a separate validation folder.", param="val_split")
    rng = random.Random(seed)
    train, val = ([], []), ([], [])
    for label in range(len(listing.class_names)):
        paths = [p for p, l in zip(listing.paths, listing.labels) if l == label]
        rng.shuffle(paths)
        n_val = int(round(len(paths) * val_fraction)) if len(paths) > 1 else 0
        for target, chunk in ((val, paths[:n_val]), (train, paths[n_val:])):
            target[0].extend(chunk)
            target[1].extend([label] * len(chunk))
    if not val[0]:
        raise DataError(f"the validation split of {listing.root} is empty; add images or pass a validation folder.")
    return train, val
