"""Print the model table: ``python -m squeezekit.models [--markdown] [--output FILE] [--pattern 'sqnxt*']``.

params are trainable parameters; MACs count conv and FC multiply-accumulates at 224x224; the byte columns
estimate the inference weights (BatchNorm folded): float32 at 4 bytes, int8 kernels at 1 byte plus int32
biases, quantization parameters excluded.
"""

from __future__ import annotations

import json
import sys

from absl import app, flags

from converters.files import write_atomic

flags.DEFINE_boolean("markdown", False, "Print a Markdown table (as in README.md).")
flags.DEFINE_boolean("json", False, "Print the rows as JSON.")
flags.DEFINE_string("output", None, "Also write the table to this file (atomically).")
flags.DEFINE_string("pattern", None, "Only models whose name matches this shell pattern, e.g. 'sqnxt23*'.")
flags.DEFINE_boolean("all_conventions", False, "One row per convention (official, imgclsmob, caffe...).")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    from squeezekit.models import registry, table

    if FLAGS.pattern and not registry.list_models(FLAGS.pattern):
        sys.exit(f"error: no model matches --pattern={FLAGS.pattern!r}; run without it to see every name.")
    rows = table.table_rows(FLAGS.pattern, FLAGS.all_conventions,
                            progress=lambda s: print(f"building {s}", file=sys.stderr, flush=True))
    if FLAGS.json:
        text = json.dumps(table.to_json_rows(rows), indent=2) + "\n"
    elif FLAGS.markdown:
        text = table.to_markdown(rows)
    else:
        text = table.to_text(rows)
    sys.stdout.write(text)
    if FLAGS.output:
        write_atomic(FLAGS.output, text)
        print(f"wrote {FLAGS.output}", file=sys.stderr)


if __name__ == "__main__":
    app.run(main)
