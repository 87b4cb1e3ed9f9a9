"""The ImageNet-1k (ILSVRC-2012) classes, in the standard output order of every ImageNet classifier.

``imagenet_synsets.txt`` is Caffe's ``synset_words.txt`` format: one ``wnid lemma, lemma, ...`` line per class,
sorted by WordNet id (class 0 is n01440764 "tench"). The lemmas are WordNet's, as timm ships them
(``timm/data/_info/imagenet_synset_to_lemma.txt``, Apache-2.0).
"""

from __future__ import annotations

import functools
import os

SYNSETS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "imagenet_synsets.txt")
NUM_CLASSES = 1000


@functools.lru_cache(maxsize=1)
def synsets() -> tuple[tuple[str, str], ...]:
    """``(wnid, "lemma, lemma, ...")`` for the 1000 classes, in output order."""
    with open(SYNSETS_FILE, encoding="utf-8") as f:
        rows = tuple(tuple(line.rstrip("\n").split(" ", 1)) for line in f if line.strip())
    assert len(rows) == NUM_CLASSES, f"{SYNSETS_FILE} has {len(rows)} classes, not {NUM_CLASSES}"
    return rows


def class_names() -> list[str]:
    """Readable names for the 1000 outputs: each synset's first lemma ("tench", "goldfish", ...).

    Two pairs of classes share a first lemma, as in every ImageNet label list: "crane" (the bird, 134, and
    the machine, 517) and "maillot" (638, 639). ``synsets()`` keeps them apart by WordNet id.
    """
    return [lemmas.split(",")[0].strip() for _, lemmas in synsets()]
