"""From a registry model or a training run to verified .tflite files: the application side of the export.

``pipeline.prepare`` resolves the model (a registry name or a run folder), its preprocessing, labels and the
images to calibrate and verify with, and builds the tf_keras twin when quantization-aware training or Deep
Compression needs one; ``pipeline.export`` hands the model (or twin) and a recipe to ``converters`` and writes
the files. The CLI is ``python -m squeezekit.export`` (``__main__.py``).
"""

from squeezekit.export.pipeline import ExportError, ExportResult, Source, export, prepare

__all__ = ["ExportError", "ExportResult", "Source", "export", "prepare"]
