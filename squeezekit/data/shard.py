"""Write an image folder as TFRecord shards: ``python -m squeezekit.data.shard FOLDER OUT --shards N``.

FOLDER has one subfolder of images per class (as ``--data FOLDER`` reads it). OUT gets
``PREFIX-00000-of-0000N.tfrecord`` ... (PREFIX ``train`` unless ``--prefix`` says otherwise), ``labels.txt`` (the
class names, line i = label i) and ``shards.json`` (records, bytes and per-class counts of each shard; what was
skipped). Each record is a ``tf.train.Example`` in the ImageNet layout: ``image/encoded`` (the file's own bytes,
not re-encoded), ``image/format``, ``image/class/label`` (0-based, classes in sorted folder order),
``image/class/text``, ``image/filename`` (relative to FOLDER), ``image/height`` and ``image/width``.

Images are assigned to shards in a seeded random order (every shard holds every class). Files the folder pipeline
would skip (not an image, unreadable, undecodable) are skipped and counted. Every file is written under a temporary
name and renamed; a second prefix (``--prefix validation`` from a validation folder with the same classes) can
share OUT. Then ``python -m squeezekit.train --data 'tfrecord:OUT/train-*'``.
"""

from __future__ import annotations

from squeezekit import cli  # first: sets TensorFlow's log level

import os

from absl import flags

from squeezekit.data import records

flags.DEFINE_integer("shards", 4, "Number of shard files (at least the number of training workers, for sharding "
                     "by file under --strategy multi_worker).")
flags.DEFINE_string("prefix", "train", "Shard file name prefix: PREFIX-00000-of-0000N.tfrecord.")
flags.DEFINE_integer("seed", 0, "Seed of the order of the images across the shards.")
FLAGS = flags.FLAGS

ADVICE = {
    "data": "give an image folder with one subfolder of images per class, then the output folder.",
    "shards": "pass --shards N with N between 1 and the number of images.",
    "prefix": "pass --prefix NAME (letters, digits, - and _).",
}


def main(argv):
    if len(argv) != 3:
        cli.fail("give an image folder and an output folder: python -m squeezekit.data.shard FOLDER OUT --shards N")
    records.write_shards(argv[1], argv[2], FLAGS.shards, FLAGS.prefix, FLAGS.seed)
    print(f"train with --data 'tfrecord:{os.path.join(argv[2], FLAGS.prefix)}-*'")


if __name__ == "__main__":
    cli.run(main, positional=True, advice=ADVICE)
