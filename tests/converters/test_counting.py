"""MACs and weights from shapes, the one arithmetic every counter uses."""

import ast
import pathlib

from converters import counting


def test_layers_by_hand():
    assert counting.conv_macs((10, 12), (3, 3), 4, 8) == 10 * 12 * 3 * 3 * 4 * 8
    assert counting.conv_macs(24, (3, 1), 8, 8, groups=2) == 24 * 3 * 1 * 4 * 8
    assert counting.depthwise_macs((4, 6), (3, 3), 8, multiplier=2) == 4 * 6 * 3 * 3 * 8 * 2
    assert counting.dense_macs(16, 5) == 80 and counting.dense_macs(16, 5, rows=3) == 240
    assert counting.conv_weights((3, 3), 4, 8) == 288 + 8
    assert counting.conv_weights((3, 1), 8, 8, groups=2, bias=False) == 96
    assert counting.dense_weights(16, 5, bias=False) == 80 and counting.dense_weights(16, 5) == 85
    assert counting.batchnorm_weights(8) == (16, 32)


def test_standard_library_only():
    tree = ast.parse(pathlib.Path(counting.__file__).read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0}
    assert imported <= {"__future__", "math", "typing"}
