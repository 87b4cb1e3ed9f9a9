"""The application's exceptions, all ``SqueezekitError``s (the base lives in ``converters.errors``, below).

Catch ``SqueezekitError`` for any input a user can fix; the subclasses say where it came from. Messages are one
line in library terms; ``param`` names the argument at fault (see ``converters.errors``), which the command-line
tools turn into the flag to change (``squeezekit.cli``). The classes are also importable where they are raised
(``squeezekit.data.DataError``, ``squeezekit.weights.WeightsError``...).
"""

from __future__ import annotations

from converters.errors import (
    CompressionError,
    ConversionError,
    LiteRtError,
    MetadataError,
    ModelFileError,
    ProfileError,
    ProfileFormatError,
    SqueezekitError,
)


class RegistryError(SqueezekitError):
    """A model name or convention the registry does not know, or a variants file it cannot register."""


class InputSizeError(SqueezekitError):
    """An input too small (or not static) for a model."""


class DataError(SqueezekitError):
    """Data that cannot be loaded as asked: a missing or empty folder, an unknown dataset, a bad split."""


class RunError(SqueezekitError):
    """A training run that cannot start or resume as asked."""


class WeightsError(SqueezekitError):
    """A weights file that cannot be read or does not fit the model."""


class ExportError(SqueezekitError):
    """Bad input to an export: a run, weights, data or output folder that does not fit."""


__all__ = ["CompressionError", "ConversionError", "DataError", "ExportError", "InputSizeError", "LiteRtError",
           "MetadataError", "ModelFileError", "ProfileError", "ProfileFormatError", "RegistryError", "RunError",
           "SqueezekitError", "WeightsError"]
