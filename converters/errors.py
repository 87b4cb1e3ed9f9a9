"""The library's exceptions: one base, ``SqueezekitError``, and a subclass wherever a caller needs to tell them apart.

Every message is one line in the library's own terms: the problem, then the fix (argument names, never
command-line flags). ``param`` names the argument at fault, so that a front end can give its own advice instead
of the library's fix: ``squeezekit.cli`` turns it into the flag to change. ``SqueezekitError`` is a
``ValueError``, so code that catches ``ValueError`` keeps working.

This module imports nothing: ``squeezekit.errors`` re-exports the base and adds the application's subclasses.
"""

from __future__ import annotations


class SqueezekitError(ValueError):
    """Input a user can fix. ``str(err)`` is ``problem; fix`` (or the problem alone).

    ``param``: the argument at fault (``"qat_epochs"``, ``"flavour"``...), for a front end's advice.
    ``suggestion``: a value of it that would work, where there is one.
    """

    def __init__(self, problem: str, fix: str | None = None, *, param: str | None = None, suggestion=None):
        self.problem, self.fix, self.param, self.suggestion = problem, fix, param, suggestion
        super().__init__(f"{problem}; {fix}" if fix else problem)


class ConversionError(SqueezekitError):
    """A model or recipe that cannot become the TFLite file asked for (``converters.tflite``, ``converters.qat``)."""


class MetadataError(SqueezekitError):
    """A .tflite without squeezekit metadata, or metadata that does not fit the model (``converters.metadata``)."""


class CompressionError(SqueezekitError):
    """Bad Deep Compression settings (``converters.compress``)."""


class ModelFileError(SqueezekitError):
    """Bytes that are not a well-formed .tflite: cut, corrupt or not a TFLite model at all (``converters.graph.verify``).
    Refused in Python, before any native reader (the interpreter, the LiteRT C API) sees them."""


class ProfileError(SqueezekitError):
    """A model or target that cannot be profiled (``converters.profiling.run``)."""


class ProfileFormatError(SqueezekitError):
    """A file that is not a ``benchmark_model`` op profile (``converters.profiling.device``)."""


class LiteRtError(SqueezekitError, RuntimeError):
    """The LiteRT runtime refused a model or a call (``converters.profiling.litert_c``): a runtime failure that a
    user still sees as one line."""
