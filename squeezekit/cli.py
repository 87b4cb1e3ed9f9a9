"""The one wrapper of the command-line tools: every ``python -m squeezekit...`` runs its ``main`` through ``run``.

It owns what the tools share: TensorFlow's C++ log level (set when this module is imported, so import it before
anything that loads TensorFlow), absl's log verbosity, the refusal of stray arguments, and the error line. A
``SqueezekitError`` (input a user can fix) becomes one line on stderr, ``error: ...``, and exit status 1; when the
error names the argument at fault (``param``) and the tool's ``advice`` table has it, the library's fix is
replaced by the flag to change. Any other exception is a bug and keeps its traceback.

    ADVICE = {"qat_epochs": "pass --weights (and --data), or --qat_epochs 0 for post-training calibration."}
    if __name__ == "__main__":
        cli.run(main, advice=ADVICE)
"""

from __future__ import annotations

import os
import sys
from typing import Callable, Mapping, NoReturn, Union

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: no CUDA probing noise

from converters.errors import SqueezekitError

# param -> the fix in flag terms: a string, or a function of the error (for advice that needs err.suggestion).
Advice = Mapping[str, Union[str, Callable[[SqueezekitError], str]]]

# The flags that mean the same in every tool that has them.
COMMON: Advice = {
    "model": "python -m squeezekit.models lists every name.",
    "data": "pass --data digits, --data mnist5k, or a folder with one subfolder of images per class.",
}


def one_of(choices, prefix: str = "") -> str:
    """``"--a, --b or --c"`` from ``("a", "b", "c")`` and ``prefix="--"``: a table of choices in a message."""
    names = [f"{prefix}{c}" for c in choices]
    return " or ".join(filter(None, (", ".join(names[:-1]), names[-1]))) if names else ""


def error(message: str) -> None:
    """Print ``error: message`` on stderr (for a tool that carries on, e.g. with the next file)."""
    print(f"error: {message}", file=sys.stderr, flush=True)


def fail(message: str) -> NoReturn:
    """Print ``error: message`` on stderr and exit with status 1."""
    error(message)
    sys.exit(1)


def explain(err: SqueezekitError, advice: Advice | None = None) -> str:
    """``err`` as one line: its problem, then the tool's advice for ``err.param`` (or else the library's fix)."""
    hint = {**COMMON, **(advice or {})}.get(err.param) if err.param else None
    if callable(hint):
        hint = hint(err)
    text = f"{err.problem.rstrip('.')}; {hint}" if hint else str(err)
    return text.splitlines()[0] if text else type(err).__name__


def run(main: Callable[[list[str]], object], *, advice: Advice | None = None, positional: bool = False) -> None:
    """``absl.app.run(main)`` with the shared checks; ``positional``: the tool takes arguments after the flags."""
    from absl import app, flags, logging

    def checked(argv):
        if not positional and len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
        if not flags.FLAGS["verbosity"].present:
            logging.set_verbosity(logging.WARNING)  # Keras' SavedModel export logs every signature at INFO
        try:
            return main(argv)
        except SqueezekitError as err:
            fail(explain(err, advice))

    app.run(checked)
